"""Live narration judged at the speaker: sessions played into a real PulseAudio server, its null sink recorded.

Each spoken line is found in the recording by cross-correlation with the rendered audio of the
same timeline and checked window by window (tests/heard.py). These tests check that every line
is heard whole and near its deadline; how near (the issue's 20 ms / p90 10 ms) is measured by
scripts/bench_heard.py, not asserted here.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from voiceguide.live.backends import open_sink
from voiceguide.live.scheduler import Command, PlaybackResult
from voiceguide.live.session import LiveSession
from voiceguide.live.sinks import NoAudioDeviceError
from voiceguide.session.timeline import Chapter, Cue, Timeline
from voiceguide.sound.audio import AudioOptions, SessionAudio
from voiceguide.voice.engines import ENGINES, VoiceSettings
from voiceguide.voice.speech import Clip, ClipCache, Speech

from .conftest import REPO
from .heard import PulseServer, PulseUnavailable, Verdict, hear, judge, pulse_missing, read_pcm, start_pulse
from .required import missing, sound_backend_missing

ON_TIME_BOUND_MS = 100.0
"""Loose bound for a line's distance from the constant latency on a loaded CI machine; the real
figures (a few ms) come from scripts/bench_heard.py."""

SCRIPT: Sequence[tuple[float, str, str | None]] = (
    # (gap before, kind/role, text): the tight spots of a real session: a count followed 0.1 s
    # later by a breath line, two lines back to back, a tone just before speech
    (0.0, "intro", "Welcome to the test."),
    (0.0, "setup", "Stack your wrists under your shoulders."),
    (0.3, "hold-start", None),
    (0.0, "count", "Four."),
    (0.1, "breath", "Breathe in."),
    (0.0, "breath", "Breathe out."),
    (2.0, "count", "Five."),
    (0.0, "breath", "Breathe in, and let your belly sink."),
    (0.5, "cue", "Come back to a flat, neutral back."),
)


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    absent = pulse_missing()
    if absent:
        missing(f"no PulseAudio server for the heard tests: {absent}")
    try:
        server = start_pulse(tmp_path_factory.mktemp("pulse"))
    except PulseUnavailable as e:  # installed, but it would not start: that is a failure, here too
        pytest.fail(f"the PulseAudio server for the heard tests would not start: {e}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


def timeline_for(clip_for: Callable[[str], Clip]) -> Timeline:
    """The test script laid out on the real clip lengths, like the composer does; the stretch
    (chapter 0) begins at the tone."""
    cues: list[Cue] = []
    t, chapter = 0.0, None
    for gap, role, text in SCRIPT:
        if text is None:
            chapter = 0
        if gap:
            cues.append(Cue(t, t + gap, "silence", "pause", None, chapter))
            t += gap
        seconds = clip_for(text).seconds if text else 0.4
        cues.append(Cue(t, t + seconds, "tone" if text is None else "speech", role, text, chapter))
        t += seconds
    first = next(c.start_s for c in cues if c.chapter == 0)
    cues.append(Cue(t, t + 0.5, "silence", "pause", None, None))
    return Timeline("Heard", "heard", t + 0.5, (Chapter("Cat-Cow", "cat-cow", first, t),), tuple(cues))


def speech_for(engine: str, cache: Path) -> Speech:
    return Speech(ENGINES[engine], VoiceSettings(), cache=ClipCache(cache), jobs=1)


def render(audio: SessionAudio) -> np.ndarray:
    return np.frombuffer(b"".join(audio.span_chunks(0, audio.total_samples)), dtype="<i2").astype(np.float64)


def verdict_of(recording: Path, audio: SessionAudio, result: PlaybackResult) -> Verdict:
    lines = [(e.cue.text or "", e.cue.start_s, e.cue.end_s, e.scheduled_s) for e in result.events
             if e.cue.kind == "speech"]
    return judge(hear(read_pcm(recording), render(audio), lines))


def pause_at(session: LiveSession, position_s: float, seconds: float) -> None:
    """Press space when the session reaches ``position_s``, and again ``seconds`` later."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (session.scheduler is None or session.scheduler.position() < position_s):
        time.sleep(0.002)
    if session.scheduler is not None:
        session.scheduler.post(Command.PAUSE)
        time.sleep(seconds)
        session.scheduler.post(Command.PAUSE)


