"""The manifest a build leaves in a pack folder: what was rendered from what.

It records a hash of everything that shapes each episode's sound and tags, so an unchanged
episode is never rendered again and its bytes, guid and date stay what they were.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from voiceguide import __version__
from voiceguide.fileio import atomic_path
from voiceguide.podcast.feed import EpisodeInfo, ShowInfo

PACK_FORMAT = 1
"""Bumped when what a build writes changes shape, so older builds are rendered afresh."""
MANIFEST = ".voiceguide-pack.json"


def read_manifest(folder: Path) -> tuple[ShowInfo, list[EpisodeInfo]] | None:
    """What the last build of ``folder`` recorded, or None when there is no (current) build."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if data.get("format") != PACK_FORMAT:
            return None
        return ShowInfo.from_dict(data["show"]), [EpisodeInfo.from_dict(e) for e in data["episodes"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
    mp3 = folder / old.audio
    return (mp3.is_file() and mp3.stat().st_size == old.size
            and (folder / old.chapters_file).is_file() and (folder / old.transcript_file).is_file())


def with_previous(done: dict[str, EpisodeInfo],
                  previous: tuple[ShowInfo, list[EpisodeInfo]] | None) -> list[EpisodeInfo]:
    """The finished episodes plus the old records of all others, for the manifest written mid-build.

    Old records keep their old hash, so anything not finished is rendered next time, and their
    files stay known, so a later build still removes them if they have left the pack.
    """
    guids = {e.guid for e in done.values()}
    return list(done.values()) + [e for e in (previous[1] if previous else []) if e.guid not in guids]
