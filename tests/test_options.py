"""Every number option refuses NaN and infinity as a usage error (issue 10, item 10)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from voiceguide.cli import main
from voiceguide.errors import BadOptionError

FLOAT_OPTIONS = [
    (["script", "cat-cow"], "--minutes"),
    (["render", "cat-cow"], "--minutes"),
    (["render", "cat-cow"], "--loudness"),
    (["render", "cat-cow"], "--volume"),
    (["play", "cat-cow", "--no-audio"], "--speed"),
    (["play", "cat-cow", "--no-audio"], "--minutes"),
    (["make", "--focus", "hips"], "--minutes"),
]


@pytest.mark.parametrize("value", ["nan", "NaN", "-nan", "inf", "-inf", "infinity"])
@pytest.mark.parametrize(("command", "option"), FLOAT_OPTIONS)
def test_a_number_option_refuses_nan_and_infinity(tmp_path: Path, command: list[str], option: str,
                                                  value: str) -> None:
    result = CliRunner().invoke(main, [*command, option, value, "-o", str(tmp_path / "x")]
                                if command[0] in ("render", "make") else [*command, option, value],
                                env={"VOICEGUIDE_ENGINE": "tone", "VOICEGUIDE_CACHE_DIR": str(tmp_path)})
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_the_library_refuses_a_nan_loudness() -> None:
    from voiceguide.sound.audio import AudioOptions

    with pytest.raises(BadOptionError, match="--loudness: nan is not a finite number"):
        AudioOptions(loudness_lufs=math.nan)
