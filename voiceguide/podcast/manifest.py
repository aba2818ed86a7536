"""The manifest a build leaves in a pack folder: what was rendered from what.

It records a hash of everything that shapes each episode's sound and tags, so an unchanged
episode is never rendered again and its bytes, guid and date stay what they were.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from voiceguide import __version__
from voiceguide.errors import CatalogError, Problem
from voiceguide.fileio import atomic_path, read_regular
from voiceguide.podcast.feed import EpisodeInfo, ShowInfo

PACK_FORMAT = 1
"""Bumped when what a build writes changes shape, so older builds are rendered afresh."""
MANIFEST = ".voiceguide-pack.json"
T = TypeVar("T")


def read_manifest(folder: Path) -> tuple[ShowInfo, list[EpisodeInfo]] | None:
    """What the last build of ``folder`` recorded, or None when there is no (current, valid) build."""
    try:
        return load_manifest(folder)
    except CatalogError:
        return None


def load_manifest(folder: Path) -> tuple[ShowInfo, list[EpisodeInfo]] | None:
    """What the last build of ``folder`` recorded, or None when there is none (or one of an older format).

    The manifest is read back from a folder anyone can edit, so it is checked like a user's file:
    every field's type, and every slug and file name, which must name a file inside the folder.
    Raises :class:`CatalogError` naming the file and field of the first problems.
    """
    path = folder / MANIFEST
    try:
        data = json.loads(read_regular(path, MAX_MANIFEST_BYTES + 1).decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise _bad(path, None, f"cannot be read ({getattr(e, 'strerror', None) or e})") from e
    if not isinstance(data, dict) or data.get("format") != PACK_FORMAT:
        return None
    show = _checked(path, "show", data.get("show"), ShowInfo, _SHOW_FIELDS)
    raw = data.get("episodes")
    if not isinstance(raw, list):
        raise _bad(path, "episodes", "is not a list")
    episodes = [_checked(path, f"episodes[{i}]", e, EpisodeInfo, _EPISODE_FIELDS) for i, e in enumerate(raw)]
    if not _SAFE_NAME.match(show.cover):
        raise _bad(path, "show.cover", f"{show.cover!r} is not a plain file name in the pack folder")
    for i, episode in enumerate(episodes):
        if not _SLUG.match(episode.slug):
            raise _bad(path, f"episodes[{i}].slug", f"{episode.slug!r} is not an episode name like 01-cat-cow")
    return show, episodes


MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_SLUG = re.compile(r"^[0-9]{1,6}-[a-z0-9]+(-[a-z0-9]+)*$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_NUMBER = (int, float)
_SHOW_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,), "title": (str,), "description": (str,), "author": (str,), "language": (str,),
    "link": (str, type(None)), "email": (str, type(None)), "explicit": (bool,), "cover": (str,),
}
_EPISODE_FIELDS: dict[str, tuple[type, ...]] = {
    "number": (int,), "slug": (str,), "guid": (str,), "title": (str,), "description": (str,),
    "pub_date": (str,), "duration_s": _NUMBER, "size": (int,), "chapters": (list,), "transcript": (list,),
    "input_hash": (str,), "stretches": (int,),
}


def _checked(path: Path, where: str, data: Any, kind: type[T], fields: dict[str, tuple[type, ...]]) -> T:
    """``kind`` from ``data``, each field of the type it must be (a bool is no number here)."""
    if not isinstance(data, dict):
        raise _bad(path, where, "is not a mapping")
    for name, value in data.items():
        if name not in fields:
            raise _bad(path, f"{where}.{name}", "is not a field of a pack manifest")
        types = fields[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise _bad(path, f"{where}.{name}", f"{value!r:.40} is not a {' or '.join(t.__name__ for t in types)}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not 0 <= value < 1e12:
            raise _bad(path, f"{where}.{name}", f"{value!r} is out of range")
    try:
        return kind(**data)
    except TypeError as e:
        raise _bad(path, where, f"is missing a field ({e})") from e


def _bad(path: Path, field: str | None, message: str) -> CatalogError:
    return CatalogError([Problem(str(path), None, field, f"{message}; remove the file to build the pack afresh")])


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refusing any name that would reach outside ``folder``."""
    path = folder / name
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise CatalogError([Problem(str(folder / MANIFEST), None, None,
                                    f"{name!r} lies outside the pack folder; nothing outside it is touched")])
    return path


def write_manifest(folder: Path, show: ShowInfo, episodes: list[EpisodeInfo]) -> None:
    """Record ``episodes`` as built in ``folder`` (left alone when nothing changed)."""
    data = {
        "format": PACK_FORMAT,
        "generator": f"voiceguide {__version__}",
        "show": show.to_dict(),
        "episodes": [e.to_dict() for e in sorted(episodes, key=lambda e: e.number)],
    }
    write_if_changed(folder / MANIFEST, (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode())


def write_if_changed(path: Path, data: bytes) -> None:
    """Leave a file alone (bytes and mtime) when it already holds ``data``."""
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def up_to_date(folder: Path, old: EpisodeInfo | None, slug: str, digest: str) -> bool:
    """True when the last build made this episode from the same inputs and its files are all there."""
    if old is None or old.slug != slug or old.input_hash != digest:
        return False
    return files_present(folder, old)


def files_present(folder: Path, episode: EpisodeInfo) -> bool:
    """True if the episode's files are all in ``folder``, its audio at the size recorded."""
    mp3 = folder / episode.audio
    try:
        size = mp3.stat().st_size if mp3.is_file() else -1
    except OSError:
        return False
    return (size == episode.size and (folder / episode.chapters_file).is_file()
            and (folder / episode.transcript_file).is_file())


def remove_unrecorded(folder: Path, slugs: Iterable[str], kept: Iterable[EpisodeInfo]) -> None:
    """Remove the files of these episodes that no record in ``kept`` describes."""
    recorded = {name for e in kept for name in (e.audio, e.chapters_file, e.transcript_file)}
    for slug in slugs:
        for name in (f"episodes/{slug}.mp3", f"episodes/{slug}.chapters.json", f"episodes/{slug}.vtt"):
            if name not in recorded:
                inside(folder, name).unlink(missing_ok=True)


def with_previous(done: dict[str, EpisodeInfo],
                  previous: tuple[ShowInfo, list[EpisodeInfo]] | None) -> list[EpisodeInfo]:
    """The finished episodes plus the old records of all others, for the manifest written mid-build.

    Old records keep their old hash, so anything not finished is rendered next time, and their
    files stay known, so a later build still removes them if they have left the pack.
    """
    guids = {e.guid for e in done.values()}
    return list(done.values()) + [e for e in (previous[1] if previous else []) if e.guid not in guids]
