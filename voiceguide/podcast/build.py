"""Building a pack: a folder a phone can subscribe to, from a pack file.

Building renders every episode that changed, in parallel worker processes, and writes beside the
MP3s the Podcasting 2.0 chapters, the transcript, a cover, the feed and a page. The manifest keeps
unchanged episodes from being rendered again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from voiceguide import __version__
from voiceguide.catalog.types import Catalog
from voiceguide.errors import OutputPathError
from voiceguide.fileio import remove_stale_temporaries
from voiceguide.podcast.cover import generate_cover, podcast_cover
from voiceguide.podcast.feed import EpisodeInfo, ShowInfo, build_feed, normalize_base_url
from voiceguide.podcast.manifest import (
    MANIFEST,
    PACK_FORMAT,
    files_present,
    inside,
    load_manifest,
    read_manifest,
    remove_unrecorded,
    up_to_date,
    with_previous,
    write_if_changed,
    write_manifest,
)
from voiceguide.podcast.packfile import Episode, Pack
from voiceguide.podcast.page import build_page
from voiceguide.podcast.workers import EpisodeProgress, Rendered, RenderJob, render_all
from voiceguide.session.compose import ComposeOptions
from voiceguide.sound.audio import AudioOptions, Tags
from voiceguide.voice.engines import EngineFactory, VoiceSettings, engine_factory

DEFAULT_BASE_URL = "http://localhost:8000/"


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
    (0: as many as the idle cores and free memory hold).
    """
    started = time.perf_counter()
    factory = factory or engine_factory()
    base = normalize_base_url(base_url or DEFAULT_BASE_URL)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{folder}: is a file; give a folder for the pack")
    # the last build's record is checked before anything is written: a bad one changes nothing
    previous = load_manifest(folder) if folder.is_dir() else None
    episodes_dir = folder / "episodes"
    show = pack.show()
    first = _FirstBuild(folder, [folder / name for name in (show.cover, MANIFEST, "feed.xml", "index.html")])
    try:
        episodes_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        first.undo()
        raise OutputPathError(f"{folder}: cannot create the pack folder ({e.strerror or e})") from e
    try:
        return _build(pack, catalog, folder, previous, first, base=base, jobs=jobs, force=force, factory=factory,
                      voice_id=voice_id, progress=progress, compose_options=compose_options,
                      use_cache=use_cache, started=started)
    except BaseException:
        if previous is None and not _episodes_kept(folder):
            first.undo()  # a first build that made no episode leaves nothing behind
        raise


class _FirstBuild:
    """What a build creates where nothing was, so a first build that fails can take it all back."""

    def __init__(self, folder: Path, files: list[Path]) -> None:
        self.folders = [d for d in (folder, folder / "episodes") if not d.exists()]
        self.files = [f for f in files if not f.exists()]

    def undo(self) -> None:
        for f in self.files:
            with contextlib.suppress(OSError):
                f.unlink()
        for d in reversed(self.folders):
            with contextlib.suppress(OSError):
                d.rmdir()  # only when empty: nothing but what this build made is removed


def _episodes_kept(folder: Path) -> bool:
    built = read_manifest(folder)
    return bool(built and built[1])


def _build(pack: Pack, catalog: Catalog, folder: Path, previous: tuple[ShowInfo, list[EpisodeInfo]] | None,
           first: _FirstBuild, *, base: str, jobs: int, force: bool, factory: EngineFactory,
           voice_id: str | None, progress: EpisodeProgress | None, compose_options: ComposeOptions | None,
           use_cache: bool, started: float) -> BuildResult:
    from voiceguide.voice.speech import default_cache_dir, engine_identity

    episodes_dir = folder / "episodes"
    remove_stale_temporaries(folder)
    remove_stale_temporaries(episodes_dir)
    show = pack.show()
    # the cover first: the page refers to it from the start, whatever happens to the episodes
    cover = podcast_cover(pack.cover) if pack.cover else generate_cover(pack.title, pack.author)
    write_if_changed(folder / show.cover, cover)
    old_by_id = {e.guid: e for e in previous[1]} if previous else {}
    settings = VoiceSettings(voice_id, pack.rate)
    audio_options = AudioOptions()
    identity = engine_identity(factory, settings)
    cache_dir = default_cache_dir() if use_cache else None

    done: dict[str, EpisodeInfo] = {}
    planned: list[tuple[Episode, EpisodeInfo, RenderJob]] = []
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
        if not force and old is not None and up_to_date(folder, old, slug, digest):
            done[slug] = EpisodeInfo(**{**old.to_dict(), "title": info.title, "description": info.description,
                                        "pub_date": info.pub_date, "number": info.number})
            result.skipped.append(slug)
            if progress:
                progress(slug, "skipped", 1, 1)
            continue
        planned.append((episode, info, RenderJob(slug, episode.routine, catalog, episodes_dir, options, audio_options,
                                            tags, factory, settings, cache_dir, show)))

    def record(rendered: Rendered) -> None:
        info = next(i for _, i, j in planned if j.slug == rendered.slug)
        rendered.publish()
        done[rendered.slug] = EpisodeInfo(**{
            **info.to_dict(), "duration_s": rendered.duration_s, "size": rendered.size,
            "chapters": rendered.chapters, "transcript": rendered.transcript, "stretches": rendered.stretches,
        })
        result.rendered.append(rendered.slug)
        # written after every episode, so an interrupted build keeps what it finished
        write_manifest(folder, show, with_previous(done, previous))
        if progress:
            progress(rendered.slug, "done", 1, 1)

    current = {pack.slug(e) for e in pack.episodes}
    try:
        render_all([job for _, _, job in planned], jobs, record, progress)
    except BaseException:
        if previous is None and not done:
            raise  # a first build that made no episode: the caller removes what it wrote
        # keep the manifest, feed and page true to the files on disk: the finished episodes, and
        # the previous build's files of those not rendered yet (where they are still whole)
        kept = [e for e in with_previous(done, previous) if files_present(folder, e)]
        remove_unrecorded(folder, current | {e.slug for e in (previous[1] if previous else [])}, kept)
        write_manifest(folder, show, kept)
        _publish(folder, show, sorted((e for e in kept if e.slug in current), key=lambda e: e.number), base)
        raise
    for old in (previous[1] if previous else []):
        if old.slug not in current:
            for name in (old.audio, old.chapters_file, old.transcript_file):
                inside(folder, name).unlink(missing_ok=True)
            result.removed.append(old.slug)
    episodes = sorted(done.values(), key=lambda e: e.number)
    write_manifest(folder, show, episodes)
    _publish(folder, show, episodes, base)
    result.episodes = episodes
    result.seconds_taken = time.perf_counter() - started
    return result


def _publish(folder: Path, show: ShowInfo, episodes: list[EpisodeInfo], base_url: str) -> None:
    """Write the feed and the page for ``episodes`` (unchanged files are left alone)."""
    write_if_changed(folder / "feed.xml", build_feed(show, episodes, base_url))
    write_if_changed(folder / "index.html", build_page(show, episodes).encode("utf-8"))
