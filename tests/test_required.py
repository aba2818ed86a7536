"""Where the real parts are required (CI), a missing one fails its tests; elsewhere it skips them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .required import REQUIRE_VARIABLE, missing, required, sound_backend_missing


@pytest.mark.parametrize(("env", "expected"), [
    ({}, False),
    ({"CI": "true"}, True),
    ({"CI": "True"}, True),
    ({"CI": "1"}, True),
    ({"CI": "false"}, False),
    ({"CI": ""}, False),
    ({REQUIRE_VARIABLE: "1"}, True),
    ({REQUIRE_VARIABLE: "0"}, False),
    ({"CI": "false", REQUIRE_VARIABLE: "1"}, True),
])
def test_ci_or_the_variable_requires_the_real_parts(env: dict[str, str], expected: bool) -> None:
    assert required(env) is expected


def test_a_missing_part_fails_where_required_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(REQUIRE_VARIABLE, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no such player"):
        missing("no such player")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"required .* missing: no such player"):
        missing("no such player")


def test_a_sound_backend_off_the_path_is_missing_and_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "paplay is not installed" in str(sound_backend_missing("paplay"))
    assert "aplay is not installed" in str(sound_backend_missing("aplay"))
    assert ".ci/install-sound" in str(sound_backend_missing("aplay"))
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    assert "sounddevice package is not installed" in str(sound_backend_missing("sounddevice"))
