"""The scheduler: every cue of a timeline started at its deadline on a clock.

Nothing here re-derives timing: a cue starts at ``origin + cue.start_s / speed`` on a monotonic
clock, ``origin`` moving only on a command (pause, next, back). Deadlines are absolute, so a
late wake-up delays one cue and is never carried into the next one.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import enum
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any, Literal, Protocol

from voiceguide.live.clock import Clock, MonotonicClock
from voiceguide.live.guide import EPS, Guide
from voiceguide.live.sinks import AudioSink, Pcm
from voiceguide.session.timeline import Cue, Timeline
from voiceguide.voice.speech import SAMPLE_RATE

SoundFor = Callable[[Cue], Pcm | None]

POLL_S = 0.05
"""Longest single wait: how soon a command or Ctrl-C is noticed while a long silence runs."""


class Command(enum.Enum):
    """What a key (or a signal) asks of the scheduler."""

    PAUSE = "pause"
    """Pause, or resume when paused."""
    NEXT = "next"
    BACK = "back"
    QUIT = "quit"
    INTERRUPT = "interrupt"
    """Ctrl-C: stop like quit, but report it as an interruption."""


@dataclass(frozen=True)
class CueEvent:
    """One cue as it was started, in wall seconds since playback began."""

    index: int
    cue: Cue
    scheduled_s: float
    """When it was due."""
    actual_s: float
    """When the scheduler handed it over."""
    heard_s: float | None = None
    """When its sound reaches the speaker, where the sound backend reports its stream latency."""

    @property
    def drift_s(self) -> float:
        return self.actual_s - self.scheduled_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "kind": self.cue.kind,
            "role": self.cue.role,
            "text": self.cue.text,
            "chapter": self.cue.chapter,
            "start_s": round(self.cue.start_s, 3),
            "scheduled_s": round(self.scheduled_s, 6),
            "actual_s": round(self.actual_s, 6),
            "heard_s": None if self.heard_s is None else round(self.heard_s, 6),
        }


Ending = Literal["finished", "quit", "interrupted"]


@dataclass
class PlaybackResult:
    """How a session went: every cue started, where it stopped and why."""

    events: list[CueEvent]
    position_s: float
    wall_s: float
    ending: Ending

    @property
    def max_drift_s(self) -> float:
        return max((abs(e.drift_s) for e in self.events), default=0.0)


class Display(Protocol):
    """What the scheduler tells a display; the display may also poll the scheduler's position."""

    def open(self, view: Scheduler) -> None: ...

    def cue(self, event: CueEvent) -> None: ...

    def paused(self, paused: bool, position_s: float) -> None: ...

    def jumped(self, position_s: float) -> None: ...

    def close(self) -> None: ...


class NullDisplay:
    """Shows nothing (tests, benchmarks)."""

    def open(self, view: Scheduler) -> None:
        pass

    def cue(self, event: CueEvent) -> None:
        pass

    def paused(self, paused: bool, position_s: float) -> None:
        pass

    def jumped(self, position_s: float) -> None:
        pass

    def close(self) -> None:
        pass


