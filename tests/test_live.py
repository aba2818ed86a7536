"""Live narration: the scheduler against a fake clock and sink, the guide and displays, the audio
backends (with stand-in players), and ``voiceguide play`` for real, in a pipe and in a pseudo-terminal."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import random
import re
import select
import signal
import stat
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

from voiceguide.catalog.load import resolve_routine
from voiceguide.catalog.types import Catalog
from voiceguide.cli import main
from voiceguide.live.backends import open_sink, platform_backends
from voiceguide.live.clock import FakeClock, MonotonicClock
from voiceguide.live.display import PlainDisplay, RichDisplay
from voiceguide.live.guide import Guide
from voiceguide.live.keys import KeyReader
from voiceguide.live.players import SubprocessSink
from voiceguide.live.scheduler import Command, CueEvent, PlaybackResult, Scheduler
from voiceguide.live.session import LiveSession
from voiceguide.live.sinks import NoAudioDeviceError
from voiceguide.live.stream import BLOCK, DELAY_S, PipeOutput, StreamSink
from voiceguide.session.compose import ComposeOptions, compose
from voiceguide.session.timeline import Chapter, Cue, Timeline
from voiceguide.sound.audio import AudioOptions, SessionAudio
from voiceguide.sound.render import compose_spoken
from voiceguide.voice.engines import ToneEngine, VoiceSettings
from voiceguide.voice.speech import SAMPLE_RATE, ClipCache, Speech

from .conftest import REPO, fake_length

POSIX = os.name == "posix"
"""Real-clock tests judge no drift (on a loaded 2-CPU machine other processes have stalled a run by
up to 0.29 s): only that nothing is early. The fake-clock tests pin the schedule exactly, and
scripts/bench_live.py measures drift."""


# --------------------------------------------------------------------------- helpers


def composed(catalog: Catalog, routine: str, minutes: float | None = None) -> Timeline:
    """A real routine's timed script with deterministic speech lengths (no speech engine)."""
    return compose(resolve_routine(routine, catalog), catalog, ComposeOptions(minutes), fake_length)


class FakeSink:
    """Records what it is asked to play and when, by the scheduler's clock; may take time to start."""

    name = "fake"

    def __init__(self, clock: FakeClock, latency_s: float = 0.0) -> None:
        self.clock = clock
        self.latency_s = latency_s
        self.plays: list[tuple[float, np.ndarray]] = []
        self.stops: list[float] = []
        self.failure: str | None = None

    def start(self) -> None:
        pass

    def play(self, pcm: np.ndarray, at: float | None = None) -> None:
        self.plays.append((self.clock.now(), pcm))
        self.clock.advance(self.latency_s)

    def stop(self) -> None:
        self.stops.append(self.clock.now())

    def check(self) -> None:
        if self.failure:
            raise NoAudioDeviceError(self.failure)

    def close(self) -> None:
        pass


def tagged_sounds(timeline: Timeline) -> Callable[[Cue], np.ndarray | None]:
    """Each sounding cue's 'audio' is its own index repeated for its length, so a sink can tell which it got."""
    index = {cue: i for i, cue in enumerate(timeline.cues)}

    def sound_for(cue: Cue) -> np.ndarray | None:
        if cue.kind == "silence":
            return None
        return np.full(max(1, round(cue.duration_s * SAMPLE_RATE)), index[cue], dtype=np.int16)

    return sound_for


class RecordingDisplay:
    def __init__(self) -> None:
        self.log: list[tuple[str, object]] = []

    def open(self, view: Scheduler) -> None:
        self.log.append(("open", None))

    def cue(self, event: CueEvent) -> None:
        self.log.append(("cue", event.index))

    def paused(self, paused: bool, position_s: float) -> None:
        self.log.append(("paused" if paused else "resumed", round(position_s, 6)))

    def jumped(self, position_s: float) -> None:
        self.log.append(("jumped", round(position_s, 6)))

    def close(self) -> None:
        self.log.append(("close", None))


@dataclass
class FakeRun:
    scheduler: Scheduler
    sink: FakeSink
    clock: FakeClock
    result: PlaybackResult

    @property
    def t0(self) -> float:
        return self.clock.now() - self.result.wall_s


def run_fake(timeline: Timeline, speed: float = 1.0, actions: Sequence[tuple[float, Command]] = (),
             clock: FakeClock | None = None, latency_s: float = 0.0) -> FakeRun:
    """Run a scheduler on a fake clock; each action posts a command at a wall time after playback began."""
    clock = clock or FakeClock()
    sink = FakeSink(clock, latency_s)
    scheduler = Scheduler(timeline, clock=clock, sink=sink, sound_for=tagged_sounds(timeline), speed=speed,
                          display=RecordingDisplay())
    start = clock.now()
    for at, command in actions:
        clock.at(start + at, lambda c=command: scheduler.post(c))  # type: ignore[misc]
    return FakeRun(scheduler, sink, clock, scheduler.run())


def indices(run: FakeRun) -> list[int]:
    return [e.index for e in run.result.events]


def first_of_chapter(timeline: Timeline, chapter: int) -> int:
    return next(i for i, c in enumerate(timeline.cues) if c.chapter == chapter)


def after_safety_note(timeline: Timeline) -> float:
    """A moment just after the opening safety note (which a key cannot skip) has ended."""
    first = timeline.chapters[0].start_s
    note = [c for c in timeline.cues if c.role == "safety" and c.chapter is None and c.end_s <= first]
    return note[-1].end_s + 0.2


# --------------------------------------------------------------------------- the scheduler


