"""The command line, through Click's test runner (and once for real with ``python -m``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from voiceguide.cli import main
from voiceguide.fileio import atomic_path, write_text_atomic

from .conftest import CATALOG_DIR, INVALID, REPO, VALID, error_lines
from .test_export import parse_srt, parse_vtt


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert result.exception is None
    return result


def failed(*args: str, code: int = 1) -> str:
    """Run a command that must fail cleanly; return the output."""
    result = run(*args)
    assert result.exit_code == code, result.output
    # a clean Click error ends in SystemExit; anything else escaped as a crash
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.output


def one_line_error(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: ")
    return lines[0]


def raw_yaml(kind: str, item_id: str) -> dict:
    return yaml.safe_load((CATALOG_DIR / kind / f"{item_id}.yaml").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- list and show


def test_list_text() -> None:
    out = ok("list").output
    assert "Routines:" in out and "Stretches:" in out
    for path in (CATALOG_DIR / "routines").glob("*.yaml"):
        assert re.search(rf"^\s+{re.escape(path.stem)}\s", out, re.M)
    for path in (CATALOG_DIR / "stretches").glob("*.yaml"):
        assert re.search(rf"^\s+{re.escape(path.stem)}\s", out, re.M)


def test_list_json() -> None:
    data = json.loads(ok("list", "--json").output)
    assert set(data) == {"stretches", "routines"}
    assert {s["id"] for s in data["stretches"]} == {p.stem for p in (CATALOG_DIR / "stretches").glob("*.yaml")}
    assert {r["id"] for r in data["routines"]} == {p.stem for p in (CATALOG_DIR / "routines").glob("*.yaml")}
    for s in data["stretches"]:
        assert {"id", "name", "position", "focus"} <= set(s)
        raw = raw_yaml("stretches", s["id"])
        assert (s["name"], s["position"], s["focus"]) == (raw["name"], raw["position"], raw["focus"])
    for r in data["routines"]:
        assert {"id", "title", "minutes"} <= set(r)
        raw = raw_yaml("routines", r["id"])
        assert (r["title"], r["minutes"]) == (raw["title"], raw.get("minutes"))


@pytest.mark.parametrize("stretch_id", ["cat-cow", "childs-pose", "figure-four"])
def test_show_stretch_json(stretch_id: str) -> None:
    data = json.loads(ok("show", stretch_id, "--json").output)
    raw = raw_yaml("stretches", stretch_id)
    keys = {"id", "name", "aliases", "position", "focus", "style", "sides", "hold_seconds", "reps", "sets", "cautions"}
    assert keys <= set(data)
    for key in ("id", "name", "position", "focus", "style"):
        assert data[key] == raw[key]
    assert data["aliases"] == raw.get("aliases", [])
    assert isinstance(data["sides"], bool) and data["sides"] == raw["sides"]
    for key in ("hold_seconds", "reps"):
        assert data[key] is None or set(data[key]) == {"default", "min", "max"}
        assert data[key] == raw.get(key)
    assert set(data["sets"]) == {"default", "min", "max"}
    if raw.get("sets"):
        assert data["sets"] == raw["sets"]
    assert data["cautions"] == [c["tag"] for c in raw.get("cautions") or []]
    assert all(isinstance(tag, str) for tag in data["cautions"])


def test_show_routine() -> None:
    out = ok("show", "kneeling-back").output
    raw = raw_yaml("routines", "kneeling-back")
    assert raw["title"] in out
    for entry in raw["stretches"]:
        assert (entry if isinstance(entry, str) else entry["id"]) in out


def test_show_routine_json() -> None:
    data = json.loads(ok("show", "kneeling-back", "--json").output)
    raw = raw_yaml("routines", "kneeling-back")
    assert data["title"] == raw["title"]
    assert [s["stretch"] for s in data["stretches"]] == [e if isinstance(e, str) else e["id"] for e in raw["stretches"]]


def test_show_unknown_suggests() -> None:
    line = one_line_error(failed("show", "cat-cwo"))
    assert "cat-cwo" in line and "did you mean cat-cow" in line


# --------------------------------------------------------------------------- script


def test_script_text() -> None:
    out = ok("script", "kneeling-back").output
    raw = raw_yaml("routines", "kneeling-back")
    m = re.match(rf"^{re.escape(raw['title'])} \((\d\d):(\d\d)\)\n", out)
    assert m, out[:200]
    assert abs(int(m[1]) * 60 + int(m[2]) - raw["minutes"] * 60) <= 2
    assert re.search(r"^\d\d:\d\d  \w", out, re.M)


def test_script_json() -> None:
    data = json.loads(ok("script", "kneeling-back", "--format", "json").output)
    raw = raw_yaml("routines", "kneeling-back")
    assert data["routine"] == "kneeling-back"
    assert abs(data["duration_s"] - raw["minutes"] * 60) <= 2
    stretch_ids = [e if isinstance(e, str) else e["id"] for e in raw["stretches"]]
    assert [c["stretch"] for c in data["chapters"]] == stretch_ids
    assert data["cues"] and all({"start_s", "end_s", "kind", "role", "text"} <= set(c) for c in data["cues"])


def test_script_srt_and_vtt_match_json() -> None:
    data = json.loads(ok("script", "kneeling-back", "--format", "json").output)
    said = [c["text"] for c in data["cues"] if c["kind"] == "speech"]
    srt = parse_srt(ok("script", "kneeling-back", "--format", "srt").output)
    vtt = parse_vtt(ok("script", "kneeling-back", "--format", "vtt").output)
    assert [t for *_, t in srt] == said
    assert [t for *_, t in vtt] == said


def test_script_minutes_and_breath() -> None:
    data = json.loads(ok("script", "kneeling-back", "--minutes", "10", "--breath", "3-5", "--format", "json").output)
    assert abs(data["duration_s"] - 600) <= 2
    assert data["options"]["breath"] == "3-5"


def test_script_stretch_id() -> None:
    data = json.loads(ok("script", "cat-cow", "--format", "json").output)
    assert [c["stretch"] for c in data["chapters"]] == ["cat-cow"]
    assert data["title"] == raw_yaml("stretches", "cat-cow")["name"]


def test_script_comma_list() -> None:
    data = json.loads(ok("script", "cat-cow,childs-pose", "--format", "json").output)
    assert [c["stretch"] for c in data["chapters"]] == ["cat-cow", "childs-pose"]


def test_script_routine_file() -> None:
    path = VALID / "short-routine.yaml"
    data = json.loads(ok("script", str(path), "--format", "json").output)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["title"] == raw["title"]
    assert [c["stretch"] for c in data["chapters"]] == [e["id"] for e in raw["stretches"]]
    doses = {d["stretch"]: d for d in data["doses"]}
    assert doses["cat-cow"]["reps"] == 6 and doses["childs-pose"]["hold_s"] == 30


@pytest.mark.parametrize("fmt", ["text", "json", "srt", "vtt"])
def test_script_output_file_is_written_whole(fmt: str, tmp_path: Path) -> None:
    target = tmp_path / f"session.{fmt}"
    printed = ok("script", "kneeling-back", "--format", fmt).output
    result = ok("script", "kneeling-back", "--format", fmt, "-o", str(target))
    assert target.read_text(encoding="utf-8") == printed
    assert os.listdir(tmp_path) == [target.name]  # no .part file left behind
    assert str(target) in result.output


def test_script_output_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "session.srt"
    target.write_text("old", encoding="utf-8")
    ok("script", "cat-cow", "--format", "srt", "-o", str(target))
    assert parse_srt(target.read_text(encoding="utf-8"))
    assert os.listdir(tmp_path) == ["session.srt"]


def test_script_output_to_a_bare_file_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ok("script", "cat-cow", "--format", "vtt", "-o", "session.vtt")
    assert parse_vtt((tmp_path / "session.vtt").read_text(encoding="utf-8"))
    assert os.listdir(tmp_path) == ["session.vtt"]


def test_atomic_write_leaves_the_target_alone_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "session.txt"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("half a scr", encoding="utf-8")
        raise KeyboardInterrupt
    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["session.txt"]
    write_text_atomic(target, "new")
    assert target.read_text(encoding="utf-8") == "new"
    assert os.listdir(tmp_path) == ["session.txt"]


# --------------------------------------------------------------------------- bad input


def test_unknown_routine() -> None:
    line = one_line_error(failed("script", "kneeling-bak"))
    assert "'kneeling-bak'" in line and "did you mean" in line and "kneeling-back" in line


def test_minutes_too_short() -> None:
    line = one_line_error(failed("script", "lower-back-relief", "--minutes", "1"))
    m = re.search(r"as short as 1 min: the shortest it gets is (\d+):(\d\d), (\d+) s too long", line)
    assert m, line
    assert abs((int(m[1]) * 60 + int(m[2]) - 60) - int(m[3])) <= 1


def test_minutes_too_long_with_strict() -> None:
    line = one_line_error(failed("script", "cat-cow", "--minutes", "200", "--strict"))
    m = re.search(r"as long as 200 min: the longest it gets is (\d+):(\d\d), (\d+) s too short", line)
    assert m, line
    assert abs((200 * 60 - (int(m[1]) * 60 + int(m[2]))) - int(m[3])) <= 1


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["script", "cat-cow", "--breath", "4x6"], "--breath"),
        (["script", "cat-cow", "--breath", "0-6"], "--breath"),
        (["script", "cat-cow", "--format", "mp4"], "--format"),
        (["script", "cat-cow", "--minutes", "-3"], "--minutes"),
        (["script", "cat-cow", "--minutes", "soon"], "--minutes"),
        (["script"], "ROUTINE"),
        (["check"], "FILES"),
        (["dance"], "dance"),
    ],
)
def test_bad_usage_exits_2(args: list[str], names: str) -> None:
    out = failed(*args, code=2)
    errors = [line for line in out.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, out
    assert names in errors[0]


def test_invalid_routine_file() -> None:
    path = INVALID / "routine-unknown-stretch.yaml"
    (line_no,) = error_lines(path)
    line = one_line_error(failed("script", str(path)))
    assert f"{path}:{line_no}: stretches[1]: " in line
    assert "did you mean cat-cow" in line


def test_missing_routine_file(tmp_path: Path) -> None:
    line = one_line_error(failed("script", str(tmp_path / "nope.yaml")))
    assert "nope.yaml" in line


def test_output_into_a_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "session.txt"
    line = one_line_error(failed("script", "cat-cow", "-o", str(target)))
    assert str(target.parent) in line and "does not exist" in line
    assert not target.parent.exists()


def test_output_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("keep", encoding="utf-8")
    line = one_line_error(failed("script", "cat-cow", "-o", str(tmp_path)))
    assert str(tmp_path) in line and "folder" in line
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_check_valid_files() -> None:
    files = sorted(str(p) for p in VALID.glob("*.yaml"))
    out = ok("check", *files).output
    assert f"{len(files)} files OK" in out


def test_check_invalid_files_lists_every_problem() -> None:
    files = sorted(INVALID.glob("*.yaml"))
    out = failed("check", *map(str, files))
    for path in files:
        assert str(path) in out, path.name
        for line in error_lines(path):
            assert f"{path}:{line}: " in out, (path.name, line)
    several = INVALID / "several-problems.yaml"
    assert sum(1 for line in out.splitlines() if str(several) in line) == len(error_lines(several)) >= 3


def test_check_one_invalid_file_is_one_line() -> None:
    path = INVALID / "unknown-key.yaml"
    (line_no,) = error_lines(path)
    line = one_line_error(failed("check", str(path)))
    assert f"{path}:{line_no}: hold_secs: " in line and "hold_seconds" in line


def test_catalog_option_uses_another_folder(tmp_path: Path) -> None:
    (tmp_path / "stretches").mkdir()
    (tmp_path / "routines").mkdir()
    (tmp_path / "stretches" / "wall-lean.yaml").write_bytes((VALID / "wall-lean.yaml").read_bytes())
    data = json.loads(ok("--catalog", str(tmp_path), "list", "--json").output)
    assert [s["id"] for s in data["stretches"]] == ["wall-lean"]
    assert data["routines"] == []


def test_broken_catalog_folder_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "stretches").mkdir()
    (tmp_path / "stretches" / "wall-lean.yaml").write_bytes((INVALID / "wrong-type.yaml").read_bytes())
    out = failed("--catalog", str(tmp_path), "list")
    (line,) = error_lines(INVALID / "wrong-type.yaml")
    assert f"wall-lean.yaml:{line}: sides: " in out


# --------------------------------------------------------------------------- for real


def test_python_m_voiceguide_help() -> None:
    proc = subprocess.run([sys.executable, "-m", "voiceguide", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout
    for command in ("list", "show", "script", "check"):
        assert re.search(rf"^\s+{command}\s", proc.stdout, re.M), command


def test_python_m_voiceguide_error_has_no_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "voiceguide", "script", "cat-cwo"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "did you mean cat-cow" in proc.stderr


def test_command_modules_register_whichever_is_imported_first() -> None:
    """A command module imported before the CLI must still end up registered (no import-order trap)."""
    import subprocess
    import sys

    code = (
        "import voiceguide.commands.live, voiceguide.commands.pack, click\n"
        "from voiceguide.cli import main\n"
        "print(sorted(main.list_commands(click.Context(main))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    for name in ("play", "pack", "serve", "render", "make"):
        assert f"'{name}'" in out
