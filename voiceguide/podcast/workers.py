"""Rendering a pack's episodes: in this process, or in parallel worker processes.

Each worker renders one episode with a Speech of its own and writes its MP3, captions and
Podcasting 2.0 chapters; the parent records each result as it arrives and shows the workers'
progress.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import contextlib
import functools
import json
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voiceguide.catalog.types import Catalog, Routine
from voiceguide.errors import PackBuildError, VoiceguideError
from voiceguide.fileio import make_temporary, remove_stale_temporaries, write_text_atomic
from voiceguide.podcast.feed import ShowInfo, chapters_document
from voiceguide.session.compose import ComposeOptions
from voiceguide.signals import STOP_SIGNALS, children_start_deaf, hear_signals
from voiceguide.sound.audio import AudioOptions, Tags
from voiceguide.voice.cores import default_jobs
from voiceguide.voice.engines import EngineFactory, VoiceSettings

EpisodeProgress = Callable[[str, str, float, float], None]
"""progress(slug, stage, done, total). Stages: 'speech' and 'audio' (as in render), then 'done'
when the episode's files are written, or 'skipped' when it was already up to date."""


@dataclass(frozen=True)
class RenderJob:
    """Everything a worker process needs to render one episode (all of it picklable)."""

    slug: str
    routine: Routine
    catalog: Catalog
    folder: Path
    compose_options: ComposeOptions
    audio_options: AudioOptions
    tags: Tags
    factory: EngineFactory
    settings: VoiceSettings
    cache_dir: Path | None
    show: ShowInfo


@dataclass(frozen=True)
class Rendered:
    """What a worker sends back about one rendered episode, for the manifest and the feed."""

    slug: str
    duration_s: float
    size: int
    chapters: list[dict[str, Any]]
    transcript: list[list[Any]]
    staged: tuple[tuple[Path, Path], ...] = ()
    stretches: int = 0
    """(temporary, final) path of each file: the parent moves them into place together when it
    records the episode, so an episode's files are never a mix of two renders."""

    def publish(self) -> None:
        """Move the episode's files into place."""
        for tmp, final in self.staged:
            os.replace(tmp, final)

    def discard(self) -> None:
        """Remove the episode's files that were never moved into place."""
        for tmp, _ in self.staged:
            tmp.unlink(missing_ok=True)


def podcast_chapters(chapters: list[dict[str, Any]], duration_s: float) -> list[dict[str, Any]]:
    """Podcasting 2.0 chapters from the timeline's covering chapters (welcome, stretches, closing,
    as in the MP3's CHAP frames): each runs to the next one's start and the last to the end."""
    result = []
    for i, chapter in enumerate(chapters):
        start = 0.0 if i == 0 else round(chapter["start_s"], 3)
        end = round(chapters[i + 1]["start_s"], 3) if i + 1 < len(chapters) else round(duration_s, 3)
        result.append({"startTime": start, "endTime": end, "title": chapter["title"]})
    return result


_progress_queue: Any = None
_stop: Any = None
"""Set by the parent before it interrupts the workers, so a job taken up after that never starts."""
_busy = False
_orphaned = False
_folder: Path | None = None
"""Where this worker writes its episodes' temporaries."""
ORPHAN_GRACE_S = 10.0
"""How long an interrupted worker has to clean up before it is ended."""


def _worker_init(progress_queue: Any, stop: Any = None) -> None:
    """Per worker process: keep the progress queue, and let Ctrl-C, SIGTERM or SIGHUP interrupt
    only a running render (an idle worker waits for the pool to shut it down instead of printing
    a traceback). A worker whose parent is gone (killed outright) stops its render too."""
    global _progress_queue, _stop
    _progress_queue = progress_queue
    _stop = stop

    def on_interrupt(signum: int, frame: Any) -> None:
        if _busy:
            raise KeyboardInterrupt

    for sig in (signal.SIGINT, *STOP_SIGNALS):
        if signal.getsignal(sig) is not signal.SIG_IGN:  # one ignored from the start (nohup) stays so
            signal.signal(sig, on_interrupt)
    hear_signals()  # held back since this process started (see render_all)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_stop_when_orphaned, args=(parent,), daemon=True).start()