def test_every_cue_starts_on_its_deadline_with_its_own_sound(catalog: Catalog) -> None:
    tl = composed(catalog, "desk-break")
    run = run_fake(tl)
    assert run.result.ending == "finished"
    assert indices(run) == list(range(len(tl.cues)))
    for event in run.scheduler.events:
        assert event.scheduled_s == pytest.approx(event.cue.start_s, abs=1e-9)
        assert event.actual_s == pytest.approx(event.scheduled_s, abs=1e-9)
    sounding = [i for i, c in enumerate(tl.cues) if c.kind != "silence"]
    assert [int(pcm[0]) for _, pcm in run.sink.plays] == sounding
    t0 = run.t0
    for (when, pcm), i in zip(run.sink.plays, sounding):
        assert when - t0 == pytest.approx(tl.cues[i].start_s, abs=1e-9)
        assert len(pcm) == max(1, round(tl.cues[i].duration_s * SAMPLE_RATE))
    assert run.result.wall_s == pytest.approx(tl.duration_s, abs=1e-6)  # waits out the closing silence too


def test_late_wakeups_never_accumulate(catalog: Catalog) -> None:
    """Every wait overshoots by up to 4 ms and every sound takes 1 ms to start: over a whole
    long session each cue is still at most that late, because deadlines are absolute."""
    tl = composed(catalog, "lower-back-relief")
    rng = random.Random(7)
    overshoots: list[float] = []

    def oversleep() -> float:
        overshoots.append(rng.uniform(0.0, 0.004))
        return overshoots[-1]

    clock = FakeClock(oversleep=oversleep)
    run = run_fake(tl, clock=clock, latency_s=0.001)
    drifts = [e.drift_s for e in run.scheduler.events]
    assert len(drifts) == len(tl.cues) > 300
    assert sum(overshoots) > 5.0  # summed sleeps would have drifted by seconds
    assert min(drifts) >= -1e-9
    assert max(drifts) <= 0.004 + 0.001 + 1e-9
    late = drifts[-100:]
    assert sum(late) / len(late) < 0.005


def test_speed_compresses_time(catalog: Catalog) -> None:
    tl = composed(catalog, "cat-cow")
    run = run_fake(tl, speed=10)
    for event in run.scheduler.events:
        assert event.scheduled_s == pytest.approx(event.cue.start_s / 10, abs=1e-9)
    assert run.result.wall_s == pytest.approx(tl.duration_s / 10, abs=1e-6)


def test_pause_shifts_the_schedule_and_skips_nothing(catalog: Catalog) -> None:
    tl = composed(catalog, "desk-break")
    # pause in the middle of a spoken line, resume 15 s later
    line = next(i for i, c in enumerate(tl.cues) if c.kind == "speech" and c.duration_s > 2 and c.start_s > 20)
    cue = tl.cues[line]
    pause_at = cue.start_s + 1.0
    run = run_fake(tl, actions=[(pause_at, Command.PAUSE), (pause_at + 15, Command.PAUSE)])
    assert indices(run) == list(range(len(tl.cues)))  # each cue exactly once, in order
    for event in run.scheduler.events:
        shift = 15.0 if event.cue.start_s > pause_at else 0.0
        assert event.scheduled_s == pytest.approx(event.cue.start_s + shift, abs=1e-9)
        assert event.actual_s == pytest.approx(event.scheduled_s, abs=1e-9)
    assert run.result.wall_s == pytest.approx(tl.duration_s + 15, abs=1e-6)
    t0 = run.t0
    assert any(abs(s - t0 - pause_at) < 1e-9 for s in run.sink.stops)  # the voice stops at the pause
    # on resume the cut-off line goes on from where it stopped, not from its start
    resumed = [(when - t0, pcm) for when, pcm in run.sink.plays if int(pcm[0]) == line]
    assert len(resumed) == 2
    full = round(cue.duration_s * SAMPLE_RATE)
    assert resumed[1][0] == pytest.approx(pause_at + 15, abs=1e-9)
    assert len(resumed[1][1]) == full - round(1.0 * SAMPLE_RATE)
    display = run.scheduler.display.log
    assert ("paused", round(pause_at, 6)) in display and ("resumed", round(pause_at, 6)) in display


def test_next_skips_to_the_next_stretch(catalog: Catalog) -> None:
    tl = composed(catalog, "desk-break")
    t1 = after_safety_note(tl)
    run = run_fake(tl, actions=[(t1, Command.NEXT), (t1 + 0.5, Command.NEXT)])
    got = indices(run)
    ch0, ch1 = first_of_chapter(tl, 0), first_of_chapter(tl, 1)
    intro = [i for i in range(ch0) if tl.cues[i].start_s <= t1]
    assert got[: len(intro)] == intro
    assert got[len(intro)] == ch0
    assert run.scheduler.events[len(intro)].scheduled_s == pytest.approx(t1, abs=1e-9)
    tail = got[got.index(ch1):]
    assert tail == list(range(ch1, len(tl.cues)))  # from stretch 2 on, nothing else is skipped
    assert not any(tl.cues[i].chapter == 0 and i > ch0 + 2 for i in got)
    # after the jump the schedule runs from stretch 2's start at the moment of the key
    for event in run.scheduler.events[got.index(ch1):]:
        assert event.scheduled_s == pytest.approx(t1 + 0.5 + event.cue.start_s - tl.chapters[1].start_s, abs=1e-9)


def test_the_safety_note_cannot_be_skipped(catalog: Catalog) -> None:
    tl = composed(catalog, "desk-break")
    note = [i for i, c in enumerate(tl.cues) if c.role == "safety" and c.chapter is None]
    start = tl.cues[note[0]].start_s
    # n during the welcome goes to the safety note; n during the note does nothing
    actions = [(1.0, Command.NEXT), (1.5, Command.NEXT), (2.0, Command.NEXT), (3.0, Command.NEXT)]
    run = run_fake(tl, actions=actions)
    got = indices(run)
    assert all(i in got for i in note), "every line of the safety note is heard"
    jumped = next(e for e in run.scheduler.events if e.index == note[0])
    assert jumped.scheduled_s == pytest.approx(1.0, abs=1e-9)
    later = [e for e in run.scheduler.events if e.index > note[0]]
    for e in later[: len(note) - 1]:  # the note plays on at its own pace from the jump
        assert e.scheduled_s == pytest.approx(1.0 + e.cue.start_s - start, abs=1e-9)


