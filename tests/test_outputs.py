"""Outputs whose names tell the truth, and commands that speak alike (issue 10, items 17 and 18)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from voiceguide.cli import main


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VOICEGUIDE_ENGINE": "tone", "VOICEGUIDE_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-m", "voiceguide", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.mark.parametrize(("name", "starts"), [
    ("cc.vtt", "WEBVTT"), ("cc.srt", "1\n00:00:"), ("cc.json", "{"), ("cc.txt", "Cat-Cow"), ("cc.out", "Cat-Cow"),
])
def test_script_writes_the_format_its_file_name_says(tmp_path: Path, name: str, starts: str) -> None:
    result = CliRunner().invoke(main, ["script", "cat-cow", "-o", str(tmp_path / name)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / name).read_text(encoding="utf-8")
    assert text.startswith(starts), text[:80]
    if name.endswith(".json"):
        assert json.loads(text)["cues"]


def test_script_refuses_a_format_its_file_name_denies(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["script", "cat-cow", "--format", "text", "-o", str(tmp_path / "cc.vtt")])
    assert result.exit_code == 2
    assert "--format text does not match" in result.output and "vtt" in result.output
    assert not (tmp_path / "cc.vtt").exists()


@pytest.mark.parametrize(("args", "hint"), [
    (["-o", "cc.wav"], "give a file ending in .mp3, not .wav"),
    (["-o", "cc.mp3", "--timeline", "t.txt"], "give a file ending in .json"),
])
def test_render_refuses_a_file_name_that_would_lie(tmp_path: Path, args: list[str], hint: str) -> None:
    result = CliRunner().invoke(main, ["render", "cat-cow", *args])
    assert result.exit_code == 2
    assert hint in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_catalog_folder_without_a_catalog_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["--catalog", str(tmp_path / "empty"), "list"])
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: {tmp_path / 'empty'}: no catalog here (no stretches/*.yaml); "
                                     "give the folder that holds stretches/ and routines/")


def test_intro_and_no_intro_together_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["script", "cat-cow", "--intro", "Hello there.", "--no-intro"])
    assert result.exit_code == 2
    assert "--intro and --no-intro cannot be used together" in result.output


@pytest.mark.ffmpeg
def test_every_command_says_what_it_wrote_on_standard_output(tmp_path: Path) -> None:
    outputs = {
        "script": run(["script", "cat-cow", "-o", "cc.txt"], tmp_path),
        "make": run(["make", "--focus", "hips", "--minutes", "5", "--seed", "1", "-o", "mine.yaml"], tmp_path),
        "render": run(["render", "cat-cow", "-o", "cc.mp3"], tmp_path),
    }
    for command, out in outputs.items():
        assert out.returncode == 0, (command, out.stderr)
        assert out.stdout.startswith("Wrote "), (command, out.stdout, out.stderr)
        assert "Wrote" not in out.stderr, command
    # the count says what the MP3 holds: Welcome, the stretch, Closing
    assert ", 3 chapters (1 stretch)," in outputs["render"].stdout
