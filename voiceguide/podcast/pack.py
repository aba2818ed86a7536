"""Podcast packs: a YAML list of episodes in, a folder a phone can subscribe to out.

A pack names its episodes (catalog routines or inline ones) and the show around them. Building
renders every episode that changed, in parallel worker processes, and writes beside the MP3s the
Podcasting 2.0 chapters, the transcript, a cover, the feed and a page. A manifest records a hash
of everything that shapes each episode's sound and tags, so an unchanged episode is never
rendered again and its bytes, guid and date stay what they were.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime
import functools
import hashlib
import json
import multiprocessing
import os
import queue
import re
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from voiceguide import __version__
from voiceguide.catalog.model import (
    Catalog,
    Collector,
    Field,
    Routine,
    boolean,
    check_routine_shape,
    choice,
    kebab,
    list_of,
    mapping,
    nullable,
    number,
    routine_from_document,
    text,
    unknown_message,
)
from voiceguide.catalog.yamlio import Document, PathKey, load_document
from voiceguide.errors import CatalogError, FitError, OutputPathError, Problem, UnknownIdError, VoiceguideError
from voiceguide.fileio import atomic_path, write_text_atomic
from voiceguide.podcast.cover import cover_problem, generate_cover, podcast_cover
from voiceguide.podcast.feed import EpisodeInfo, ShowInfo, build_feed, chapters_document, normalize_base_url
from voiceguide.podcast.page import build_page
from voiceguide.session.compose import ComposeOptions, compose
from voiceguide.sound.audio import AudioOptions, Tags
from voiceguide.voice.engines import DEFAULT_RATE_WPM, ENGINE_CHOICES, EngineFactory, VoiceSettings, engine_factory

PACK_FORMAT = 1
"""Bumped when what a build writes changes shape, so older builds are rendered afresh."""
MANIFEST = ".voiceguide-pack.json"
DEFAULT_BASE_URL = "http://localhost:8000/"
PUBLISH_HOUR_UTC = 6
"""Episodes are dated at this hour (UTC) of their day: a fixed time keeps rebuilds identical."""
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GUID_NAMESPACE = uuid.UUID("6b0d1c52-6f1e-5d0a-9a57-766f69636567")


class PackBuildError(VoiceguideError):
    """Raised when an episode of a pack fails to render or a pack's output folder is unusable."""


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Episode:
    """One episode of a pack: a routine with its own title, description and length."""

    number: int
    id: str
    """Stable name of the episode within the pack: its guid and file name derive from it."""
    title: str
    description: str
    routine: Routine
    minutes: float | None = None

    def slug(self, width: int = 2) -> str:
        return f"{self.number:0{width}d}-{self.id}"


@dataclass(frozen=True)
class Pack:
    """A show of episodes, as read from a pack YAML file."""

    id: str
    title: str
    description: str
    author: str
    language: str
    start_date: datetime.date
    """The first episode's date; each next one comes a day later."""
    episodes: tuple[Episode, ...]
    cover: Path | None = None
    engine: str | None = None
    """auto, piper, pyttsx3 or tone; None: as ``--engine`` or ``VOICEGUIDE_ENGINE`` say, else auto."""
    voice: str | None = None
    rate: int = DEFAULT_RATE_WPM
    link: str | None = None
    email: str | None = None
    explicit: bool = False
    source: str = ""

    @property
    def slug_width(self) -> int:
        return max(2, len(str(len(self.episodes))))

    def slug(self, episode: Episode) -> str:
        return episode.slug(self.slug_width)

    def pub_date(self, episode: Episode) -> datetime.datetime:
        day = self.start_date + datetime.timedelta(days=episode.number - 1)
        return datetime.datetime(day.year, day.month, day.day, PUBLISH_HOUR_UTC, tzinfo=datetime.timezone.utc)

    def guid(self, episode: Episode) -> str:
        """Never changes for the same pack and episode id, whatever is re-rendered."""
        return f"urn:uuid:{uuid.uuid5(_GUID_NAMESPACE, f'{self.id}/{episode.id}')}"

    def show(self) -> ShowInfo:
        return ShowInfo(self.id, self.title, self.description, self.author, self.language,
                        self.link, self.email, self.explicit)


# --------------------------------------------------------------------------- validation


def _language(value: Any) -> list[tuple[PathKey, str]]:
    if not isinstance(value, str) or not _LANGUAGE.match(value):
        return [((), "must be a language code such as en or en-GB")]
    return []