def test_the_panel_says_finished_at_the_end(catalog: Catalog) -> None:
    tl = composed(catalog, "cat-cow")
    run = run_fake(tl)
    assert run.result.ending == "finished"
    display = RichDisplay(tl, keys=True)
    display.open(run.scheduler)
    out = io.StringIO()
    Console(file=out, width=110, color_system=None).print(display.render())
    assert "Finished" in out.getvalue() and "PAUSED" not in out.getvalue()


def test_next_from_the_last_stretch_goes_to_the_closing_and_then_does_nothing(catalog: Catalog) -> None:
    tl = composed(catalog, "cat-cow")
    inside = tl.chapters[0].start_s + 10
    run = run_fake(tl, actions=[(inside, Command.NEXT), (inside + 1, Command.NEXT)])
    got = indices(run)
    closing = next(i for i, c in enumerate(tl.cues) if c.start_s >= tl.chapters[0].end_s - 1e-9)
    assert got[-(len(tl.cues) - closing):] == list(range(closing, len(tl.cues)))
    assert run.result.ending == "finished"
    assert run.scheduler.jump_target(Command.NEXT, tl.chapters[0].end_s + 1) is None


def test_back_goes_to_the_stretch_before(catalog: Catalog) -> None:
    tl = composed(catalog, "desk-break")
    s1 = tl.chapters[1].start_s
    # play into stretch 2, then back: stretch 1 is heard again from its start
    run = run_fake(tl, actions=[(s1 + 10, Command.BACK), (s1 + 12, Command.QUIT)])
    got = indices(run)
    ch0, ch1 = first_of_chapter(tl, 0), first_of_chapter(tl, 1)
    assert got[: got.index(ch1)] == list(range(ch1))
    replay = got[got.index(ch1) :]
    assert ch0 in replay and replay[replay.index(ch0) :] == list(range(ch0, ch0 + len(replay) - replay.index(ch0)))
    assert run.result.ending == "quit"
    # back from the first stretch restarts it; from the welcome, the start; from the closing, the last stretch
    assert run.scheduler.jump_target(Command.BACK, tl.chapters[0].start_s + 5) == tl.chapters[0].start_s
    assert run.scheduler.jump_target(Command.BACK, 3.0) == 0.0
    assert run.scheduler.jump_target(Command.BACK, tl.chapters[-1].end_s + 1) == tl.chapters[-1].start_s


def test_quit_stops_at_once(catalog: Catalog) -> None:
    tl = composed(catalog, "desk-break")
    run = run_fake(tl, actions=[(40.0, Command.QUIT)])
    assert run.result.ending == "quit"
    assert run.result.position_s == pytest.approx(40.0, abs=1e-9)
    assert all(e.cue.start_s <= 40.0 for e in run.scheduler.events)
    assert indices(run) == [i for i, c in enumerate(tl.cues) if c.start_s <= 40.0]
    assert run.sink.stops and run.sink.stops[-1] == pytest.approx(run.clock.now())
    assert run.scheduler.display.log[-1][0] == "cue"


def test_interrupt_from_a_signal_handler_is_noticed_within_a_poll(catalog: Catalog) -> None:
    tl = composed(catalog, "cat-cow")
    clock = FakeClock()
    sink = FakeSink(clock)
    scheduler = Scheduler(tl, clock=clock, sink=sink, sound_for=tagged_sounds(tl))
    clock.at(clock.now() + 30.0, scheduler.interrupt)  # no wake-up event: only the appended command
    result = scheduler.run()
    assert result.ending == "interrupted"
    assert 30.0 <= result.wall_s <= 30.0 + 0.05 + 1e-9


def test_keys_while_paused_move_the_place_and_stay_paused(catalog: Catalog) -> None:
    tl = composed(catalog, "desk-break")
    s1 = tl.chapters[1].start_s
    t = after_safety_note(tl)
    run = run_fake(tl, actions=[(t, Command.PAUSE), (t + 1.0, Command.NEXT), (t + 2.0, Command.NEXT),
                                            (t + 15.0, Command.PAUSE), (t + 20.0, Command.QUIT)])
    ch1 = first_of_chapter(tl, 1)
    after = [e for e in run.scheduler.events if e.index >= ch1]
    assert after and after[0].index == ch1
    assert after[0].scheduled_s == pytest.approx(t + 15.0, abs=1e-9)  # nothing played until resumed
    assert all(e.scheduled_s <= t for e in run.scheduler.events if e.index < ch1)
    # from the place the keys moved to, every cue up to where it was quit, and none after
    assert [e.index for e in after] == [i for i in range(ch1, len(tl.cues)) if tl.cues[i].start_s <= s1 + 5.0]
    assert run.result.position_s == pytest.approx(s1 + 5.0, abs=1e-9)


def test_the_real_clock_lands_on_deadlines() -> None:
    clock = MonotonicClock()
    wake = threading.Event()
    for wait in (0.001, 0.01, 0.03, 0.07):
        start = clock.now()
        clock.wait(wait, wake)
        late = clock.now() - start - wait
        assert late >= 0.0  # never early
        assert late < 30  # only a broken wait (milliseconds taken for seconds) is this late, however busy
    wake.set()
    start = clock.now()
    clock.wait(600.0, wake)  # a command cuts a wait short
    assert clock.now() - start < 300


# --------------------------------------------------------------------------- the guide


