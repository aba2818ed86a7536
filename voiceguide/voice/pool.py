"""Worker processes that speak lines, and the threads that level what they say into clips.

Every engine runs in a worker process of its own, a fresh interpreter (:mod:`voiceguide.voice.launch`),
so no engine ever crosses a fork. A worker that hangs or fails a line is killed and the line
retried in a fresh worker, as is a line whose audio turns out empty or silent, up to
:data:`ATTEMPTS` tries in all; then the failure is reported as a :class:`SpeechEngineError`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing.connection
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from voiceguide.errors import SpeechEngineError
from voiceguide.signals import children_start_deaf
from voiceguide.voice.clip import Clip, clip_from_audio
from voiceguide.voice.cores import default_jobs
from voiceguide.voice.engines import EngineFactory, worker_main
from voiceguide.voice.launch import WorkerProcess, start_worker
from voiceguide.voice.settings import VoiceSettings

ATTEMPTS = 3
"""Tries per line, each in a fresh worker, before speech is reported as failed."""
LEVELING_AHEAD = 3
"""Lines per leveling thread that may be spoken or wait to be leveled at once (see ``_Leveling``)."""
LOOKAHEAD_LINES = 16
"""How far down the queue a worker's next line is looked for (see ``SynthesisPool._next_for``)."""


@dataclass(eq=False)
class _Worker:
    process: WorkerProcess
    conn: multiprocessing.connection.Connection
    lanes: int = 1
    """How many lines it synthesizes at once."""
    jobs: dict[int, tuple[str, float]] = field(default_factory=dict)
    """Index -> (line, when it was handed over) of the lines it is working on."""


