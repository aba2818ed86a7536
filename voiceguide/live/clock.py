"""Clocks for live narration: the real monotonic one, and a fake one for tests.

The real clock sleeps, then busy-waits the last :data:`SPIN_S`, so a cue lands on its deadline
rather than when the OS happens to wake the thread; the fake one moves only when waited on.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Protocol

SPIN_S = 0.002
"""The last part of every wait is a busy-wait, because a sleeping thread wakes a little late."""


class Clock(Protocol):
    """Monotonic seconds and a way to wait that a command can cut short."""

    def now(self) -> float: ...

    def wait(self, seconds: float, wake: threading.Event) -> None:
        """Wait ``seconds``, or less if ``wake`` is set."""
        ...


class MonotonicClock:
    """The real clock: an interruptible sleep, then a short busy-wait to land on the deadline."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, seconds: float, wake: threading.Event) -> None:
        end = time.monotonic() + seconds
        coarse = seconds - SPIN_S
        if coarse > 0 and wake.wait(coarse):
            return
        while time.monotonic() < end and not wake.is_set():
            pass


class FakeClock:
    """A clock that moves only when waited on, for tests.

    ``at(t, action)`` runs ``action`` (usually posting a command) once the clock reaches ``t``;
    ``oversleep`` returns extra seconds each wait overshoots by, to model a late OS.
    """

    def __init__(self, start: float = 1000.0, oversleep: Callable[[], float] | None = None,
                 limit_s: float = 1e6) -> None:
        self.t = start
        self.oversleep = oversleep
        self.limit = start + limit_s
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._order), action))

    def wait(self, seconds: float, wake: threading.Event) -> None:
        if wake.is_set():
            return
        end = self.t + max(0.0, seconds)
        if self._timers and self._timers[0][0] <= end:
            when, _, action = heapq.heappop(self._timers)
            self.t = max(self.t, when)
            action()
            return
        self.t = end + (self.oversleep() if self.oversleep else 0.0)
        if self.t > self.limit:
            raise RuntimeError("FakeClock ran past its limit: nothing would ever wake the scheduler")