def test_guide_follows_sides_sets_holds_and_breath(catalog: Catalog) -> None:
    tl = composed(catalog, "figure-four")  # two sides, two sets, 30 s holds
    guide = Guide(tl)
    assert len(guide.holds) == 4
    hold_start, hold_end = guide.holds[0]
    assert hold_end - hold_start == pytest.approx(30.0, abs=1e-6)

    def at(text: str, n: int = 0) -> float:
        return [c.start_s for c in tl.cues if c.text == text][n] + 0.01

    s = guide.status(at("Round one of two."))
    assert (s.chapter, s.side, s.set_of, s.hold_left_s) == (0, "right", (1, 2), None)
    s = guide.status(hold_start + 10)
    assert s.hold_left_s == pytest.approx(20.0, abs=1e-6) and s.hold_s == pytest.approx(30.0, abs=1e-6)
    s = guide.status(at("Switch to your left side."))
    assert (s.side, s.set_of, s.line, s.speaking) == ("left", (1, 2), "Switch to your left side.", True)
    s = guide.status(at("Round two of two."))  # the round is announced before the switch back
    assert (s.side, s.set_of) == ("left", (2, 2))
    s = guide.status(at("Switch to your right side."))
    assert (s.side, s.set_of) == ("right", (2, 2))
    inhale = at("Breathe in and let your hips settle.")
    exhale = at("Breathe out and let your right knee open a little more.")
    assert guide.status(inhale).breath == "in"
    assert guide.status(exhale - 0.02).breath == "in"
    assert guide.status(exhale).breath == "out"
    # after the spoken breaths, the indicator keeps the script's pace (4-6) to the end of the hold
    assert guide.status(exhale - 0.01 + 6 + 1).breath == "in"
    assert guide.status(hold_end - 0.01).breath is not None
    assert guide.status(hold_end + 0.5).breath is None
    s = guide.status(2.0)
    assert (s.chapter, s.side, s.set_of, s.next_title) == (None, None, None, "Figure Four Stretch")
    last = guide.status(tl.duration_s - 0.5)
    assert last.chapter is None and last.next_title is None and last.remaining_s == pytest.approx(0.5)


def test_guide_breath_in_a_flow_follows_the_windows(catalog: Catalog) -> None:
    tl = composed(catalog, "cat-cow")
    guide = Guide(tl)
    counts = [c for c in tl.cues if c.role == "count"]
    assert len(counts) == 8
    checked = 0
    for k, count in enumerate(tl.cues):
        said = [c for c in tl.cues[:k] if c.kind == "speech"]
        if count.role != "count" or said[-1].role != "breath":
            continue
        # the count closes the exhale it follows; the inhale line before that exhale is "in"
        exhale, inhale = said[-1], said[-2]
        assert str(exhale.text).startswith("Breathe out") and str(inhale.text).startswith("Breathe in")
        assert guide.status(count.start_s + 0.01).breath == "out"
        assert guide.status(exhale.start_s + 0.01).breath == "out"
        assert guide.status(inhale.start_s + 0.01).breath == "in"
        assert guide.status(exhale.start_s - 0.05).breath == "in"
        checked += 1
    assert checked >= 3
    assert guide.status(counts[2].start_s).rep_of == (3, 8)
    assert guide.status(5.0).breath is None


def test_rich_panel_shows_where_the_session_is(catalog: Catalog) -> None:
    tl = composed(catalog, "figure-four")
    display = RichDisplay(tl, keys=True)
    guide = Guide(tl)
    hold_start, _ = guide.holds[1]  # left side, set 1
    out = io.StringIO()
    console = Console(file=out, width=110, color_system=None)
    console.print(display.panel(guide.status(hold_start + 12.3), paused=True))
    text = out.getvalue()
    assert "Figure Four Stretch" in text and "Stretch 1 of 1" in text
    assert "left side" in text and "set 1 of 2" in text
    assert "18 s left" in text
    assert re.search(r"▲ in|▼ out", text)
    assert "PAUSED" in text and "space pause" in text
    assert "elapsed" in text and "left" in text
    assert "the end of the session" in text


def test_plain_display_prints_each_line_as_spoken(catalog: Catalog) -> None:
    tl = composed(catalog, "cat-cow")
    lines: list[str] = []
    display = PlainDisplay(tl, lines.append)
    clock = FakeClock()
    scheduler = Scheduler(tl, clock=clock, speed=100, display=display)
    display.open(scheduler)
    clock.at(clock.now() + 0.3, lambda: scheduler.post(Command.PAUSE))
    clock.at(clock.now() + 0.4, lambda: scheduler.post(Command.PAUSE))
    scheduler.run()
    display.close()
    spoken = [c.text for c in tl.cues if c.kind == "speech"]
    said = [m[1] for line in lines if (m := re.match(r"^\s*\d+:\d\d  (.+)$", line))]
    assert said == spoken
    assert lines[0].startswith("Cat-Cow: ")
    assert "== Stretch 1 of 1: Cat-Cow" in lines
    assert sum(1 for line in lines if line.startswith("-- paused at")) == 1
    assert sum(1 for line in lines if line.startswith("-- resumed at")) == 1


# --------------------------------------------------------------------------- audio backends


