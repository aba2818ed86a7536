"""One live playback put together: scheduler, sound, display, keys, signals and the events log."""

from __future__ import annotations

import contextlib
import gc
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voiceguide.fileio import atomic_path, check_output_path
from voiceguide.live.clock import Clock
from voiceguide.live.keys import KeyReader
from voiceguide.live.scheduler import CueEvent, Display, PlaybackResult, Scheduler, SoundFor, stop_on_signals
from voiceguide.live.sinks import AudioSink
from voiceguide.session.timeline import Timeline


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the cycle collector off everything that existed before playback began.

    A full collection walks every object (catalog, numpy, rich: ~15 ms here) while holding the
    interpreter lock, which would make whichever cue is due that late; frozen, a collection only
    walks what playback itself allocated.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _switch_interval(seconds: float) -> Iterator[None]:
    """Hand the interpreter lock over sooner, so the display thread delays a deadline by less."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def write_events(path: Path, events: Sequence[CueEvent]) -> None:
    """The JSONL event log, one cue per line, written whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in events), encoding="utf-8")


@dataclass
class LiveSession:
    """Everything one live playback needs; :meth:`run` plays it with keys, signals and display."""

    timeline: Timeline
    sink: AudioSink | None = None
    sound_for: SoundFor | None = None
    speed: float = 1.0
    display: Display | None = None
    clock: Clock | None = None
    keys: bool = True
    key_stream: Any = None
    events_path: Path | None = None
    handle_signals: bool = True
    scheduler: Scheduler | None = field(default=None, init=False)

    def run(self) -> PlaybackResult:
        if self.events_path is not None:
            check_output_path(self.events_path)
        scheduler = self.scheduler = Scheduler(self.timeline, clock=self.clock, sink=self.sink,
                                               sound_for=self.sound_for, speed=self.speed, display=self.display)
        with contextlib.ExitStack() as stack:
            if self.handle_signals:
                stack.enter_context(stop_on_signals(scheduler))
            stack.enter_context(_switch_interval(0.001))
            stack.enter_context(_frozen_heap())
            if self.keys:  # keys are live before anything is shown
                stack.enter_context(KeyReader(scheduler.post, self.key_stream))
            scheduler.display.open(scheduler)
            stack.callback(scheduler.display.close)
            result = scheduler.run()
        if self.events_path is not None:
            write_events(self.events_path, result.events)
        return result