def _date(value: Any) -> list[tuple[PathKey, str]]:
    if isinstance(value, datetime.datetime) or not isinstance(value, (datetime.date, str)):
        return [((), "must be a date written YYYY-MM-DD")]
    if isinstance(value, str):
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            return [((), "must be a date written YYYY-MM-DD")]
    return []


def _url(value: Any) -> list[tuple[PathKey, str]]:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value):
        return [((), "must be an absolute http(s) URL")]
    return []


def _email(value: Any) -> list[tuple[PathKey, str]]:
    if not isinstance(value, str) or not _EMAIL.match(value):
        return [((), "must be an e-mail address")]
    return []


def _whole(lo: int, hi: int) -> Callable[[Any], list[tuple[PathKey, str]]]:
    inner = number(lo, hi)

    def check(value: Any) -> list[tuple[PathKey, str]]:
        problems = inner(value)
        if not problems and value != int(value):
            return [((), f"must be a whole number from {lo} to {hi}")]
        return problems

    return check


def _routine_ref(value: Any) -> list[tuple[PathKey, str]]:
    """A routine id, or a whole routine written inline."""
    if isinstance(value, str):
        return kebab(value)
    if isinstance(value, dict):
        return check_routine_shape(value)
    return [((), "must be a routine id or an inline routine (a mapping with id, title and stretches)")]


EPISODE_FIELDS = [
    Field("id", kebab, required=False),
    Field("routine", _routine_ref),
    Field("title", text),
    Field("description", text, required=False),
    Field("minutes", nullable(number(0.5, 240)), required=False),
]

PACK_FIELDS = [
    Field("id", kebab),
    Field("title", text),
    Field("description", text),
    Field("author", text),
    Field("language", _language),
    Field("start_date", _date),
    Field("cover", nullable(text), required=False),
    Field("engine", nullable(choice(ENGINE_CHOICES)), required=False),
    Field("voice", nullable(text), required=False),
    Field("rate", _whole(60, 400), required=False),
    Field("link", nullable(_url), required=False),
    Field("email", nullable(_email), required=False),
    Field("explicit", boolean, required=False),
    Field("episodes", list_of(mapping(EPISODE_FIELDS), non_empty=True)),
]
check_pack_shape = mapping(PACK_FIELDS)


def _sub_document(doc: Document, prefix: PathKey) -> Document:
    """The part of ``doc`` under ``prefix`` as a document of its own, keeping its lines."""
    n = len(prefix)
    lines: dict[PathKey, int] = {}
    for path, line in doc.lines.items():
        if path[:n] == prefix:
            lines[path[n:]] = line
        elif path[:1] == ("#key",) and path[1 : n + 1] == prefix:
            lines[("#key",) + path[n + 1 :]] = line
    data = doc.data
    for key in prefix:
        data = data[key]
    return Document(doc.file, data, lines)


def _prefixed(problem: Problem, prefix: str) -> Problem:
    name = prefix if not problem.field else f"{prefix}.{problem.field}"
    return Problem(problem.file, problem.line, name, problem.message)


def _under(problems: list[tuple[PathKey, str]], prefix: PathKey) -> bool:
    """True if any problem lies at or under ``prefix`` (an unknown key's ``#key`` marker ignored)."""
    n = len(prefix)
    return any(tuple(q for q in p if q != "#key")[:n] == prefix for p, _ in problems)