def fake_player(folder: Path, name: str, body: str) -> Path:
    """A stand-in for a system player: a small Python script on PATH."""
    path = folder / name
    path.write_text(f"#!{sys.executable}\nimport os, sys, time\n{body}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


UNPLUGGED_PLAYER = """
received = 0
while chunk := sys.stdin.buffer.read1(65536):
    received += len(chunk)
    if received > 20000:  # the probe's tenth of a second passes, the stream fails half a second in
        print('aplay: pcm_write: device unplugged', file=sys.stderr)
        sys.exit(1)
"""

RECORDING_PLAYER = """
data = sys.stdin.buffer.read()
out = os.environ["FAKE_PLAYER_DIR"]
with open(os.path.join(out, f"{time.monotonic_ns()}-{os.getpid()}.pcm"), "wb") as f:
    f.write(data)
"""


def test_no_audio_device_is_one_line_that_suggests_no_audio(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no players at all
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # and sounddevice will not import
    with pytest.raises(NoAudioDeviceError) as info:
        open_sink("auto")
    message = info.value.format_message()
    assert "\n" not in message
    assert "no usable audio device" in message and "--no-audio" in message and "render" in message
    for name in platform_backends():
        assert name in message
    if os.name != "nt":
        with pytest.raises(NoAudioDeviceError, match="winsound: only on Windows"):
            open_sink("winsound")


@pytest.mark.skipif(not POSIX, reason="stand-in players are POSIX scripts")
def test_a_player_that_cannot_reach_a_device_is_reported_before_the_session(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_player(tmp_path, "paplay", "sys.stdin.buffer.read()\nprint('Connection failure: Connection refused', "
                                    "file=sys.stderr)\nsys.exit(1)")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NoAudioDeviceError, match=r"paplay: Connection failure: Connection refused.*--no-audio"):
        open_sink("paplay")


@pytest.mark.skipif(not POSIX, reason="stand-in players are POSIX scripts")
def test_one_stream_carries_every_sound_at_its_own_sample(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A whole (short) session at speed 1 through SessionAudio and a stand-in aplay: one player
    process for the session, every sound in its stream exactly, as far from the first as its cue."""
    bin_dir, out_dir = tmp_path / "bin", tmp_path / "out"
    bin_dir.mkdir()
    out_dir.mkdir()
    fake_player(bin_dir, "aplay", RECORDING_PLAYER)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_PLAYER_DIR", str(out_dir))
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    cues = (  # as long as the tone engine's clips, so no two sounds overlap
        Cue(0.0, 1.3, "speech", "intro", "Welcome to the test.", None),
        Cue(1.3, 1.6, "silence", "pause", None, None),
        Cue(1.6, 2.0, "tone", "hold-start", None, 0),
        Cue(2.0, 2.7, "speech", "setup", "Sit tall.", 0),
        Cue(2.7, 3.0, "silence", "hold", None, 0),
    )
    tl = Timeline("Test", "test", 3.0, (Chapter("Sit", "sit", 1.6, 3.0),), cues)
    engine = ToneEngine(VoiceSettings())
    speech = Speech(ToneEngine, VoiceSettings(), cache=None)
    from voiceguide.voice.speech import clip_from_audio

    clips = {c.text: clip_from_audio(engine.synthesize(c.text)) for c in cues if c.text}
    speech._clips.update(clips)
    audio = SessionAudio(tl, speech.clip, AudioOptions())
    sink = open_sink("auto")
    try:
        assert sink.name == "aplay"
        result = LiveSession(tl, sink=sink, sound_for=audio.sound_for, keys=False, handle_signals=False).run()
    finally:
        sink.close()
    assert result.ending == "finished"
    received = sorted(out_dir.glob("*.pcm"))
    assert len(received) == 2  # the probe before the session, then one stream for all of it
    probe, stream = (np.frombuffer(p.read_bytes(), "<i2") for p in received)
    assert not probe.any()
    sounding = [(c, audio.sound_for(c)) for c in cues if c.kind != "silence"]
    first = sounding[0][1]
    assert first is not None
    origin = int(np.flatnonzero(stream)[0]) - int(np.flatnonzero(first)[0])
    heard = np.zeros(len(stream), dtype=bool)
    for (cue, pcm), event in zip(sounding, [e for e in result.events if e.cue.kind != "silence"]):
        assert pcm is not None
        expected = origin + round(cue.start_s * SAMPLE_RATE)
        if event.actual_s - event.scheduled_s < DELAY_S - 0.01:  # handed over in time: placed to the sample
            at = [expected + d for d in (-1, 0, 1)
                  if np.array_equal(stream[expected + d : expected + d + len(pcm)], pcm)]
        else:  # a hand-over later than the stream's delay (a stalled machine) is played whole, a little late
            at = [i for i in range(expected, expected + SAMPLE_RATE)
                  if np.array_equal(stream[i : i + len(pcm)], pcm)][:1]
        assert len(at) == 1, cue
        heard[at[0] : at[0] + len(pcm)] = True
    assert not stream[~heard].any()  # silence between the sounds, nothing else


@pytest.mark.skipif(not POSIX, reason="stand-in players are POSIX scripts")
def test_a_player_failing_mid_session_stops_it_with_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_player(tmp_path, "aplay", UNPLUGGED_PLAYER)
    monkeypatch.setenv("PATH", str(tmp_path))
    sink = StreamSink(PipeOutput("aplay", ["aplay"]))
    try:
        sink.play(np.ones(SAMPLE_RATE, dtype=np.int16))
        deadline = time.monotonic() + 10
        with pytest.raises(NoAudioDeviceError, match="device unplugged"):
            while time.monotonic() < deadline:
                sink.check()
                time.sleep(0.02)
    finally:
        sink.close()


@pytest.mark.skipif(not POSIX, reason="stand-in players are POSIX scripts")
def test_a_file_player_gets_wav_files_written_ahead(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """afplay reads files, not stdin: each sound becomes a WAV file before the session."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    copy = ("import shutil\n"
            "shutil.copy(sys.argv[1], os.path.join(os.environ['FAKE_PLAYER_DIR'], f'{time.monotonic_ns()}.wav'))")
    fake_player(tmp_path, "afplay", copy)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("FAKE_PLAYER_DIR", str(out_dir))
    sounds = [np.arange(1000, dtype=np.int16), np.full(500, -7, dtype=np.int16)]
    sink = open_sink("afplay")
    try:
        sink.prepare(sounds)
        for pcm in sounds:
            sink.play(pcm)
            time.sleep(0.3)
        deadline = time.monotonic() + 10
        while len(list(out_dir.glob("*.wav"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        sink.check()
    finally:
        sink.close()
    import wave

    got = []
    for path in sorted(out_dir.glob("*.wav")):
        with wave.open(str(path)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
            got.append(np.frombuffer(w.readframes(w.getnframes()), "<i2"))
    assert not got[0].any()  # the probe: 50 ms of silence
    assert np.array_equal(got[1], sounds[0]) and np.array_equal(got[2], sounds[1])


@pytest.mark.skipif(not POSIX, reason="stand-in players are POSIX scripts")
def test_stop_silences_the_stream_and_keeps_it_running(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pids, out = tmp_path / "pids", tmp_path / "stream.pcm"
    fake_player(tmp_path, "aplay", f"open({str(pids)!r} + '/' + str(os.getpid()), 'w').close()\n"
                                   f"with open({str(out)!r}, 'ab') as f:\n"
                                   "    while chunk := sys.stdin.buffer.read1(65536):\n        f.write(chunk)\n"
                                   "        f.flush()")
    pids.mkdir()
    monkeypatch.setenv("PATH", str(tmp_path))
    sink = StreamSink(PipeOutput("aplay", ["aplay"]))

    def written() -> np.ndarray:
        data = out.read_bytes() if out.exists() else b""
        return np.frombuffer(data[: len(data) // 2 * 2], "<i2")

    def wait_for(check: Callable[[np.ndarray], bool], what: str) -> None:
        deadline = time.monotonic() + 60  # only for a stream that never gets there: no timing is judged
        while not check(written()):
            assert time.monotonic() < deadline, what
            time.sleep(0.02)

    sound = np.ones(SAMPLE_RATE * 120, dtype=np.int16)  # two minutes: only a stop ends it within the test
    try:
        out.unlink()  # the probe's silence
        sink.start()
        sink.play(sound, time.monotonic())
        wait_for(lambda stream: np.count_nonzero(stream) >= SAMPLE_RATE // 5, "the sound reaching the player")
        sink.stop()
        # the stream goes on, with silence: a second of it after the last sample of sound
        wait_for(lambda stream: len(stream) - 1 - np.flatnonzero(stream)[-1] >= SAMPLE_RATE, "silence after stop")
        sink.check()  # stopped on purpose: no error
        assert len(list(pids.iterdir())) == 2  # the probe, then one player for the whole stream
    finally:
        sink.close()
    stream = written()
    played = np.flatnonzero(stream)
    assert SAMPLE_RATE // 5 <= len(played) < len(sound)  # cut short by the stop
    assert played[-1] - played[0] + 1 == len(played)  # one stretch of sound, cut at the stop
    assert all(not _alive(int(p.name)) for p in pids.iterdir())


@pytest.mark.skipif(not POSIX, reason="stand-in players are POSIX scripts")
def test_stop_kills_a_file_player_without_calling_it_a_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_player(tmp_path, "afplay", "time.sleep(0 if os.path.getsize(sys.argv[1]) < 10000 else 30)")
    monkeypatch.setenv("PATH", str(tmp_path))
    sink = SubprocessSink("afplay", ["afplay"])
    try:
        sink.play(np.ones(SAMPLE_RATE * 10, dtype=np.int16))
        time.sleep(0.3)
        playing = list(sink._playing)
        assert len(playing) == 1
        sink.stop()
        playing[0].wait(20)  # killed: it would sleep 30 s (TimeoutExpired, a failure, if it were not)
        time.sleep(0.2)
        sink.check()  # killed on purpose: no error
    finally:
        sink.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


def test_the_command_offers_every_backend_the_library_knows() -> None:
    from voiceguide.live import backends as live
    from voiceguide.live.names import BACKENDS

    play = main.get_command(click.Context(main), "play")
    assert play is not None
    option = next(p for p in play.params if p.name == "audio_backend")
    assert isinstance(option.type, click.Choice) and tuple(option.type.choices) == BACKENDS
    assert set(live.platform_backends("linux")) | set(live.platform_backends("darwin")) | set(
        live.platform_backends("win32")) == set(BACKENDS) - {"auto"}


class FakeOutputStream:
    """sounddevice.OutputStream as PortAudio drives it: a thread asking for each block on time."""

    def __init__(self, *, samplerate: int, channels: int, dtype: str, latency: float, blocksize: int,
                 callback: Callable[..., None]) -> None:
        assert (samplerate, channels, dtype) == (SAMPLE_RATE, 1, "int16")
        self.latency, self.blocksize, self.callback = 0.05, blocksize, callback
        self.blocks: list[np.ndarray] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        for k in itertools.count():
            if self._stop.wait(max(0.0, start + k * self.blocksize / SAMPLE_RATE - time.monotonic())):
                return
            out = np.full((self.blocksize, 1), 99, dtype=np.int16)  # whatever was there before
            self.callback(out, self.blocksize, types.SimpleNamespace(outputBufferDacTime=0, currentTime=0), None)
            self.blocks.append(out[:, 0].copy())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def close(self) -> None:
        pass


def test_sounddevice_is_used_when_it_imports_and_has_an_output(monkeypatch: pytest.MonkeyPatch) -> None:
    checks: list[int] = []
    streams: list[FakeOutputStream] = []
    fake = types.ModuleType("sounddevice")
    fake.check_output_settings = lambda **kw: checks.append(kw["samplerate"])
    fake.OutputStream = lambda **kw: streams.append(FakeOutputStream(**kw)) or streams[-1]
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    sink = open_sink("sounddevice")
    assert sink.name == "sounddevice" and checks == [SAMPLE_RATE]
    sound = np.arange(1, 4001, dtype=np.int16)
    try:
        sink.start()
        due = time.monotonic() + 0.2
        heard = sink.play(sound, due)
        assert heard is not None and heard - due == pytest.approx(DELAY_S + 0.05 + 2 * BLOCK / SAMPLE_RATE)
        time.sleep(0.6)
        sink.check()
    finally:
        sink.close()
    stream = np.concatenate(streams[0].blocks)
    played = np.flatnonzero(stream)
    assert np.array_equal(stream[played[0] : played[0] + len(sound)], sound)  # whole, in one piece
    assert len(played) == len(sound)  # and nothing else: silence around it

    def no_device(**_: object) -> None:
        raise ValueError("No output device matching ''")

    fake.check_output_settings = no_device
    with pytest.raises(NoAudioDeviceError, match="sounddevice: No output device"):
        open_sink("sounddevice")


# --------------------------------------------------------------------------- keys


@pytest.mark.skipif(not POSIX, reason="termios")
def test_key_reader_uses_cbreak_and_restores_the_terminal() -> None:
    import pty
    import termios

    master, slave = pty.openpty()
    posted: list[Command] = []
    try:
        with open(slave, "rb", buffering=0, closefd=False) as stream:
            before = termios.tcgetattr(slave)
            assert before[3] & termios.ICANON
            with KeyReader(posted.append, stream) as reader:
                assert reader.active
                during = termios.tcgetattr(slave)
                assert not during[3] & termios.ICANON and not during[3] & termios.ECHO
                os.write(master, b" nPxq")
                deadline = time.monotonic() + 5
                while len(posted) < 4 and time.monotonic() < deadline:
                    time.sleep(0.01)
            assert termios.tcgetattr(slave) == before
        with KeyReader(posted.append, io.StringIO()) as inactive:  # not a terminal: no thread, no changes
            assert not inactive.active
    finally:
        os.close(master)
        os.close(slave)
    assert posted == [Command.PAUSE, Command.NEXT, Command.BACK, Command.QUIT]


# --------------------------------------------------------------------------- the command, for real


@pytest.fixture(scope="module")
def tone_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


def tone_env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICEGUIDE_", "FORCE_COLOR", "NO_COLOR"))}
    return {**env, "VOICEGUIDE_ENGINE": "tone", "VOICEGUIDE_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}


def spoken_timeline(catalog: Catalog, routine: str, cache: Path) -> Timeline:
    """The timed script as render would compose it, from the same cached tone clips."""
    with Speech(ToneEngine, VoiceSettings(), cache=ClipCache(cache), jobs=1) as speech:
        return compose_spoken(resolve_routine(routine, catalog), catalog, ComposeOptions(), speech)


def read_events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def check_log_against_script(events: list[dict], timeline: Timeline, speed: float) -> None:
    assert len(events) == len(timeline.cues)
    for event, cue in zip(events, timeline.cues):
        assert (event["kind"], event["role"], event["text"]) == (cue.kind, cue.role, cue.text)
        assert event["start_s"] == round(cue.start_s, 3)
        assert event["scheduled_s"] == pytest.approx(cue.start_s / speed, abs=0.0006 / speed)  # JSON keeps ms
        assert event["actual_s"] >= event["scheduled_s"] - 2e-6  # never early (how late is a busy machine's)
    assert [e["actual_s"] for e in events] == sorted(e["actual_s"] for e in events)


def test_play_no_audio_for_real(catalog: Catalog, tone_cache: Path, tmp_path: Path) -> None:
    events_path, timeline_path = tmp_path / "events.jsonl", tmp_path / "timeline.json"
    proc = subprocess.run(
        [sys.executable, "-m", "voiceguide", "play", "cat-cow", "--no-audio", "--speed", "50",
         "--events", str(events_path), "--timeline", str(timeline_path)],
        capture_output=True, text=True, env=tone_env(tone_cache), timeout=120, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    timeline = spoken_timeline(catalog, "cat-cow", tone_cache)
    assert Timeline.from_dict(json.loads(timeline_path.read_text(encoding="utf-8"))).to_dict() == timeline.to_dict()
    events = read_events(events_path)
    check_log_against_script(events, timeline, 50)
    # it waited out the session at its speed (the last cue at its time), not printed it all at once
    assert events[-1]["actual_s"] >= timeline.cues[-1].start_s / 50 - 0.001 > 2.0
    # plain output: every line as it would be spoken, in order
    said = [m[1] for m in re.finditer(r"^\s*\d+:\d\d  (.+)$", proc.stdout, re.M)]
    assert said == [c.text for c in timeline.cues if c.kind == "speech"]
    assert proc.stdout.strip().endswith(f"Finished {timeline.title} (2:{int(timeline.duration_s) - 120:02d}).")
    assert not list(tmp_path.glob("*.part"))


def test_play_in_process_reports_missing_audio_and_bad_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                             tone_cache: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    monkeypatch.setenv("VOICEGUIDE_ENGINE", "tone")
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(tone_cache))
    result = CliRunner().invoke(main, ["play", "cat-cow"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no usable audio device") and "--no-audio" in lines[0]
    result = CliRunner().invoke(main, ["play", "cat-cow", "--audio-backend", "aplay"])
    assert result.exit_code == 1 and "aplay: not installed" in result.output
    result = CliRunner().invoke(main, ["play", "cat-cow", "--no-audio", "--events", str(tmp_path / "no" / "e.jsonl")])
    assert result.exit_code == 1 and "does not exist" in result.output
    result = CliRunner().invoke(main, ["play", "cat-cow", "--speed", "0"])
    assert result.exit_code == 2
    result = CliRunner().invoke(main, ["play", "cat-cwo", "--no-audio"])
    assert result.exit_code == 1 and "cat-cow" in result.output


@pytest.mark.skipif(not POSIX, reason="stand-in players are POSIX scripts")
def test_a_device_lost_during_play_ends_with_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      tone_cache: Path) -> None:
    fake_player(tmp_path, "aplay", UNPLUGGED_PLAYER)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    monkeypatch.setenv("VOICEGUIDE_ENGINE", "tone")
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(tone_cache))
    events_path = tmp_path / "events.jsonl"
    started = time.monotonic()
    result = CliRunner().invoke(main, ["play", "cat-cow", "--events", str(events_path)])
    assert time.monotonic() - started < 100  # ended by the failure: playing the session out takes over two minutes
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    # off a terminal the plain display may already have printed the first lines; the error is one line, last
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.output
    assert "audio playback failed (aplay: pcm_write: device unplugged)" in errors[0] and "--no-audio" in errors[0]
    assert "Traceback" not in result.output
    assert not events_path.exists() and not list(tmp_path.glob("*.part"))


def test_speed_other_than_one_is_a_silent_preview_that_needs_no_device(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, catalog: Catalog, tone_cache: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no players: audio would fail at once
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    monkeypatch.setenv("VOICEGUIDE_ENGINE", "tone")
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(tone_cache))
    events_path = tmp_path / "events.jsonl"
    result = CliRunner().invoke(main, ["play", "cat-cow", "--speed", "40", "--events", str(events_path)])
    assert result.exit_code == 0, result.output
    assert "--speed 40 is a silent preview" in result.stderr
    assert "Finished Cat-Cow" in result.stdout
    check_log_against_script(read_events(events_path), spoken_timeline(catalog, "cat-cow", tone_cache), 40)


# --------------------------------------------------------------------------- the keys through a pseudo-terminal


class PtyRun:
    """``voiceguide play`` in a pseudo-terminal: keys go in, the screen comes out."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        import fcntl
        import pty
        import struct
        import termios

        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become voiceguide
            os.execve(sys.executable, [sys.executable, "-m", "voiceguide", *args], {**env, "TERM": "xterm-256color"})
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.output = bytearray()
        self.status: int | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if ready:
                    data = os.read(self.fd, 65536)
                    if not data:
                        return
                    self.output += data
            except OSError:
                return

    def text(self) -> str:
        return self.output.decode(errors="replace")

    def wait_for(self, needle: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if time.monotonic() > deadline or self.poll() is not None:
                raise AssertionError(f"{needle!r} never appeared:\n{self.text()[-3000:]}")
            time.sleep(0.02)

    def lflag(self) -> int:
        import termios

        return int(termios.tcgetattr(self.fd)[3])

    def send(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def poll(self) -> int | None:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running:\n{self.text()[-3000:]}")
            time.sleep(0.02)
        self._reader.join(2)
        assert self.status is not None
        return self.status

    def close(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.fd)


@contextlib.contextmanager
def pty_play(args: list[str], env: dict[str, str]) -> Iterator[PtyRun]:
    run = PtyRun(["play", *args], env)
    try:
        yield run
    finally:
        run.close()


def chapter_runs(events: list[dict]) -> list[object]:
    """The chapters in the order they were heard (consecutive repeats collapsed)."""
    runs: list[object] = []
    for e in events:
        if not runs or runs[-1] != e["chapter"]:
            runs.append(e["chapter"])
    return runs


@pytest.mark.skipif(not POSIX, reason="pseudo-terminals")
def test_keys_through_a_pseudo_terminal(catalog: Catalog, tone_cache: Path, tmp_path: Path) -> None:
    import termios

    speed = 20
    events_path = tmp_path / "events.jsonl"
    timeline = spoken_timeline(catalog, "desk-break", tone_cache)
    with pty_play(["desk-break", "--no-audio", "--speed", str(speed), "--events", str(events_path)],
                  tone_env(tone_cache)) as run:
        run.wait_for("space pause")  # the live panel is up
        assert not run.lflag() & termios.ICANON and not run.lflag() & termios.ECHO  # cbreak while playing
        # the safety note cannot be skipped: let it play, into the first stretch, then use the keys
        time.sleep(after_safety_note(timeline) / speed + 0.3)
        for key, gap in ((b"n", 0.4), (b"n", 0.4), (b"p", 0.4), (b" ", 1.0), (b" ", 1.0), (b"q", 0)):
            run.send(key)
            time.sleep(gap)
        status = run.wait()
        screen = run.text()
        assert status == 0, screen[-3000:]
        assert run.lflag() & termios.ICANON and run.lflag() & termios.ECHO  # restored
    assert "Traceback" not in screen
    assert "Stopped at" in screen
    assert "PAUSED" in screen
    assert "Welcome to Desk break." in screen  # --no-audio prints each line above the panel
    events = read_events(events_path)
    starts = {k: ch.start_s for k, ch in enumerate(timeline.chapters)}
    # played into stretch 1; n (-> stretch 2), n (-> stretch 3), p (-> back to stretch 2)
    assert chapter_runs(events)[:5] == [None, 0, 1, 2, 1]
    firsts = [e for prev, e in itertools.pairwise(events) if e["chapter"] != prev["chapter"]][:4]
    for e, chapter in zip(firsts, (0, 1, 2, 1)):
        assert e["start_s"] == pytest.approx(starts[chapter], abs=0.001)
    # the pause shifted the schedule by about its length: compare each cue's offset from script time
    last_run = events[next(i for i, e in enumerate(events) if e is firsts[3]) :]
    offsets = [e["scheduled_s"] - e["start_s"] / speed for e in last_run]
    shift = max(offsets) - min(offsets)
    # the keys were a second apart: the schedule moved by the pause (how exactly is the fake-clock tests')
    assert shift > 0.1, offsets
    for e in events:
        assert e["actual_s"] >= e["scheduled_s"] - 2e-6  # never early


@pytest.mark.skipif(not POSIX, reason="pseudo-terminals")
def test_ctrl_c_stops_cleanly_and_restores_the_terminal(tone_cache: Path, tmp_path: Path) -> None:
    import termios

    events_path = tmp_path / "events.jsonl"
    with pty_play(["cat-cow", "--no-audio", "--speed", "20", "--events", str(events_path)],
                  tone_env(tone_cache)) as run:
        run.wait_for("space pause")
        time.sleep(0.5)
        assert not run.lflag() & termios.ICANON
        run.send(b"\x03")  # the terminal turns it into SIGINT
        status = run.wait()
        screen = run.text()
        assert run.lflag() & termios.ICANON and run.lflag() & termios.ECHO
    assert status == 130, screen[-3000:]
    assert "Traceback" not in screen and "Stopped at" in screen
    events = read_events(events_path)
    assert events and events[0]["text"] == "Welcome to Cat-Cow."


@pytest.mark.engine
def test_play_with_the_real_speech_engine(tmp_path: Path) -> None:
    events_path, timeline_path = tmp_path / "events.jsonl", tmp_path / "timeline.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEGUIDE_")}
    env |= {"VOICEGUIDE_CACHE_DIR": str(tmp_path / "clips"), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "voiceguide", "play", "cat-cow", "--no-audio", "--speed", "50",
         "--events", str(events_path), "--timeline", str(timeline_path)],
        capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    timeline = Timeline.from_dict(json.loads(timeline_path.read_text(encoding="utf-8")))
    check_log_against_script(read_events(events_path), timeline, 50)
    # measured pyttsx3 lengths, not the tone engine's: the first line is not 0.3 s per word
    first = timeline.cues[0]
    assert first.text == "Welcome to Cat-Cow." and first.duration_s != pytest.approx(ToneEngine.seconds(first.text))
