"""Hostile pack inputs: a decompression-bomb cover and dates past the calendar (issue 10, items 6, 7)."""

from __future__ import annotations

from pathlib import Path

import feedparser
import pytest
import yaml
from click.testing import CliRunner

from voiceguide.cli import main

from .conftest import FIXTURES, error_lines

HOSTILE = FIXTURES / "hostile"
CASES = {
    "bomb-pack.yaml": "cover: bomb-cover.png has too many pixels to decode safely; use an image of at most 3000x3000",
    "date-overflow-pack.yaml": ("start_date: 9999-12-31 leaves no date for the last of 2 episodes "
                                "(dates must end by 9999-12-30)"),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("command", ["check", "build"])
def test_a_hostile_pack_is_refused_in_one_line_before_anything_is_written(tmp_path: Path, name: str,
                                                                           command: str) -> None:
    path = HOSTILE / name
    (line,) = error_lines(path)
    args = ["pack", command, str(path)] + (["-o", str(tmp_path / "out")] if command == "build" else [])
    result = CliRunner().invoke(main, args, env={"VOICEGUIDE_ENGINE": "tone", "VOICEGUIDE_CACHE_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {path}:{line}: {CASES[name]}"]
    assert not (tmp_path / "out").exists()


@pytest.mark.ffmpeg
def test_a_pack_ending_on_the_last_allowed_day_builds(tmp_path: Path) -> None:
    data = yaml.safe_load((HOSTILE / "date-overflow-pack.yaml").read_text())
    data["start_date"] = "9999-12-29"
    (tmp_path / "pack.yaml").write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["pack", "build", str(tmp_path / "pack.yaml"), "-o", str(tmp_path / "out")],
                                env={"VOICEGUIDE_ENGINE": "tone", "VOICEGUIDE_CACHE_DIR": str(tmp_path / "c")})
    assert result.exit_code == 0, result.output
    feed = feedparser.parse((tmp_path / "out" / "feed.xml").read_bytes())
    assert not feed.bozo
    assert sorted(e.published_parsed[:3] for e in feed.entries) == [(9999, 12, 29), (9999, 12, 30)]


def test_a_start_before_1970_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load((HOSTILE / "date-overflow-pack.yaml").read_text())
    data["start_date"] = "1969-12-31"
    (tmp_path / "pack.yaml").write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["pack", "check", str(tmp_path / "pack.yaml")])
    assert result.exit_code == 1 and "1969-12-31 is before 1970" in result.output
