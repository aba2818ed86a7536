"""Damaged cache entries are found, discarded and made again (issue 10, item 5)."""

from __future__ import annotations

import json
import math
import os
import random
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from voiceguide.sound.audio import ENCODER_GAIN_FILE
from voiceguide.voice.engines import ToneEngine, VoiceSettings
from voiceguide.voice.speech import ClipCache, Speech

from .test_render import ebur128, run_cli

LINE = "Breathe in slowly through your nose."


def cached_clip(cache_dir: Path) -> Path:
    with Speech(ToneEngine, VoiceSettings(), cache=ClipCache(cache_dir), jobs=1) as speech:
        speech.prepare([LINE])
    (entry,) = cache_dir.glob("*/*.clip")
    return entry


def overwrite_body(entry: Path, seed: int = 1) -> None:
    """Random bytes over the clip's samples, the file's length unchanged."""
    data = bytearray(entry.read_bytes())
    rng = random.Random(seed)
    for i in range(64, len(data)):
        data[i] = rng.randrange(256)
    entry.write_bytes(bytes(data))


def test_a_clip_with_a_damaged_body_is_discarded_and_made_again(tmp_path: Path) -> None:
    entry = cached_clip(tmp_path)
    good = entry.read_bytes()
    overwrite_body(entry)
    with Speech(ToneEngine, VoiceSettings(), cache=ClipCache(tmp_path), jobs=1) as speech:
        clip = speech.clip(LINE)
        assert speech.synthesized == 1  # not taken from the damaged entry
    with Speech(ToneEngine, VoiceSettings(), cache=None, jobs=1) as fresh:
        made = fresh.clip(LINE)
    assert clip.pcm.tobytes() == made.pcm.tobytes() and clip.peak == made.peak  # the line itself, made again
    assert entry.read_bytes() == good


@pytest.mark.parametrize("field", ["peak", "energy"])
def test_a_clip_with_out_of_range_values_is_discarded(tmp_path: Path, field: str) -> None:
    import struct

    import numpy as np

    from voiceguide.voice import speech as module

    entry = cached_clip(tmp_path)
    clip = ClipCache(tmp_path).get(entry.stem)
    assert clip is not None
    bad = (module.Clip(clip.pcm, clip.energy, math.nan) if field == "peak"
           else module.Clip(clip.pcm, np.full_like(clip.energy, math.inf), clip.peak))
    entry.write_bytes(module._encode_entry(bad))  # a well-formed entry holding values no clip has
    assert struct.unpack_from("<4s", entry.read_bytes())[0] == b"VGC4"
    assert ClipCache(tmp_path).get(entry.stem) is None
    assert not entry.exists()


@pytest.mark.ffmpeg
def test_a_render_over_a_corrupted_cache_sounds_right(tmp_path: Path) -> None:
    first = run_cli(["render", "cat-cow", "-o", "a.mp3"], tmp_path, VOICEGUIDE_ENGINE="tone")
    assert first.returncode == 0, first.stderr
    for n, entry in enumerate(sorted((tmp_path / "cache").glob("*/*.clip"))):
        overwrite_body(entry, n)
    gains = tmp_path / "cache" / ENCODER_GAIN_FILE
    stored = json.loads(gains.read_text())
    stored["gains"] = {k: math.nan for k in stored["gains"]}  # NaN once gave a silent MP3
    gains.write_text(json.dumps(stored))
    again = run_cli(["render", "cat-cow", "-o", "b.mp3"], tmp_path, VOICEGUIDE_ENGINE="tone")
    assert again.returncode == 0, again.stderr
    loudness, peak = ebur128(tmp_path / "b.mp3")
    assert abs(loudness - -16) < 1.0 and peak < -1.0
    assert ebur128(tmp_path / "a.mp3") == (loudness, peak)


@pytest.mark.ffmpeg
def test_damaged_encoded_sounds_are_encoded_again_into_the_same_mp3(tmp_path: Path) -> None:
    first = run_cli(["render", "cat-cow", "-o", "a.mp3"], tmp_path, VOICEGUIDE_ENGINE="tone")
    assert first.returncode == 0, first.stderr
    entries = sorted((tmp_path / "cache").glob("*/*.frames"))
    assert len(entries) > 5
    good = [e.read_bytes() for e in entries]
    for n, entry in enumerate(entries):
        overwrite_body(entry, n) if n % 2 else entry.write_bytes(entry.read_bytes()[:-100])  # damaged or torn
    again = run_cli(["render", "cat-cow", "-o", "b.mp3"], tmp_path, VOICEGUIDE_ENGINE="tone")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "b.mp3").read_bytes() == (tmp_path / "a.mp3").read_bytes()
    assert [e.read_bytes() for e in entries] == good
    cleared = run_cli(["cache", "clear"], tmp_path)
    assert cleared.returncode == 0, cleared.stderr
    assert not list((tmp_path / "cache").rglob("*.frames"))


@pytest.mark.ffmpeg
def test_a_full_disk_leaves_no_temporary_in_the_cache(tmp_path: Path) -> None:
    def small_files_only() -> None:  # every write past 64 bytes fails, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))

    env = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(tmp_path / "cache"), "VOICEGUIDE_ENGINE": "tone"}
    out = subprocess.run([sys.executable, "-m", "voiceguide", "render", "cat-cow", "-o", "cc.mp3"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=300, preexec_fn=small_files_only)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == ["Error: ffmpeg failed to encode the MP3 (ended by SIGXFSZ)"]
    left = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert left == [], left


def test_a_cache_read_asks_for_what_the_file_holds_not_the_largest_clip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading an entry used to ask for 80 MB (the largest clip) every time; it asks for the file's
    size, yet still reads a file that grew after it was measured, up to the limit."""
    from voiceguide import fileio

    path = tmp_path / "entry"
    path.write_bytes(b"x" * 5000)
    asked: list[int] = []
    real_fdopen = os.fdopen

    def watched_fdopen(fd: int, mode: str = "r") -> object:
        f = real_fdopen(fd, mode)
        real_read = f.read

        class Reader:
            def read(self, n: int = -1) -> bytes:
                asked.append(n)
                return real_read(n)

            def __enter__(self) -> Reader:
                return self

            def __exit__(self, *exc: object) -> None:
                f.close()

        return Reader()

    monkeypatch.setattr(fileio.os, "fdopen", watched_fdopen)
    assert fileio.read_regular(path, 80 << 20) == b"x" * 5000
    assert asked == [5001]
    assert fileio.read_regular(path, 100) == b"x" * 100
    asked.clear()
    real_fstat = os.fstat
    monkeypatch.setattr(fileio.os, "fstat", lambda fd: os.stat_result((*real_fstat(fd)[:6], 10, *real_fstat(fd)[7:])))
    assert fileio.read_regular(path, 80 << 20) == b"x" * 5000  # measured at 10 bytes, then grown
    assert asked == [11, (80 << 20) - 11]
    assert fileio.read_regular(path) == b"x" * 5000