def _stop_when_orphaned(parent: Any) -> None:
    """Wait for the parent to end; then interrupt the render (its clean-up runs) and exit quietly:
    the parent's message, if it could give one, is the only one."""
    global _orphaned
    parent.join()
    _orphaned = True
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # nobody is left to read what a dying pool says
    if _busy:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(ORPHAN_GRACE_S)
    _remove_own_temporaries()
    os._exit(1)


def _remove_own_temporaries() -> None:
    """Remove every temporary this worker wrote, those of finished episodes the parent never
    moved into place included: with the parent gone, nobody else will."""
    if _folder is None:
        return
    for tmp in _folder.glob(f".*.{os.getpid()}-*.part"):
        with contextlib.suppress(OSError):
            tmp.unlink()


class _QueuedProgress:
    """Progress from a worker to the parent's display, at most ten events a second per episode.

    The newest event held back is sent when the stage changes and when the episode ends, so the
    display always sees where a stage finished.
    """

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.sent_at = 0.0
        self.held: tuple[str, str, float, float] | None = None

    def __call__(self, slug: str, stage: str, done: float, total: float) -> None:
        now = time.monotonic()
        if self.held is not None and self.held[1] != stage:
            self.flush()
        if now - self.sent_at >= 0.1:
            self.sent_at = now
            self.held = None
            self.sink.put((slug, stage, done, total))
        else:
            self.held = (slug, stage, done, total)

    def flush(self) -> None:
        if self.held is not None:
            self.sink.put(self.held)
            self.held = None


def _render_job(job: RenderJob, progress: EpisodeProgress | None = None) -> Rendered:
    """Render one episode with a Speech of its own; runs in a worker process."""
    from voiceguide.sound.render import render
    from voiceguide.voice.speech import ClipCache, Speech

    global _busy, _folder
    _busy = True
    _folder = job.folder
    if _stop is not None and _stop.is_set():  # taken up after the build was told to stop
        _busy = False
        raise KeyboardInterrupt
    queued = _QueuedProgress(_progress_queue) if progress is None and _progress_queue is not None else None
    progress = progress or queued
    finals = [job.folder / f"{job.slug}{ext}" for ext in (".mp3", ".vtt", ".chapters.json")]
    staged: list[tuple[Path, Path]] = []
    try:
        staged = [(make_temporary(final), final) for final in finals]
        mp3, vtt, chapters_file = (tmp for tmp, _ in staged)
        cache = ClipCache(job.cache_dir) if job.cache_dir else None
        with Speech(job.factory, job.settings, cache=cache, jobs=1) as speech:
            result = render(
                job.routine, job.catalog, mp3, speech, compose_options=job.compose_options,
                audio_options=job.audio_options, tags=job.tags, captions_path=vtt,
                progress=(lambda stage, done, total: progress(job.slug, stage, done, total)) if progress else None,
            )
        if queued is not None:
            queued.flush()  # before the result, which travels to the parent on another pipe
        timeline = result.timeline
        chapters = podcast_chapters([c.to_dict() for c in timeline.chapters_covering()], timeline.duration_s)
        document = chapters_document(job.show, job.tags.title, chapters)
        write_text_atomic(chapters_file, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        transcript = [[round(c.start_s, 3), c.text] for c in timeline.speech()]
        return Rendered(job.slug, round(timeline.duration_s, 3), result.size_bytes, chapters, transcript,
                        tuple(staged), len(timeline.chapters))
    except BaseException:
        Rendered(job.slug, 0.0, 0, [], [], tuple(staged)).discard()
        if _orphaned:
            _remove_own_temporaries()
            os._exit(1)  # cleaned up; nobody is left to send the failure to
        raise
    finally:
        _busy = False
        if queued is not None:
            queued.flush()


RENDER_MEMORY_MB = 130.0
"""Peak memory of one episode's render where its engine does not say (as much as pyttsx3's)."""


def episode_workers(jobs: int, episodes: int, factory: EngineFactory) -> int:
    """Episodes to render at once: ``jobs`` if given, else as many as the idle cores and the free
    memory hold (a Piper episode holds a voice of its own), never more than there are episodes."""
    each = float(getattr(factory, "render_memory_mb", RENDER_MEMORY_MB))
    return max(1, min(jobs or default_jobs(each), episodes))


def render_all(jobs_list: list[RenderJob], jobs: int, record: Callable[[Rendered], None],
               progress: EpisodeProgress | None) -> None:
    """Render the jobs: in this process when one worker is enough, else in a spawn process pool.

    When an episode fails, the episodes already rendering are finished and recorded (the others
    are not started) before the failure is raised. On Ctrl-C, SIGTERM or SIGHUP every worker is
    interrupted and waited for, so none is left running and none writes after the build stops.
    """
    if not jobs_list:
        return
    workers = episode_workers(jobs, len(jobs_list), jobs_list[0].factory)
    if workers == 1:
        for job in jobs_list:
            record(_checked(job, functools.partial(_render_job, job, progress)))
        return
    ctx = multiprocessing.get_context("spawn")
    _quiet_resource_tracker()
    progress_queue = ctx.Queue()
    stop = ctx.Event()
    by_future: dict[concurrent.futures.Future[Rendered], RenderJob] = {}
    finished_slugs: set[str] = set()
    failure: PackBuildError | None = None
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_worker_init, initargs=(progress_queue, stop)
    )
    try:
        with children_start_deaf(), _relayed_stderr():  # the workers are started here, by submit
            by_future = {pool.submit(_render_job, job): job for job in jobs_list}
        pending = set(by_future)
        while pending:
            finished, pending = concurrent.futures.wait(
                pending, timeout=0.1, return_when=concurrent.futures.FIRST_COMPLETED
            )
            _drain(progress_queue, progress, finished_slugs)
            for future in finished:
                if future.cancelled():
                    continue
                job = by_future[future]
                try:
                    rendered = _checked(job, future.result)
                except PackBuildError as e:
                    failure = failure or e
                    for other in pending:
                        other.cancel()
                    continue
                record(rendered)
                finished_slugs.add(job.slug)
        if failure is not None:
            raise failure
    except BaseException:
        stop.set()
        for future in by_future:
            future.cancel()
        _stop_workers(pool, by_future)
        for future in by_future:  # results that arrived but were never recorded
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result().discard()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _drain(progress_queue, progress, finished_slugs)
        progress_queue.close()
        progress_queue.join_thread()
        # every worker has ended: what they staged and nobody moved into place goes
        remove_stale_temporaries(jobs_list[0].folder)