class Scheduler:
    """Starts every cue of a timeline at ``origin + cue.start_s / speed`` on the clock.

    ``origin`` is the wall time of script position 0. It starts at the moment playback begins
    and moves only on a command: resuming shifts it by the time spent paused (nothing is
    skipped), a jump sets it so the target position is now. Commands come from other threads
    through :meth:`post`; :meth:`interrupt` is safe to call from a signal handler.

    Sound comes from ``sound_for(cue)`` into ``sink``; without either, the schedule runs silent.
    """

    def __init__(
        self,
        timeline: Timeline,
        *,
        clock: Clock | None = None,
        sink: AudioSink | None = None,
        sound_for: SoundFor | None = None,
        speed: float = 1.0,
        display: Display | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.timeline = timeline
        self.clock: Clock = clock or MonotonicClock()
        self.sink = sink
        self.sound_for = sound_for if sink is not None else None
        self.speed = speed
        self.display: Display = display or NullDisplay()
        self.guide = Guide(timeline)
        self.events: list[CueEvent] = []
        self._commands: collections.deque[Command] = collections.deque()
        self._wake = threading.Event()
        self._t0 = self._origin = self.clock.now()
        self._paused_at: float | None = None
        self.ending: Ending | None = None
        """How the run ended, once it has (a display says "Finished" rather than "paused")."""
        """The script position while paused, else None."""
        self._running = False
        self.next_deadline: float | None = None
        """Clock time of the next cue while playing, so a display can keep out of its way."""

    # -- commands

    def post(self, command: Command) -> None:
        self._commands.append(command)
        self._wake.set()

    def interrupt(self) -> None:
        """Ask to stop from a signal handler: a lock-free append, noticed within :data:`POLL_S`."""
        self._commands.append(Command.INTERRUPT)

    def _next_command(self) -> Command | None:
        try:
            return self._commands.popleft()
        except IndexError:
            self._wake.clear()
        try:  # a command posted between the first look and the clear
            return self._commands.popleft()
        except IndexError:
            return None

    # -- state a display reads

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def position(self) -> float:
        """Where in the script playback is now, in script seconds."""
        if self._paused_at is not None:
            return self._paused_at
        if not self._running:
            return 0.0
        return min(max(0.0, (self.clock.now() - self._origin) * self.speed), self.timeline.duration_s)

    # -- the loop

    def _wait_until(self, deadline: float) -> Command | None:
        """Wait for ``deadline`` or a command, whichever comes first."""
        while True:
            command = self._next_command()
            if command is not None:
                return command
            remaining = deadline - self.clock.now()
            if remaining <= 0:
                return None
            self.clock.wait(min(remaining, POLL_S), self._wake)

    def _wait_command(self) -> Command:
        while True:
            command = self._next_command()
            if command is not None:
                return command
            self.clock.wait(POLL_S, self._wake)

    def run(self) -> PlaybackResult:
        """Play the whole timeline (or until quit); return every cue's scheduled and actual start."""
        cues = self.timeline.cues
        speed = self.speed
        if self.sink is not None:
            self.sink.start()
        self._t0 = self._origin = self.clock.now()
        self._running = True
        i = 0
        ending: Ending = "finished"
        try:
            while True:
                command: Command | None
                if self._paused_at is not None:
                    command = self._wait_command()
                else:
                    target = cues[i].start_s if i < len(cues) else self.timeline.duration_s
                    deadline = self._origin + target / speed
                    self.next_deadline = deadline
                    command = self._wait_until(deadline)
                    self.next_deadline = None
                    if command is None:
                        if i >= len(cues):
                            break
                        self._start(i, deadline)
                        i += 1
                        continue
                if command in (Command.QUIT, Command.INTERRUPT):
                    ending = "quit" if command is Command.QUIT else "interrupted"
                    break
                if command is Command.PAUSE:
                    self._toggle_pause(i)
                else:
                    i = self._jump(command, i)
        finally:
            position = self.position()
            self._running = False
            self._paused_at = position
            self.ending = ending
            if self.sink is not None and not (ending == "finished" and i >= len(cues)):
                self.sink.stop()  # a session that ran to its end lets its last line play out
        return PlaybackResult(self.events, position, self.clock.now() - self._t0, ending)

    def _start(self, i: int, deadline: float) -> None:
        cue = self.timeline.cues[i]
        heard = None
        if self.sound_for is not None and self.sink is not None:
            pcm = self.sound_for(cue)
            if pcm is not None and len(pcm):
                heard = self.sink.play(pcm, deadline)
        actual = self.clock.now()
        event = CueEvent(i, cue, deadline - self._t0, actual - self._t0, None if heard is None else heard - self._t0)
        self.events.append(event)
        self.display.cue(event)
        if self.sink is not None:
            self.sink.check()

    def _toggle_pause(self, i: int) -> None:
        now = self.clock.now()
        if self._paused_at is None:
            self._paused_at = self.position()
            if self.sink is not None:
                self.sink.stop()
            self.display.paused(True, self._paused_at)
            return
        position, self._paused_at = self._paused_at, None
        self._origin = now - position / self.speed
        self.display.paused(False, position)
        # the line cut off by the pause goes on from where it stopped
        if i > 0 and self.sound_for is not None and self.sink is not None:
            cue = self.timeline.cues[i - 1]
            if cue.start_s <= position < cue.end_s:
                pcm = self.sound_for(cue)
                offset = round((position - cue.start_s) * SAMPLE_RATE)
                if pcm is not None and offset < len(pcm):
                    self.sink.play(pcm[offset:], now)

    def jump_target(self, command: Command, position: float) -> float | None:
        """Script position of the next or previous stretch from ``position``, or None to stay.

        Next: the start of the next stretch; from the last stretch, the closing; from the
        closing, nothing; from the welcome, the safety note, which plays to its end. Back: the
        start of the stretch before the current one (the first
        stretch restarts itself); from the closing, the last stretch; from the welcome, the start.
        """
        chapters = self.timeline.chapters
        if command is Command.NEXT:
            note = [c for c in self.timeline.cues if c.role == "safety" and c.chapter is None
                    and (not chapters or c.end_s <= chapters[0].start_s + EPS)]
            if note and position < note[-1].end_s - EPS:  # the safety note is never skipped
                return note[0].start_s if position < note[0].start_s - EPS else None
            later = [ch.start_s for ch in chapters if ch.start_s > position + EPS]
            if later:
                return later[0]
            if chapters and position < chapters[-1].end_s - EPS:
                return chapters[-1].end_s
            return None
        current = self.guide.chapter_at(position)
        if current is not None:
            return chapters[max(current - 1, 0)].start_s
        before = [ch.start_s for ch in chapters if ch.end_s <= position + EPS]
        return before[-1] if before else 0.0

    def _jump(self, command: Command, i: int) -> int:
        target = self.jump_target(command, self.position())
        if target is None:
            return i
        if self.sink is not None:
            self.sink.stop()
        if self._paused_at is not None:
            self._paused_at = target
        else:
            self._origin = self.clock.now() - target / self.speed
        self.display.jumped(target)
        return bisect.bisect_left(self.guide.starts, target - EPS)



@contextlib.contextmanager
def stop_on_signals(scheduler: Scheduler) -> Iterator[None]:
    """Ctrl-C (and SIGTERM) stop the session cleanly rather than raising mid-playback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: FrameType | None) -> None:
        scheduler.interrupt()

    wanted = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {sig: signal.signal(sig, handler) for sig in wanted}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