@dataclass
class SynthesisPool:
    """Worker processes, each with its own engine, that speak lines, and the threads that level
    what they say into clips."""

    factory: EngineFactory
    settings: VoiceSettings
    jobs: int = 0
    timeout_s: float = 20.0
    """How long one line may take (plus 50 ms per character) before its worker is replaced."""
    start_timeout_s: float = 90.0
    """How long a worker may take to start its engine (a Piper voice loads in about a second, far
    longer on a machine busy with other work)."""
    _workers: list[_Worker] = field(default_factory=list)

    def _spawn(self, count: int = 1, lanes: int = 1) -> list[_Worker]:
        """Start ``count`` workers at once (their start-ups overlap), then wait until each is ready."""
        started = []
        with children_start_deaf():  # a Ctrl-C during their start-up reaches them once they can take it
            for _ in range(count):
                process, parent = start_worker(worker_main, (self.factory, self.settings, lanes))
                started.append(_Worker(process, parent, lanes))
        problem = None
        for worker in started:
            if not worker.conn.poll(self.start_timeout_s):
                message = ("error", f"the speech engine did not start within {self.start_timeout_s:g} s")
            else:
                try:
                    message = worker.conn.recv()
                except EOFError:
                    message = ("error", f"the speech engine process exited with status {worker.process.exitcode}")
            if message[0] == "error":
                problem = problem or message[1]
        if problem is not None:
            for worker in started:
                worker.process.kill()
                worker.process.join(1)
                worker.conn.close()
            raise SpeechEngineError(problem)
        return started

    def _kill(self, worker: _Worker) -> None:
        worker.process.kill()
        worker.process.join(2)
        worker.conn.close()
        self._workers.remove(worker)

    def close(self) -> None:
        for w in self._workers:  # all are told first, so they end side by side
            with contextlib.suppress(OSError, BrokenPipeError):
                w.conn.send(None)
        for w in list(self._workers):
            w.process.join(1)
            if w.process.is_alive():
                w.process.kill()
            w.conn.close()
        self._workers.clear()

    def run(self, texts: list[str]) -> Iterator[tuple[str, Clip]]:
        """Synthesize every line, yielding ``(text, clip)`` as each finishes, in any order.

        An engine that may synthesize on several threads at once gets one worker with a lane per
        job, holding the voice once; any other engine a worker per job.
        """
        if not texts:
            return
        shared = bool(getattr(self.factory, "thread_safe", False))
        want = self.jobs or default_jobs(getattr(self.factory, "lane_memory_mb", 0.0), shared)
        want = max(1, min(want, (len(texts) + 3) // 4))
        lanes = want if shared else 1
        if sum(w.lanes for w in self._workers) < want:
            self._workers += self._spawn(-(-(want - sum(w.lanes for w in self._workers)) // lanes), lanes)
        queue = list(enumerate(texts))[::-1]
        attempts: dict[int, int] = {}
        pending = len(texts)
        with _Leveling(want) as leveling:
            while pending:
                for w in self._workers:
                    while len(w.jobs) < w.lanes and queue and leveling.has_room(self._workers):
                        chosen = self._next_for(w, queue)
                        if chosen is None:
                            break
                        index, text = queue.pop(chosen)
                        w.jobs[index] = (text, time.monotonic())
                        w.conn.send((index, text))
                busy = [w for w in self._workers if w.jobs]
                waited: list[Any] = [w.conn for w in busy] + leveling.bell()
                ready = multiprocessing.connection.wait(waited, timeout=0.5)
                for worker, index, text, clip in leveling.finished():
                    if clip is not None:
                        pending -= 1
                        yield text, clip
                    else:
                        self._retry(worker, {index: text}, "the engine produced an empty or silent clip", queue,
                                    attempts)  # fmt: skip
                now = time.monotonic()
                for w in busy:
                    if w not in self._workers:  # replaced above
                        continue
                    failure: str | None = None
                    if w.conn in ready:
                        try:
                            message = w.conn.recv()
                        except EOFError:
                            message = ("failed", None, "the speech worker exited")
                        if message[0] == "audio" and message[1] not in w.jobs:
                            continue
                        if message[0] == "audio":
                            text, _ = w.jobs.pop(message[1])
                            leveling.submit(w, message[1], text, message[2])
                            continue
                        failure = message[2]
                        failed = [message[1]] if message[1] in w.jobs else list(w.jobs)
                    else:
                        # a line may wait for the other lines its worker is making: each lane extends the limit
                        failed = [i for i, (text, started) in w.jobs.items()
                                  if now - started > (self.timeout_s + 0.05 * len(text)) * w.lanes]  # fmt: skip
                        if not failed:
                            continue
                        failure = f"the engine did not finish within {self.timeout_s:g} s"
                    self._retry(w, {i: w.jobs[i][0] for i in failed}, failure, queue, attempts)

    def _next_for(self, worker: _Worker, queue: list[tuple[int, str]]) -> int | None:
        """Where in ``queue`` the next line for ``worker`` is (the queue is taken from its end), or
        None to wait for one of its lanes to finish first.

        An engine that says what each line costs its worker (``run_cost``) and what the lines in
        flight may cost together (``run_budget``: Piper's long sentences take turns, so two never
        double the memory peak) gets, among the next few lines, the first that fits beside those
        in flight: a long line then runs beside short ones rather than waiting for another long one.
        """
        cost = getattr(self.factory, "run_cost", None)
        budget = getattr(self.factory, "run_budget", None)
        if not worker.jobs or cost is None or budget is None:
            return len(queue) - 1
        spent = sum(cost(text) for text, _ in worker.jobs.values())
        for i in range(len(queue) - 1, max(-1, len(queue) - 1 - LOOKAHEAD_LINES), -1):
            if spent + cost(queue[i][1]) <= budget:
                return i
        return None

    def _retry(
        self, worker: _Worker, failed: dict[int, str], failure: str, queue: list[tuple[int, str]],
        attempts: dict[int, int],
    ) -> None:
        """Count a failed try of each line in ``failed`` and queue it again, unless it has had all
        its tries; replace ``worker``, which is never used again after a failure (its engine may be
        wedged), queueing the other lines it was making."""
        for index, text in failed.items():
            attempts[index] = attempts.get(index, 0) + 1
            if attempts[index] >= ATTEMPTS:
                self.close()
                raise SpeechEngineError(f"speech failed {ATTEMPTS} times for {text[:60]!r}: {failure}")
        if worker in self._workers:
            others = [(i, text) for i, (text, _) in worker.jobs.items() if i not in failed]
            self._kill(worker)
            self._workers += self._spawn(1, worker.lanes)
            queue.extend(others)
        queue.extend(failed.items())


class _Leveling:
    """The workers' raw audio made into clips on threads of this process.

    Leveling here rather than in the workers keeps numpy out of a worker whose engine does not
    need it (eSpeak NG's is then 25 MB, and so is every line it forks), and lets leveling run
    whenever a core is free, such as while a Piper worker loads its voice or runs a long sentence
    alone. Each finished clip rings a bell the pool waits on beside the workers' connections. No
    more lines are handed to workers while :data:`LEVELING_AHEAD` per thread are being spoken or
    wait here, so the raw audio held stays bounded however many lines a session has.
    """

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._pool = concurrent.futures.ThreadPoolExecutor(self.threads)
        self._running: dict[concurrent.futures.Future[Clip | None], tuple[_Worker, int, str]] = {}
        self._bell = socket.socketpair()
        for end in self._bell:
            end.setblocking(False)

    def __enter__(self) -> _Leveling:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for end in self._bell:
            end.close()

    def has_room(self, workers: list[_Worker]) -> bool:
        """Whether another line may be handed out (the lines ``workers`` are making count as waiting)."""
        return len(self._running) + sum(len(w.jobs) for w in workers) < LEVELING_AHEAD * self.threads

    def bell(self) -> list[socket.socket]:
        """What to wait on for the next finished clip (nothing while none is being made)."""
        return [self._bell[0]] if self._running else []

    def submit(self, worker: _Worker, index: int, text: str, audio: bytes) -> None:
        future = self._pool.submit(clip_from_audio, audio)
        self._running[future] = (worker, index, text)
        future.add_done_callback(self._ring)

    def _ring(self, _: object) -> None:
        with contextlib.suppress(OSError):  # a full bell has rung enough
            self._bell[1].send(b"!")

    def finished(self) -> list[tuple[_Worker, int, str, Clip | None]]:
        """The clips made since last asked, each with the worker, index and line it came from."""
        with contextlib.suppress(OSError):
            while self._bell[0].recv(4096):
                pass
        done = [f for f in self._running if f.done()]
        return [(*self._running.pop(f), f.result()) for f in done]