@contextlib.contextmanager
def _relayed_stderr() -> Iterator[None]:
    """Children started in the block write their standard error through this process.

    While it runs, what they print reaches the user as before; once it is killed outright, what
    they print on their way out (a pool torn from its parent mid-start) goes nowhere.
    """
    read_fd, write_fd = os.pipe()
    saved = os.dup(2)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    threading.Thread(target=_relay, args=(read_fd, os.dup(saved)), daemon=True).start()
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _relay(source: int, target: int) -> None:
    """Copy ``source`` to ``target`` until every writer has closed it."""
    try:
        while chunk := os.read(source, 65536):
            with contextlib.suppress(OSError):
                os.write(target, chunk)
    finally:
        os.close(source)
        os.close(target)


def _quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with its standard error on /dev/null.

    When this process is killed outright it still removes the pool's semaphores, but its warning
    about them is no message for a user.
    """
    from multiprocessing import resource_tracker

    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        resource_tracker.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _stop_workers(pool: concurrent.futures.ProcessPoolExecutor,
                  futures: Iterable[concurrent.futures.Future[Any]]) -> None:
    """Interrupt every worker's render and wait for each to clean up; kill any that will not."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # the executor keeps no public list
    for process in processes:
        if process.is_alive() and process.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.SIGINT)
    # an interrupted render ends its future; one still running past the grace time is killed
    _, running = concurrent.futures.wait(list(futures), timeout=ORPHAN_GRACE_S)
    if running:
        for process in processes:
            process.kill()


def _checked(job: RenderJob, run: Callable[[], Rendered]) -> Rendered:
    """Run or collect one render, naming the episode in any error."""
    try:
        return run()
    except VoiceguideError as e:
        raise PackBuildError(f"episode {job.slug}: {e.message}") from e
    except concurrent.futures.process.BrokenProcessPool as e:
        raise PackBuildError(f"episode {job.slug}: the worker process died ({e})") from e


def _drain(progress_queue: Any, progress: EpisodeProgress | None, finished: set[str]) -> None:
    """Pass the workers' progress events on; drop late ones for episodes already reported done
    (events and results travel on different pipes, so an event can arrive after its result)."""
    while True:
        try:
            event = progress_queue.get_nowait()
        except (queue.Empty, OSError, ValueError):
            return
        if progress and event[0] not in finished:
            progress(*event)
