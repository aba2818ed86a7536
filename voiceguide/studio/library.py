"""The studio's library: every session made, one folder each, and the podcast feed of them all.

A session is ``ID/`` holding ``session.mp3``, ``session.json`` (the timed script), ``session.vtt``
(captions), ``chapters.json`` (Podcasting 2.0) and ``meta.json`` (title, length, what was asked).
IDs are made here from the time and a random part, never from what a client sent. A session is
made in a hidden ``.making-*`` folder and renamed into place whole, so the library never shows
(or serves) half a session, whether the maker was cancelled, failed or lost its client.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voiceguide.errors import VoiceguideError

if TYPE_CHECKING:
    from voiceguide.podcast.feed import ShowInfo

SESSION_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
FILES = {"mp3": "session.mp3", "script": "session.json", "captions": "session.vtt", "chapters": "chapters.json"}
STAGING = ".making-"
SHOW_TITLE = "My stretching sessions"


def show() -> ShowInfo:
    """The library as a show (feedgen and lxml load only when a feed is first asked for)."""
    from voiceguide.podcast.feed import ShowInfo

    return ShowInfo(id="studio", title=SHOW_TITLE, author="voiceguide", language="en",
                    description="Sessions made to measure with voiceguide on this computer.")


class LibraryError(VoiceguideError):
    """Raised when the library folder cannot be made or written."""


@dataclass(frozen=True)
class Entry:
    """One made session, as the library list and the feed show it."""

    id: str
    title: str
    created: str
    duration_s: float
    size: int
    asked: str
    chapters: list[dict[str, Any]]
    voice: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "created": self.created, "duration_s": self.duration_s,
                "size": self.size, "asked": self.asked, "chapters": self.chapters, "voice": self.voice,
                "files": {kind: f"/sessions/{self.id}/{name}" for kind, name in FILES.items()}}


class Library:
    """The folder of made sessions."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LibraryError(f"{root}: cannot make the library folder ({e.strerror or e})") from e
        for left in root.glob(STAGING + "*"):  # what a killed server was making
            shutil.rmtree(left, ignore_errors=True)

    def entries(self) -> list[Entry]:
        """Every session, newest first."""
        found = []
        for folder in self.root.iterdir():
            if SESSION_ID.match(folder.name):
                entry = self.get(folder.name)
                if entry is not None:
                    found.append(entry)
        return sorted(found, key=lambda e: (e.created, e.id), reverse=True)

    def get(self, session_id: str) -> Entry | None:
        if not SESSION_ID.match(session_id):
            return None
        try:
            data = json.loads((self.root / session_id / "meta.json").read_text(encoding="utf-8"))
            return Entry(**{k: data[k] for k in Entry.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def delete(self, session_id: str) -> bool:
        """Remove a session; False if there is none by that id."""
        if self.get(session_id) is None:
            return False
        shutil.rmtree(self.root / session_id)
        return True

    @contextlib.contextmanager
    def making(self) -> Iterator[tuple[str, Path]]:
        """A new session id and the hidden folder to make it in; the folder is removed unless
        :meth:`publish` moved it into the library."""
        now = datetime.datetime.now().astimezone()
        session_id = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        staging = self.root / f"{STAGING}{session_id}"
        try:
            staging.mkdir()
        except OSError as e:
            raise LibraryError(f"{self.root}: cannot write the library folder ({e.strerror or e})") from e
        try:
            yield session_id, staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def publish(self, session_id: str, staging: Path, meta: dict[str, Any]) -> Entry:
        """Write ``meta.json`` and rename the made session into the library in one step."""
        (staging / "meta.json").write_text(json.dumps({"id": session_id, **meta}, indent=1), encoding="utf-8")
        os.replace(staging, self.root / session_id)
        entry = self.get(session_id)
        assert entry is not None
        return entry

    def feed(self, base_url: str) -> bytes:
        """The library as a podcast feed under ``base_url`` (which carries the access key)."""
        from voiceguide.podcast.feed import EpisodeInfo, build_feed

        entries = sorted(self.entries(), key=lambda e: (e.created, e.id))
        episodes = [EpisodeInfo(number=n, slug=e.id, guid=f"voiceguide-studio-{e.id}", title=e.title,
                                description=f"{e.asked}. Voice: {e.voice}.", pub_date=e.created,
                                duration_s=e.duration_s, size=e.size, chapters=e.chapters)
                    for n, e in enumerate(entries, start=1)]
        return build_feed(show(), episodes, base_url)
