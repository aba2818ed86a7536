"""What a newcomer reads: counts that count what they name, names where promised, YAML as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from voiceguide.catalog.types import closest
from voiceguide.cli import main
from voiceguide.session.timeline import Timeline
from voiceguide.voice.choose import EngineVoice
from voiceguide.voice.settings import VoiceInfo

from .conftest import CATALOG_DIR, REPO
from .test_pack import SMALL_PACK, build, write_pack


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(cwd / "cache"), "VOICEGUIDE_ENGINE": "tone", **env}
    return subprocess.run([sys.executable, "-m", "voiceguide", *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=300, check=False)


def test_list_shows_each_stretchs_name() -> None:
    out = CliRunner().invoke(main, ["list"])
    assert out.exit_code == 0
    assert re.search(r"^\s+cat-cow\s+Cat-Cow\s+kneeling\s+", out.output, re.M)


@pytest.mark.parametrize("item", ["cat-cow", "desk-break"])
def test_show_prints_the_yaml_a_user_writes(item: str) -> None:
    out = CliRunner().invoke(main, ["show", item])
    assert out.exit_code == 0
    folder = "stretches" if (CATALOG_DIR / "stretches" / f"{item}.yaml").exists() else "routines"
    assert yaml.safe_load(out.output) == yaml.safe_load((CATALOG_DIR / folder / f"{item}.yaml").read_text())
    assert "None" not in out.output and "default=" not in out.output


def test_did_you_mean_ranks_by_edit_distance_and_drops_weak_matches() -> None:
    known = ["knee-to-chest", "knee-rolls", "seated-twist", "cat-cow"]
    assert closest("knee-to-chst", known) == ["knee-to-chest"]
    assert closest("xyzzy", known) == []
    out = CliRunner().invoke(main, ["script", "knee-to-chst"])
    assert out.exit_code == 1
    assert "did you mean knee-to-chest?" in out.output
    assert "seated-twist" not in out.output


def test_voices_lists_english_first_and_counts_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    import voiceguide.voice.choose as choose

    found = [
        EngineVoice("pyttsx3", VoiceInfo("gmw/de", "German", ("de",), None), False),
        EngineVoice("pyttsx3", VoiceInfo("gmw/en-us", "English (America)", ("en-us",), None), True),
        EngineVoice("pyttsx3", VoiceInfo("roa/fr", "French", ("fr",), None), False),
        EngineVoice("tone", VoiceInfo("tone", "Tone", ("en",), None), False),
    ]
    monkeypatch.setattr(choose, "all_voices", lambda: found)
    out = CliRunner().invoke(main, ["voices"])
    assert out.exit_code == 0
    assert "German" not in out.output and "English (America)" in out.output
    assert "... and 2 more voices in other languages: voiceguide voices --all" in out.output
    every = CliRunner().invoke(main, ["voices", "--all"]).output
    assert every.index("English (America)") < every.index("German") < every.index("French")


def test_a_voice_matching_many_says_how_many_more() -> None:
    from voiceguide.errors import UnknownVoiceError

    voices = [VoiceInfo(f"gmw/en-{i}", f"English {i}", ("en",), None) for i in range(10)]
    with pytest.raises(UnknownVoiceError, match=r"matches 10 voices: .* and 4 more; be more specific"):
        choose_match(voices, "english")


def choose_match(voices: list[VoiceInfo], wanted: str) -> str:
    from voiceguide.voice.choose import match_voice

    return match_voice(voices, wanted)


@pytest.mark.ffmpeg
def test_render_counts_the_chapters_the_file_holds(tmp_path: Path) -> None:
    out = run(["render", "cat-cow", "-o", "x.mp3", "--timeline", "x.json"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert ", 3 chapters (1 stretch)," in out.stdout  # Welcome, Cat-Cow, Closing


@pytest.mark.ffmpeg
def test_the_pack_page_counts_stretches_not_chapters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(tmp_path / "clips"))
    data = dict(SMALL_PACK, episodes=SMALL_PACK["episodes"][:1])  # two stretches, four chapters
    result = build(write_pack(tmp_path, data), tmp_path / "pk", jobs=1)
    page = result.page.read_text()
    assert "2 stretches" in page
    assert len(result.episodes[0].chapters) == 4


@pytest.mark.ffmpeg
def test_pack_build_without_a_base_url_says_where_the_feed_points(tmp_path: Path) -> None:
    write_pack(tmp_path, dict(SMALL_PACK, episodes=SMALL_PACK["episodes"][:1]))
    out = run(["pack", "build", "pack.yaml", "-o", "pk", "-j", "1"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "no --base-url" in out.stderr and "--base-url https://" in out.stderr
    quiet = run(["pack", "build", "pack.yaml", "-o", "pk", "-j", "1", "--base-url", "https://example.org/"], tmp_path)
    assert "no --base-url" not in quiet.stderr


def test_every_option_of_render_is_described() -> None:
    out = CliRunner().invoke(main, ["render", "--help"])
    assert re.search(r"--volume FLOAT RANGE\s+\S", out.output)


def test_the_readme_names_the_jobs_option_and_quick_start_times() -> None:
    readme = (REPO / "README.md").read_text()
    assert "-j/--jobs" in readme
    quick = readme.split("## Quick start", 1)[1].split("## ", 1)[0]
    assert len(re.findall(r"about [\d.]+ minutes", quick)) == 2


def test_make_writes_whole_minutes_and_keeps_avoid_as_a_field_the_routine_honours(tmp_path: Path) -> None:
    out = CliRunner().invoke(main, ["make", "--focus", "lower-back", "--minutes", "15", "--avoid", "knees",
                                    "--seed", "3", "-o", str(tmp_path / "mine.yaml")])
    assert out.exit_code == 0, out.output
    text = (tmp_path / "mine.yaml").read_text()
    assert "\nminutes: 15\n" in text
    data = yaml.safe_load(text)
    assert data["avoid"] == ["knees"]
    data["stretches"].append("childs-pose")  # a kneeling stretch added by hand
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(data))
    script = CliRunner().invoke(main, ["script", str(tmp_path / "mine.yaml")])
    assert script.exit_code == 0, script.output
    assert "Nothing today kneels or puts weight through your knees." in script.output
    assert "Child's Pose" not in script.output  # swapped for a knee-free stretch, as --avoid knees would


def test_a_routines_avoid_field_is_checked(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("id: r\ntitle: R\navoid: [kneez]\nstretches: [cat-cow]\n")
    out = CliRunner().invoke(main, ["check", str(tmp_path / "r.yaml")])
    assert out.exit_code == 1
    assert "avoid" in out.output and "did you mean 'knees'" in out.output


@pytest.mark.parametrize(("minutes", "says"), [("120", "cannot be as long as 120 min; at its longest it runs"),
                                               ("3", "cannot fit all its stretches in 3 min; left out")])
def test_minutes_out_of_reach_get_the_same_kind_of_note_both_ways(minutes: str, says: str) -> None:
    out = CliRunner().invoke(main, ["script", "lower-back-relief", "--minutes", minutes])
    assert out.exit_code == 0, out.output
    assert f"Note: 'Lower back relief' {says}" in out.output
    assert "--strict to refuse" in out.output
    strict = CliRunner().invoke(main, ["script", "lower-back-relief", "--minutes", minutes, "--strict"])
    assert strict.exit_code == 1
    assert "Note:" not in strict.output


def test_the_longest_session_is_as_long_as_the_routine_gets() -> None:
    import json as json_module

    out = CliRunner().invoke(main, ["script", "lower-back-relief", "--minutes", "120", "--format", "json"])
    longest = json_module.loads(out.output.split("\n", 1)[1] if out.output.startswith("Note") else out.output)
    strict = CliRunner().invoke(main, ["script", "lower-back-relief", "--minutes", "120", "--strict"])
    m = re.search(r"the longest it gets is (\d+):(\d\d)", strict.output)
    assert m, strict.output
    assert abs(longest["duration_s"] - (int(m[1]) * 60 + int(m[2]))) <= 6


def composed_session(spec: str) -> Timeline:
    from voiceguide.catalog.load import load_catalog, resolve_routine
    from voiceguide.session.compose import ComposeOptions, compose

    catalog = load_catalog()
    return compose(resolve_routine(spec, catalog), catalog, ComposeOptions())


@pytest.mark.parametrize("spec", ["cat-cow", "shoulder-rolls"])
def test_the_rep_counter_counts_the_rep_in_progress(spec: str) -> None:
    from voiceguide.live.guide import Guide

    tl = composed_session(spec)
    guide = Guide(tl)
    counts = [c for c in tl.cues if c.role == "count"]
    inhales = [c for c in tl.cues if c.role == "breath" and str(c.text).startswith("Breathe in")]
    second = next(c for c in inhales if counts[0].start_s < c.start_s < counts[1].start_s)
    assert guide.status(second.start_s + 0.1).rep_of == (2, len(counts))  # the second breath is rep 2
    first = next(c for c in inhales if c.start_s < counts[0].start_s)
    assert guide.status(first.start_s + 0.1).rep_of == (1, len(counts))


def test_the_panel_says_the_safety_note_is_not_skipped() -> None:
    import io

    from rich.console import Console

    from voiceguide.live.display import RichDisplay
    from voiceguide.live.guide import Guide

    tl = composed_session("cat-cow")
    guide = Guide(tl)
    note = next(c for c in tl.cues if c.role == "safety" and c.chapter is None)
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(RichDisplay(tl, keys=True).panel(
        guide.status(note.start_s + 0.1)))
    assert "the safety note plays to its end; n skips after it" in out.getvalue()
    later = io.StringIO()
    Console(file=later, width=120, color_system=None).print(RichDisplay(tl, keys=True).panel(
        guide.status(tl.chapters[0].start_s + 1)))
    assert "n next" in later.getvalue() and "safety note" not in later.getvalue()