STALL_S = 0.15
"""A run during which this process was held up this long is not judged, but played again: the
stream's cushion (PREFILL_S, 0.3 s; 0.2 s for PortAudio) is for a busy machine, not a stopped one."""
ATTEMPTS = 3


class StallWatch:
    """The longest this process was held up (a 10 ms sleep woken late) while the watch ran."""

    def __init__(self) -> None:
        self.worst_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            before = time.monotonic()
            time.sleep(0.01)
            self.worst_s = max(self.worst_s, time.monotonic() - before - 0.01)

    def __enter__(self) -> StallWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


def heard_well(verdict: Verdict, result: PlaybackResult) -> bool:
    return result.ending == "finished" and not verdict.not_whole and verdict.max_ms < ON_TIME_BOUND_MS


@contextlib.contextmanager
def raised_priority() -> Iterator[None]:
    """This thread, and the threads and processes it starts, a little ahead of a busy machine's
    other work where allowed (as the player's feeding thread asks for itself): otherwise the
    feeding thread waits for the interpreter lock held by a thread that is not running."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, min(before, -10))
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, before)


Run = TypeVar("Run")


def until_judged(play: Callable[[], Run], good: Callable[[Run], bool]) -> Run:
    """``play``, again (up to :data:`ATTEMPTS` times) while a run that was not ``good`` was one the
    machine stalled. A run that fails without a stall is the verdict at once; so is the last."""
    for attempt in range(1, ATTEMPTS + 1):
        with raised_priority(), StallWatch() as watch:
            run = play()
        if good(run) or watch.worst_s < STALL_S or attempt == ATTEMPTS:
            if not good(run) and watch.worst_s >= STALL_S:
                print(f"every run was stalled by the machine, the last by {watch.worst_s:.2f} s")
            return run
        print(f"run {attempt} not judged: the machine held this process up {watch.worst_s:.2f} s")
    raise AssertionError("unreachable")


def play_heard(pulse: PulseServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, backend: str,
               engine: str = "tone", pauses: Sequence[tuple[float, float]] = ()) -> tuple[Verdict, PlaybackResult]:
    """Play the test script through ``backend`` into the server; what the recording says of it
    (played again if the machine stalled it: :func:`until_judged`)."""
    return until_judged(lambda: play_once(pulse, monkeypatch, tmp_path, backend, engine, pauses),
                        lambda run: heard_well(*run))


def play_once(pulse: PulseServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, backend: str,
              engine: str, pauses: Sequence[tuple[float, float]]) -> tuple[Verdict, PlaybackResult]:
    """Play the test script through ``backend`` into the server once; what the recording says of it."""
    for key, value in pulse.env.items():
        monkeypatch.setenv(key, value)
    with speech_for(engine, tmp_path / "clips") as speech:
        timeline = timeline_for(speech.clip)
        audio = SessionAudio(timeline, speech.clip, AudioOptions())
    absent = sound_backend_missing(backend)
    if absent:
        missing(absent)
    try:
        sink = open_sink(backend)
    except NoAudioDeviceError as e:  # installed, and it fails: a failure everywhere, never a skip
        pytest.fail(f"{backend} is installed but cannot play to the test server: {e.format_message()}",
                    pytrace=False)
    session = LiveSession(timeline, sink=sink, sound_for=audio.sound_for, keys=False, handle_signals=False)
    timers = [threading.Thread(target=pause_at, args=(session, at, seconds), daemon=True) for at, seconds in pauses]
    recording = tmp_path / f"{backend}.pcm"
    try:
        with pulse.record(recording):
            for timer in timers:
                timer.start()
            result = session.run()
            sink.close()  # the last line plays out into the recording
    finally:
        sink.close()
        for timer in timers:
            timer.join(5)
    return verdict_of(recording, audio, result), result


def assert_heard_on_time(verdict: Verdict, result: PlaybackResult) -> None:
    assert result.ending == "finished"
    assert verdict.not_whole == [], verdict.summary()
    assert verdict.max_ms < ON_TIME_BOUND_MS, verdict.summary()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["paplay", "aplay", "sounddevice"])
def test_every_line_is_heard_whole_and_on_time(pulse: PulseServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               backend: str) -> None:
    verdict, result = play_heard(pulse, monkeypatch, tmp_path, backend)
    assert_heard_on_time(verdict, result)
    reported = [e.heard_s - e.scheduled_s for e in result.events if e.heard_s is not None]
    if backend in ("paplay", "sounddevice"):  # these report their stream's latency
        assert len(reported) == sum(1 for e in result.events if e.cue.kind != "silence")
        assert all(0 < x < 1 for x in reported)


@pytest.mark.slow
def test_pause_and_resume_keep_the_schedule(pulse: PulseServer, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    # pause in the silence before "Five." and resume a second later: every later line moves by
    # the pause and is heard at the same latency as before it. (A pause stands where the listener
    # is, the stream's latency before the schedule, so the pause comes late enough in the two
    # seconds of silence that no line is split by it.)
    with speech_for("tone", tmp_path / "clips") as speech:
        five = next(c.start_s for c in timeline_for(speech.clip).cues if c.text == "Five.")
    verdict, result = play_heard(pulse, monkeypatch, tmp_path, "paplay",
                                 pauses=[(five - 0.4, 1.0)])
    assert_heard_on_time(verdict, result)
    later = [e for e in result.events if e.cue.start_s >= five]
    assert later and all(e.scheduled_s - e.cue.start_s > 0.4 for e in later)  # the schedule moved by the pause


@pytest.mark.slow
@pytest.mark.engine
def test_the_real_speech_engine_is_heard_whole_and_on_time(pulse: PulseServer, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    verdict, result = play_heard(pulse, monkeypatch, tmp_path, "paplay", engine="pyttsx3")
    assert_heard_on_time(verdict, result)


@pytest.mark.slow
def test_play_command_through_the_sound_server(pulse: PulseServer, tmp_path: Path) -> None:
    """The whole of ``voiceguide play cat-cow`` through paplay: every line heard, heard_s in the events log."""
    cache, events, timeline_path, recording = (tmp_path / n for n in ("clips", "e.jsonl", "t.json", "cat-cow.pcm"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEGUIDE_")}
    env |= {**pulse.env, "VOICEGUIDE_ENGINE": "tone", "VOICEGUIDE_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "voiceguide", "play", "cat-cow", "--no-audio", "--speed", "100"], env=env,
                   stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, check=True, timeout=300)

    def play() -> tuple[subprocess.CompletedProcess[str], Verdict | None, list[dict[str, object]]]:
        for path in (events, timeline_path):
            path.unlink(missing_ok=True)
        with pulse.record(recording):
            proc = subprocess.run([sys.executable, "-m", "voiceguide", "play", "cat-cow", "--audio-backend", "paplay",
                                   "--events", str(events), "--timeline", str(timeline_path)],
                                  env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
        if proc.returncode != 0:
            return proc, None, []
        timeline = Timeline.from_dict(json.loads(timeline_path.read_text(encoding="utf-8")))
        records = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
        with speech_for("tone", cache) as speech:
            audio = SessionAudio(timeline, speech.clip, AudioOptions())
        lines = [(c.text or "", c.start_s, c.end_s, float(r["scheduled_s"]))
                 for c, r in zip(timeline.cues, records) if c.kind == "speech"]
        return proc, judge(hear(read_pcm(recording), render(audio), lines)), records

    proc, verdict, records = until_judged(
        play, lambda run: run[1] is not None and not run[1].not_whole and run[1].max_ms < ON_TIME_BOUND_MS)
    assert proc.returncode == 0, proc.stderr
    assert verdict is not None
    assert verdict.not_whole == [], verdict.summary()
    assert verdict.max_ms < ON_TIME_BOUND_MS, verdict.summary()
    assert all(r["heard_s"] is not None for r in records if r["kind"] == "speech")