def pack_from_document(doc: Document, catalog: Catalog, base_dir: Path | None = None,
                       expected_id: str | None = None) -> Pack:
    """Validate a pack document completely and build it, or raise every problem at once.

    Shape problems do not stop the checks that can still run: an episode whose own fields are
    well formed has its routine looked up and fitted even when another field is wrong.
    ``base_dir`` is where a relative cover path is looked up (the pack file's folder).
    """
    out = Collector(doc)
    data = doc.data
    shape = check_pack_shape(data)
    out.extend(shape)
    if not isinstance(data, dict):
        raise CatalogError(out.problems)

    def fine(*path: Any) -> bool:
        return path[0] in data and not _under(shape, path)

    base_dir = base_dir or Path(".")
    if expected_id and fine("id") and data["id"] != expected_id:
        out.add(("id",), f"'{data['id']}' does not match the file name '{expected_id}.yaml'")
    cover = None
    if fine("cover") and data["cover"]:
        cover = base_dir / data["cover"]
        problem = cover_problem(cover)
        if problem:
            out.add(("cover",), problem)
    episodes: list[Episode] = []
    seen: dict[str, int] = {}
    entries: list[Any] = data["episodes"] if isinstance(data.get("episodes"), list) else []
    for i, entry in enumerate(entries):
        at: PathKey = ("episodes", i)
        if not isinstance(entry, dict) or "routine" not in entry or _under(shape, (*at, "routine")):
            continue
        ref = entry["routine"]
        routine: Routine | None = None
        if isinstance(ref, str):
            routine = catalog.routines.get(ref)
            if routine is None:
                out.add((*at, "routine"), unknown_message("routine", ref, catalog.routines))
        else:
            try:
                routine = routine_from_document(_sub_document(doc, (*at, "routine")), catalog.stretches)
            except CatalogError as e:
                out.problems += [_prefixed(p, f"episodes[{i}].routine") for p in e.problems]
        if not _under(shape, (*at, "id")):
            episode_id = entry.get("id") or (ref if isinstance(ref, str) else ref["id"])
            if episode_id in seen:
                key = "id" if "id" in entry else "routine"
                out.add((*at, key), f"episode id '{episode_id}' is already used by episodes[{seen[episode_id]}]; "
                                    "give this episode an 'id:' of its own")
            seen.setdefault(episode_id, i)
        if routine is None or _under(shape, (*at, "minutes")):
            continue
        minutes = entry.get("minutes")
        try:  # fit with estimated speech now, so a length that cannot work is reported before rendering
            compose(routine, catalog, ComposeOptions(minutes))
        except FitError as e:
            out.add((*at, "minutes" if "minutes" in entry else "routine"), e.message)
        if not _under(shape, at):
            episodes.append(Episode(
                number=i + 1,
                id=entry.get("id") or routine.id,
                title=entry["title"],
                description=entry.get("description") or routine.description or routine.title,
                routine=routine,
                minutes=minutes,
            ))
    if out.problems:
        raise CatalogError(sorted(out.problems, key=lambda p: p.line or 0))
    start = data["start_date"]
    return Pack(
        id=data["id"],
        title=data["title"],
        description=data["description"],
        author=data["author"],
        language=data["language"],
        start_date=start if isinstance(start, datetime.date) else datetime.date.fromisoformat(start),
        episodes=tuple(episodes),
        cover=cover,
        engine=data.get("engine"),
        voice=data.get("voice"),
        rate=int(data.get("rate", DEFAULT_RATE_WPM)),
        link=data.get("link"),
        email=data.get("email"),
        explicit=bool(data.get("explicit", False)),
        source=doc.file,
    )


def bundled_packs(catalog: Catalog) -> dict[str, Path]:
    """The pack files of the catalog folder (``packs/<id>.yaml``), by id."""
    folder = (catalog.root / "packs") if catalog.root else None
    if folder is None or not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def load_pack(spec: str | Path, catalog: Catalog) -> Pack:
    """A pack from a file path, or by id from the catalog's ``packs`` folder."""
    text_spec = str(spec)
    path = Path(spec)
    known = bundled_packs(catalog)
    if text_spec.endswith((".yaml", ".yml")) or "/" in text_spec or os.sep in text_spec or path.is_file():
        if not path.is_file():
            raise UnknownIdError(f"{text_spec}: no such pack file")
        return pack_from_document(load_document(path), catalog, path.parent)
    if text_spec not in known:
        raise UnknownIdError(unknown_message("pack", text_spec, known))
    file = known[text_spec]
    root = catalog.root.parent if catalog.root else file.parent
    display = str(file.relative_to(root)) if file.is_relative_to(root) else str(file)
    return pack_from_document(load_document(file, display), catalog, file.parent, text_spec)


# --------------------------------------------------------------------------- building

EpisodeProgress = Callable[[str, str, float, float], None]
"""progress(slug, stage, done, total). Stages: 'speech' and 'audio' (as in render), then 'done'
when the episode's files are written, or 'skipped' when it was already up to date."""


@dataclass(frozen=True)
class _Job:
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
class _Rendered:
    slug: str
    duration_s: float
    size: int
    chapters: list[dict[str, Any]]
    transcript: list[list[Any]]


@dataclass
class BuildResult:
    """What a pack build did, for the summary and for tests."""

    folder: Path
    episodes: list[EpisodeInfo]
    rendered: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    seconds_taken: float = 0.0

    @property
    def feed(self) -> Path:
        return self.folder / "feed.xml"

    @property
    def page(self) -> Path:
        return self.folder / "index.html"


