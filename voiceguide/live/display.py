"""Displays for live narration: a rich panel on a terminal, plain lines for pipes and logs.

Both read a :class:`~voiceguide.live.guide.Guide` and the scheduler's position; all printing
happens on the display's own thread, so a slow terminal never holds up a deadline.
"""

from __future__ import annotations

import collections
import contextlib
import math
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from voiceguide.live.guide import EPS, Guide, Status
from voiceguide.live.scheduler import CueEvent, Display, Scheduler
from voiceguide.session.timeline import Timeline

QUIET_S = 0.015
"""The display does not start drawing this close before a cue's deadline (drawing holds the interpreter lock)."""


def clock_text(seconds: float) -> str:
    m, s = divmod(int(max(0.0, seconds)), 60)
    return f"{m}:{s:02d}"


class _Writer:
    """Prints on a thread of its own, so a slow terminal or pipe never holds up a deadline."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="voiceguide-display")
        self._thread.start()

    def put(self, line: str) -> None:
        self._queue.put(line)

    def _run(self) -> None:
        while (line := self._queue.get()) is not None:
            with contextlib.suppress(OSError, ValueError):  # a closed pipe must not stop the session
                self.echo(line)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(5)
            self._thread = None


class PlainDisplay:
    """One line per spoken cue (and per stretch, pause and jump): for pipes, logs and captions."""

    def __init__(self, timeline: Timeline, echo: Callable[[str], None] | None = None) -> None:
        self.timeline = timeline
        self._writer = _Writer(echo or click.echo)
        self._chapter: int | None = None

    def open(self, view: Scheduler) -> None:
        self._writer.start()
        tl = self.timeline
        n = len(tl.chapters)
        self._writer.put(f"{tl.title}: {clock_text(tl.duration_s)}, {n} stretch{'es' if n != 1 else ''}")

    def cue(self, event: CueEvent) -> None:
        cue = event.cue
        if cue.chapter is not None and cue.chapter != self._chapter:
            ch = self.timeline.chapters[cue.chapter]
            self._writer.put(f"== Stretch {cue.chapter + 1} of {len(self.timeline.chapters)}: {ch.title}")
        self._chapter = cue.chapter
        if cue.kind == "speech" and cue.text:
            self._writer.put(f"{clock_text(cue.start_s):>6}  {cue.text}")

    def paused(self, paused: bool, position_s: float) -> None:
        self._writer.put(f"-- {'paused' if paused else 'resumed'} at {clock_text(position_s)}")

    def jumped(self, position_s: float) -> None:
        self._chapter = None
        self._writer.put(f"-- jumped to {clock_text(position_s)}")

    def close(self) -> None:
        self._writer.close()


class RichDisplay:
    """A live panel on a terminal: stretch, side and set, the line, hold and breath, time, what is next.

    With ``transcript``, every spoken line is also printed above the panel (for --no-audio).
    All drawing happens on the display's own thread; the scheduler only hands it lines.
    """

    def __init__(self, timeline: Timeline, console: Console | None = None, *, transcript: bool = False,
                 keys: bool = True, refresh_per_second: float = 8) -> None:
        self.timeline = timeline
        self.console = console or Console()
        self.transcript = transcript
        self.keys = keys
        self.guide = Guide(timeline)
        self.refresh_per_second = refresh_per_second
        self._view: Scheduler | None = None
        self._live: Live | None = None
        self._lines: collections.deque[Text] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self, view: Scheduler) -> None:
        self._view = view
        self._live = Live(console=self.console, get_renderable=self.render, auto_refresh=False,
                          transient=False, redirect_stdout=False, redirect_stderr=False)
        self._live.start(refresh=True)
        self._thread = threading.Thread(target=self._run, daemon=True, name="voiceguide-display")
        self._thread.start()

    def _flush(self) -> None:
        while self._lines:
            self.console.print(self._lines.popleft())

    def _keep_clear(self, max_defer_s: float = 0.25) -> None:
        """Wait while a cue is due within :data:`QUIET_S`: a frame drawn then could make it late."""
        view = self._view
        if view is None:
            return
        started = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - started < max_defer_s:
            deadline = view.next_deadline
            ahead = deadline - view.clock.now() if deadline is not None else None
            if ahead is None or ahead >= QUIET_S or ahead < -0.1:
                return
            time.sleep(max(0.0, ahead) + 0.003)

    def _run(self) -> None:
        assert self._live is not None
        while not self._stop.is_set():
            self._wake.wait(1 / self.refresh_per_second)
            self._wake.clear()
            self._keep_clear()
            with contextlib.suppress(OSError, ValueError):
                self._flush()
                self._live.refresh()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._live is not None:
            with contextlib.suppress(OSError, ValueError):
                self._flush()
                self._live.refresh()
            self._live.stop()
            self._live = None

    def cue(self, event: CueEvent) -> None:
        cue = event.cue
        if self.transcript and cue.kind == "speech" and cue.text:
            self._lines.append(Text.assemble((f"{clock_text(cue.start_s):>6}  ", "dim"), cue.text))
            self._wake.set()

    def paused(self, paused: bool, position_s: float) -> None:
        self._wake.set()

    def jumped(self, position_s: float) -> None:
        self._wake.set()

    def render(self) -> RenderableType:
        view = self._view
        position = view.position() if view is not None else 0.0
        ending = getattr(view, "ending", None)
        paused = view.paused if view is not None and ending is None else False
        return self.panel(self.guide.status(position), paused, ending)

    def panel(self, s: Status, paused: bool = False, ending: str | None = None) -> Panel:
        """The panel for one moment (public so tests can render it without a live terminal)."""
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
        where = Text()
        if s.chapter is not None:
            where.append(f"Stretch {s.chapter + 1} of {s.chapter_count}  ", "dim")
            where.append(s.chapter_title or "", "bold")
        else:
            where.append("Closing" if s.position_s > 0 and s.next_title is None else "Welcome", "bold")
        details = []
        if s.side:
            details.append(f"{s.side} side")
        if s.set_of:
            details.append(f"set {s.set_of[0]} of {s.set_of[1]}")
        if s.rep_of:
            details.append(f"rep {s.rep_of[0]}" + (f" of {s.rep_of[1]}" if s.rep_of[1] else ""))
        if details:
            where.append("  ·  " + "  ·  ".join(details), "cyan")
        if ending is not None:
            where.append("   Finished" if ending == "finished" else "   Stopped", "bold green")
        elif paused:
            where.append("   PAUSED", "bold yellow")
        grid.add_row("Now", where)
        grid.add_row("Voice", Text(s.line or "", style="bold" if s.speaking else "dim"))
        if s.hold_left_s is not None and s.hold_s:
            hold = Table.grid(padding=(0, 1))
            hold.add_row(ProgressBar(total=s.hold_s, completed=s.hold_s - s.hold_left_s, width=24),
                         Text(f"{math.ceil(s.hold_left_s - EPS):d} s left", "bold"))
            grid.add_row("Hold", hold)
        if s.breath is not None and s.breath_left_s is not None:
            arrow = "▲ in " if s.breath == "in" else "▼ out"
            grid.add_row("Breath", Text.assemble((arrow, "bold green" if s.breath == "in" else "bold blue"),
                                                 (f"  {math.ceil(s.breath_left_s - EPS):d}", "dim")))
        else:
            grid.add_row("Breath", Text("·", "dim"))
        time_row = Table.grid(padding=(0, 1))
        time_row.add_row(Text(f"{clock_text(s.position_s)} elapsed"),
                         ProgressBar(total=max(s.duration_s, EPS), completed=s.position_s, width=24),
                         Text(f"{clock_text(s.remaining_s)} left"))
        grid.add_row("Time", time_row)
        nxt = Text(s.next_title or "the end of the session")
        if s.next_line:
            nxt.append(f"   then: “{s.next_line}”", "dim")
        grid.add_row("Next", nxt)
        hint = "space pause · n next · p back · q quit" if self.keys else None
        if self.keys and s.in_safety_note:
            hint = "space pause · the safety note plays to its end; n skips after it · q quit"
        return Panel(Group(grid), title=self.timeline.title, subtitle=hint, border_style="yellow" if paused else "blue")



def make_display(timeline: Timeline, *, transcript: bool, keys: bool, stdout: Any = None) -> Display:
    """Rich Live when stdout is a terminal, plain lines otherwise."""
    stream = stdout if stdout is not None else sys.stdout
    try:
        is_tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        is_tty = False
    if is_tty:
        return RichDisplay(timeline, Console(file=stream), transcript=transcript, keys=keys)
    return PlainDisplay(timeline)
