"""Making sessions one at a time: a small queue, progress a page can follow, and cancelling.

One worker thread makes one session at a time (a render already uses every core); up to
:data:`MAX_WAITING` more wait their turn, and past that :meth:`Jobs.submit` raises :class:`Busy`.
A job's progress comes from the render's own hooks; cancelling makes the next hook raise
:class:`Cancelled`, which unwinds the render like any failure (speech workers and ffmpeg stopped,
nothing half-written kept).
"""

from __future__ import annotations

import collections
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voiceguide.errors import VoiceguideError
from voiceguide.studio.asks import Ask

MAX_WAITING = 2
"""Requests queued behind the one being made."""
KEPT = 20
"""Finished jobs remembered, so a page that reconnects still learns how its job ended."""
SPEECH_SHARE = 0.3
"""How much of the bar speaking the lines fills; building the audio fills the rest."""
FINAL = ("done", "failed", "cancelled")


class Busy(VoiceguideError):
    """Raised when a session is asked for while one is being made and the queue behind it is full."""


class Cancelled(VoiceguideError):
    """Raised in a render's progress hook once the person asked to cancel the job."""


@dataclass
class Job:
    """One session being asked for, made, or finished."""

    id: str
    ask: Ask
    state: str = "queued"
    """queued, making, done, failed or cancelled."""
    message: str = "waiting for its turn"
    fraction: float = 0.0
    lines_done: int = 0
    lines_total: int = 0
    session: str | None = None
    error: str | None = None
    version: int = 0
    cancel_asked: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def update(self, **changes: Any) -> None:
        with self.lock:
            for name, value in changes.items():
                setattr(self, name, value)
            self.version += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"id": self.id, "state": self.state, "message": self.message, "fraction": round(self.fraction, 4),
                    "lines_done": self.lines_done, "lines_total": self.lines_total, "session": self.session,
                    "error": self.error, "version": self.version}

    def progress(self, stage: str, done: float, total: float) -> None:
        """The render's progress hook: ``speech`` counts lines, ``audio`` seconds of sound."""
        if self.cancel_asked.is_set():
            raise Cancelled("cancelled")
        part = min(1.0, done / total) if total > 0 else 1.0
        if stage == "speech":
            total_lines = int(total)
            message = f"speaking {int(done)} of {total_lines} lines" if total_lines else "every line already spoken"
            # a render that needs more lines after its first fit adds them to the total: the bar never goes back
            fraction = max(self.fraction, SPEECH_SHARE * part)
            self.update(message=message, fraction=fraction, lines_done=int(done), lines_total=total_lines)
        else:
            self.update(message=f"building the audio: {done / 60:.1f} of {total / 60:.1f} min",
                        fraction=SPEECH_SHARE + (1 - SPEECH_SHARE) * part)


Work = Callable[[Job], str]
"""Makes the job's session and returns its library id; raises on failure."""


class Jobs:
    """The queue and its one worker thread."""

    def __init__(self, work: Work, max_waiting: int = MAX_WAITING) -> None:
        self.work = work
        self.max_waiting = max_waiting
        self.jobs: dict[str, Job] = {}
        self._waiting: collections.deque[Job] = collections.deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="voiceguide-studio-maker", daemon=True)
        self._thread.start()

    def submit(self, ask: Ask) -> Job:
        with self._wake:
            if len(self._waiting) >= self.max_waiting + (0 if self._busy() else 1):
                raise Busy(f"busy: one session is being made and {len(self._waiting)} "
                           f"{'is' if len(self._waiting) == 1 else 'are'} waiting; try again when one is done")
            job = Job(secrets.token_hex(8), ask)
            self.jobs[job.id] = job
            self._waiting.append(job)
            self._forget_old()
            self._wake.notify()
        return job

    def _busy(self) -> bool:
        return any(j.state == "making" for j in self.jobs.values())

    def cancel(self, job_id: str) -> Job | None:
        """Ask a job to stop: a waiting one is dropped at once, a running one at its next progress hook."""
        job = self.jobs.get(job_id)
        if job is None:
            return None
        with self._wake:
            job.cancel_asked.set()
            if job in self._waiting:
                self._waiting.remove(job)
                job.update(state="cancelled", message="cancelled")
        return job

    def stop(self, timeout: float = 30) -> None:
        """Cancel everything and wait for the worker to finish unwinding."""
        with self._wake:
            self._stopping = True
            for job in list(self.jobs.values()):
                job.cancel_asked.set()
            self._waiting.clear()
            self._wake.notify()
        self._thread.join(timeout)

    def _forget_old(self) -> None:
        finished = [j for j in self.jobs.values() if j.state in FINAL]
        for job in finished[: max(0, len(finished) - KEPT)]:
            del self.jobs[job.id]

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                job = self._waiting.popleft()
                job.update(state="making", message="starting")
            try:
                session = self.work(job)
            except Cancelled:
                job.update(state="cancelled", message="cancelled")
            except VoiceguideError as e:
                job.update(state="failed", message="failed", error=e.format_message())
            except Exception as e:  # a fault in the maker must not end the worker thread
                job.update(state="failed", message="failed", error=f"{type(e).__name__}: {e}")
            else:
                job.update(state="done", message="ready", fraction=1.0, session=session)
