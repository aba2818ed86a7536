"""Rendering a pack's episodes: in this process, or in parallel worker processes.

Each worker renders one episode with a Speech of its own and writes its MP3, captions and
Podcasting 2.0 chapters; the parent records each result as it arrives and shows the workers'
progress.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import multiprocessing
import os
import queue
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voiceguide.catalog.types import Catalog, Routine
from voiceguide.errors import PackBuildError, VoiceguideError
from voiceguide.fileio import write_text_atomic
from voiceguide.podcast.feed import ShowInfo, chapters_document
from voiceguide.session.compose import ComposeOptions
from voiceguide.sound.audio import AudioOptions, Tags
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
_busy = False


def _worker_init(progress_queue: Any) -> None:
    """Per worker process: keep the progress queue, and let Ctrl-C interrupt only a running render
    (an idle worker waits for the pool to shut it down instead of printing a traceback)."""
    global _progress_queue
    _progress_queue = progress_queue

    def on_interrupt(signum: int, frame: Any) -> None:
        if _busy:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)


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

    global _busy
    _busy = True
    queued = _QueuedProgress(_progress_queue) if progress is None and _progress_queue is not None else None
    progress = progress or queued
    try:
        mp3 = job.folder / f"{job.slug}.mp3"
        vtt = job.folder / f"{job.slug}.vtt"
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
        write_text_atomic(job.folder / f"{job.slug}.chapters.json",
                          json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        transcript = [[round(c.start_s, 3), c.text] for c in timeline.speech()]
        return Rendered(job.slug, round(timeline.duration_s, 3), result.size_bytes, chapters, transcript)
    finally:
        _busy = False
        if queued is not None:
            queued.flush()


def render_all(jobs_list: list[RenderJob], jobs: int, record: Callable[[Rendered], None],
                progress: EpisodeProgress | None) -> None:
    """Render the jobs: in this process when one worker is enough, else in a spawn process pool."""
    if not jobs_list:
        return
    workers = min(jobs or (os.cpu_count() or 1), len(jobs_list))
    if workers == 1:
        for job in jobs_list:
            record(_checked(job, functools.partial(_render_job, job, progress)))
        return
    ctx = multiprocessing.get_context("spawn")
    progress_queue = ctx.Queue()
    by_future: dict[concurrent.futures.Future[Rendered], RenderJob] = {}
    finished_slugs: set[str] = set()
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_worker_init, initargs=(progress_queue,)
    ) as pool:
        try:
            by_future = {pool.submit(_render_job, job): job for job in jobs_list}
            pending = set(by_future)
            while pending:
                finished, pending = concurrent.futures.wait(
                    pending, timeout=0.1, return_when=concurrent.futures.FIRST_COMPLETED
                )
                _drain(progress_queue, progress, finished_slugs)
                for future in finished:
                    job = by_future[future]
                    record(_checked(job, future.result))
                    finished_slugs.add(job.slug)
        except BaseException:
            for future in by_future:
                future.cancel()
            raise
        finally:
            _drain(progress_queue, progress, finished_slugs)


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
