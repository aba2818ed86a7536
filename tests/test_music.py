"""A music bed under the session: looped, faded, ducked under speech, loudness still on target."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_render import decode, ebur128
from voiceguide.catalog.load import resolve_routine
from voiceguide.catalog.types import Catalog
from voiceguide.sound.audio import AudioOptions
from voiceguide.sound.ffmpeg import ffmpeg_path
from voiceguide.sound.render import RenderResult, render
from voiceguide.voice.engines import ToneEngine, VoiceSettings
from voiceguide.voice.speech import SAMPLE_RATE, ClipCache, Speech

pytestmark = pytest.mark.ffmpeg
MUSIC_HZ = 110.0  # under every tone-engine voice (220-420 Hz) and chime (440 Hz and up)


@pytest.fixture(scope="module")
def music_render(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> RenderResult:
    tmp = tmp_path_factory.mktemp("music")
    music = tmp / "bed.wav"  # 7 s long, so a session must loop it
    subprocess.run(
        [ffmpeg_path(), "-v", "error", "-f", "lavfi", "-i", f"sine=f={MUSIC_HZ}:d=7", str(music)], check=True,
        timeout=120,
    )
    routine = resolve_routine("cat-cow,childs-pose", catalog)
    with Speech(ToneEngine, VoiceSettings(), cache=ClipCache(tmp / "cache")) as speech:
        return render(routine, catalog, tmp / "m.mp3", speech, audio_options=AudioOptions(music=music))


def level_at(samples: np.ndarray, start_s: float, end_s: float, hz: float = MUSIC_HZ) -> float:
    """dB of one frequency in a stretch of audio (a windowed DFT bin)."""
    x = samples[int(start_s * SAMPLE_RATE) : int(end_s * SAMPLE_RATE)]
    t = np.arange(len(x)) / SAMPLE_RATE
    window = np.hanning(len(x))
    amplitude = abs(np.sum(x * window * np.exp(-2j * np.pi * hz * t))) / window.sum()
    return float(20 * np.log10(amplitude + 1e-12))


def test_music_is_ducked_under_speech_by_at_least_12_db(music_render: RenderResult) -> None:
    samples = decode(music_render.path)
    cues = music_render.timeline.cues
    under, between = [], []
    for cue in cues:
        if cue.kind == "speech" and cue.duration_s >= 1.5:
            under.append(level_at(samples, cue.start_s + 0.5, cue.end_s - 0.5))
        if cue.kind == "silence" and cue.duration_s >= 3.0 and 5 < cue.start_s < music_render.timeline.duration_s - 8:
            between.append(level_at(samples, cue.start_s + 0.8, cue.end_s - 0.8))
    assert len(under) > 5 and len(between) > 3
    assert float(np.median(between)) - float(np.median(under)) >= 12.0
    assert max(under) < min(between)


def test_music_fades_in_and_out(music_render: RenderResult) -> None:
    samples = decode(music_render.path)
    end = music_render.timeline.duration_s
    assert level_at(samples, end - 0.5, end) < level_at(samples, end - 6.0, end - 5.0) - 6  # fading out
    assert level_at(samples, 0.0, 0.4) < level_at(samples, end - 6.0, end - 5.0) - 12  # faded in (and ducked)


def test_loudness_and_true_peak_hold_with_music(music_render: RenderResult) -> None:
    integrated, peak = ebur128(music_render.path)
    assert -17.0 <= integrated <= -15.0
    assert peak <= -1.0
    assert abs(len(decode(music_render.path)) / SAMPLE_RATE - music_render.timeline.duration_s) <= 0.05


def test_bad_music_files(tmp_path: Path) -> None:
    env = {**os.environ, "VOICEGUIDE_ENGINE": "tone", "VOICEGUIDE_CACHE_DIR": str(tmp_path / "cache")}
    (tmp_path / "notes.txt").write_text("not music at all")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "voiceguide", "render", "cat-cow", "-o", "x.mp3", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            check=False,
            timeout=300,
        )

    garbled = run("--music", "notes.txt")
    assert garbled.returncode == 1 and "notes.txt: not usable as music" in garbled.stderr
    missing = run("--music", "nowhere.mp3")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    for result in (garbled, missing):
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.mp3").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".x.mp3")]