def podcast_chapters(chapters: list[dict[str, Any]], duration_s: float) -> list[dict[str, Any]]:
    """Podcasting 2.0 chapters from the timeline's: the first starts at 0 (the welcome belongs to
    it, as in the MP3's CHAP frames), each runs to the next one's start and the last to the end."""
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


def _render_job(job: _Job, progress: EpisodeProgress | None = None) -> _Rendered:
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
        chapters = podcast_chapters([c.to_dict() for c in timeline.chapters], timeline.duration_s)
        document = chapters_document(job.show, job.tags.title, chapters)
        write_text_atomic(job.folder / f"{job.slug}.chapters.json",
                          json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        transcript = [[round(c.start_s, 3), c.text] for c in timeline.speech()]
        return _Rendered(job.slug, round(timeline.duration_s, 3), result.size_bytes, chapters, transcript)
    finally:
        _busy = False
        if queued is not None:
            queued.flush()


def episode_hash(pack: Pack, episode: Episode, catalog: Catalog, compose_options: ComposeOptions,
                 audio_options: AudioOptions, tags: Tags, settings: VoiceSettings, engine: str) -> str:
    """A hash of everything that shapes an episode's bytes: routine, stretches, options, voice, tags."""
    from voiceguide.session.compose import adapted

    # --avoid shapes an episode only through what it swaps, so an episode it leaves alone keeps its hash
    routine, changes = adapted(episode.routine, catalog, compose_options)
    stretch_ids = dict.fromkeys(item.stretch for item in routine.items)
    compose_fields = {k: v for k, v in asdict(compose_options).items() if k != "avoid"}
    blob = json.dumps({
        "format": PACK_FORMAT,
        "voiceguide": __version__,
        "routine": routine.to_dict(),
        "changes": changes,
        "stretches": [catalog.stretch(s).to_dict() for s in stretch_ids],
        "compose": compose_fields,
        "audio": asdict(audio_options),
        "tags": asdict(tags),
        "voice": asdict(settings),
        "engine": engine,
        "show": [pack.title, pack.author],
    }, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def read_manifest(folder: Path) -> tuple[ShowInfo, list[EpisodeInfo]] | None:
    """What the last build of ``folder`` recorded, or None when there is no (current) build."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if data.get("format") != PACK_FORMAT:
            return None
        return ShowInfo.from_dict(data["show"]), [EpisodeInfo.from_dict(e) for e in data["episodes"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_manifest(folder: Path, show: ShowInfo, episodes: list[EpisodeInfo]) -> None:
    data = {
        "format": PACK_FORMAT,
        "generator": f"voiceguide {__version__}",
        "show": show.to_dict(),
        "episodes": [e.to_dict() for e in sorted(episodes, key=lambda e: e.number)],
    }
    _write_if_changed(folder / MANIFEST, (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode())


def _write_if_changed(path: Path, data: bytes) -> None:
    """Leave a file alone (bytes and mtime) when it already holds ``data``."""
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _up_to_date(folder: Path, old: EpisodeInfo | None, slug: str, digest: str) -> bool:
    if old is None or old.slug != slug or old.input_hash != digest:
        return False
    mp3 = folder / old.audio
    return (mp3.is_file() and mp3.stat().st_size == old.size
            and (folder / old.chapters_file).is_file() and (folder / old.transcript_file).is_file())


def build_pack(
    pack: Pack,
    catalog: Catalog,
    folder: Path,
    *,
    base_url: str | None = None,
    jobs: int = 0,
    force: bool = False,
    use_cache: bool = True,
    factory: EngineFactory | None = None,
    voice_id: str | None = None,
    progress: EpisodeProgress | None = None,
    compose_options: ComposeOptions | None = None,
) -> BuildResult:
    """Build ``pack`` into ``folder``: render what changed, then write the cover, feed and page.

    ``voice_id`` is the pack's voice already resolved to an installed voice id (resolving needs
    the engine, which the caller has). ``jobs`` is the number of episodes rendered at once
    (0: one per core).
    """
    from voiceguide.voice.speech import default_cache_dir, engine_identity

    started = time.perf_counter()
    factory = factory or engine_factory()
    base = normalize_base_url(base_url or DEFAULT_BASE_URL)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{folder}: is a file; give a folder for the pack")
    episodes_dir = folder / "episodes"
    try:
        episodes_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"{folder}: cannot create the pack folder ({e.strerror or e})") from e
    show = pack.show()
    previous = read_manifest(folder)
    old_by_id = {e.guid: e for e in previous[1]} if previous else {}
    settings = VoiceSettings(voice_id, pack.rate)
    audio_options = AudioOptions()
    identity = engine_identity(factory, settings)
    cache_dir = default_cache_dir() if use_cache else None

    done: dict[str, EpisodeInfo] = {}
    planned: list[tuple[Episode, EpisodeInfo, _Job]] = []
    result = BuildResult(folder, [])
    for episode in pack.episodes:
        slug = pack.slug(episode)
        published = pack.pub_date(episode)
        names = ", ".join(catalog.stretch(item.stretch).name for item in episode.routine.items)
        comment = f"{episode.description} {len(episode.routine.items)} stretches: {names}."
        tags = Tags(title=episode.title, album=pack.title, artist=pack.author, comment=comment,
                    track=episode.number, year=published.year)
        options = dataclasses.replace(compose_options or ComposeOptions(), minutes=episode.minutes)
        digest = episode_hash(pack, episode, catalog, options, audio_options, tags, settings, identity)
        info = EpisodeInfo(
            number=episode.number, slug=slug, guid=pack.guid(episode), title=episode.title,
            description=episode.description, pub_date=published.isoformat(), duration_s=0.0, size=0,
            input_hash=digest,
        )
        old = old_by_id.get(info.guid)
        if not force and old is not None and _up_to_date(folder, old, slug, digest):
            done[slug] = EpisodeInfo(**{**old.to_dict(), "title": info.title, "description": info.description,
                                        "pub_date": info.pub_date, "number": info.number})
            result.skipped.append(slug)
            if progress:
                progress(slug, "skipped", 1, 1)
            continue
        planned.append((episode, info, _Job(slug, episode.routine, catalog, episodes_dir, options, audio_options,
                                            tags, factory, settings, cache_dir, show)))

    def record(rendered: _Rendered) -> None:
        info = next(i for _, i, j in planned if j.slug == rendered.slug)
        done[rendered.slug] = EpisodeInfo(**{
            **info.to_dict(), "duration_s": rendered.duration_s, "size": rendered.size,
            "chapters": rendered.chapters, "transcript": rendered.transcript,
        })
        result.rendered.append(rendered.slug)
        # written after every episode, so an interrupted build keeps what it finished
        _write_manifest(folder, show, _with_previous(done, previous))
        if progress:
            progress(rendered.slug, "done", 1, 1)

    current = {pack.slug(e) for e in pack.episodes}
    try:
        _render_all([job for _, _, job in planned], jobs, record, progress)
    except BaseException:
        # keep the feed and page true to the files on disk: the finished episodes, and the
        # previous build's files of those not rendered yet
        kept = [e for e in _with_previous(done, previous) if e.slug in current]
        _publish(folder, show, sorted(kept, key=lambda e: e.number), base)
        raise
    for old in (previous[1] if previous else []):
        if old.slug not in current:
            for name in (old.audio, old.chapters_file, old.transcript_file):
                (folder / name).unlink(missing_ok=True)
            result.removed.append(old.slug)
    episodes = sorted(done.values(), key=lambda e: e.number)
    _write_manifest(folder, show, episodes)
    cover = podcast_cover(pack.cover) if pack.cover else generate_cover(pack.title, pack.author)
    _write_if_changed(folder / show.cover, cover)
    _publish(folder, show, episodes, base)
    result.episodes = episodes
    result.seconds_taken = time.perf_counter() - started
    return result


def _publish(folder: Path, show: ShowInfo, episodes: list[EpisodeInfo], base_url: str) -> None:
    """Write the feed and the page for ``episodes`` (unchanged files are left alone)."""
    _write_if_changed(folder / "feed.xml", build_feed(show, episodes, base_url))
    _write_if_changed(folder / "index.html", build_page(show, episodes).encode("utf-8"))


def _with_previous(done: dict[str, EpisodeInfo],
                   previous: tuple[ShowInfo, list[EpisodeInfo]] | None) -> list[EpisodeInfo]:
    """The finished episodes plus the old records of all others, for the manifest written mid-build.

    Old records keep their old hash, so anything not finished is rendered next time, and their
    files stay known, so a later build still removes them if they have left the pack.
    """
    guids = {e.guid for e in done.values()}
    return list(done.values()) + [e for e in (previous[1] if previous else []) if e.guid not in guids]


def _render_all(jobs_list: list[_Job], jobs: int, record: Callable[[_Rendered], None],
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
    by_future: dict[concurrent.futures.Future[_Rendered], _Job] = {}
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


def _checked(job: _Job, run: Callable[[], _Rendered]) -> _Rendered:
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
