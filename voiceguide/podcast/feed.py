"""The podcast feed of a built pack: RSS 2.0 with the iTunes and Podcasting 2.0 namespaces.

The feed is a view of what a build recorded (:class:`ShowInfo` and :class:`EpisodeInfo`, kept in
the pack's manifest) plus a base URL. The same function writes ``feed.xml`` at build time and
answers ``/feed.xml`` in ``voiceguide serve`` with the server's own address, so enclosures always
point at whoever serves the files. feedgen writes the XML; the ``podcast:`` tags it does not know
come from the small extension below.
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from feedgen.ext.base import BaseEntryExtension, BaseExtension  # type: ignore[import-untyped]
from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]
from feedgen.util import xml_elem  # type: ignore[import-untyped]

from voiceguide import __version__
from voiceguide.errors import BadOptionError

ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
CHAPTERS_TYPE = "application/json+chapters"
TRANSCRIPT_TYPE = "text/vtt"
CATEGORY = {"cat": "Health & Fitness", "sub": "Fitness"}


# --------------------------------------------------------------------------- what a build records


@dataclass(frozen=True)
class EpisodeInfo:
    """One built episode: what the feed and the page say about it."""

    number: int
    slug: str
    """File stem under ``episodes/``: ``NN-id``."""
    guid: str
    title: str
    description: str
    pub_date: str
    """ISO 8601 with a time zone; derived from the pack's start date, never from the clock."""
    duration_s: float
    size: int
    """Bytes of the MP3: the enclosure length."""
    chapters: list[dict[str, Any]] = field(default_factory=list)
    """Podcasting 2.0 chapter objects (``startTime``, ``title``), ascending."""
    transcript: list[list[Any]] = field(default_factory=list)
    """``[start_s, text]`` of every spoken line, for the page."""
    input_hash: str = ""
    stretches: int = 0
    """How many stretches the episode holds (its chapters add a welcome and a closing); 0: not recorded."""

    @property
    def audio(self) -> str:
        return f"episodes/{self.slug}.mp3"

    @property
    def chapters_file(self) -> str:
        return f"episodes/{self.slug}.chapters.json"

    @property
    def transcript_file(self) -> str:
        return f"episodes/{self.slug}.vtt"

    @property
    def published(self) -> datetime.datetime:
        return datetime.datetime.fromisoformat(self.pub_date)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpisodeInfo:
        return cls(**data)


@dataclass(frozen=True)
class ShowInfo:
    """The pack as a show: the channel of the feed and the head of the page."""

    id: str
    title: str
    description: str
    author: str
    language: str
    link: str | None = None
    """The show's web site; without one the feed links to the page beside it."""
    email: str | None = None
    explicit: bool = False
    cover: str = "cover.png"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShowInfo:
        return cls(**data)


def normalize_base_url(url: str) -> str:
    """An absolute http(s) URL ending in '/', so file names can be appended to it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise BadOptionError(f"--base-url: '{url}' is not an absolute http(s) URL like https://example.org/stretch/")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"{parts.scheme}://{parts.netloc}{path}"


def file_url(base_url: str, relative: str) -> str:
    """The absolute URL of a file of the pack (``episodes/01-x.mp3``) under ``base_url``."""
    return base_url + quote(relative)


# --------------------------------------------------------------------------- the podcast namespace


class PodcastExtension(BaseExtension):  # type: ignore[misc]
    """Channel part: declares the ``podcast`` namespace and writes a modern ``itunes:explicit``.

    feedgen only knows the old yes/no/clean values; Apple documents true/false.
    """

    def __init__(self) -> None:
        self.explicit: bool | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}

    def extend_rss(self, feed: Any) -> Any:
        if self.explicit is not None:
            channel = feed[0]
            xml_elem(f"{{{ITUNES_NS}}}explicit", channel).text = "true" if self.explicit else "false"
        return feed


class PodcastEntryExtension(BaseEntryExtension):  # type: ignore[misc]
    """Item part: ``podcast:chapters`` and ``podcast:transcript`` links."""

    def __init__(self) -> None:
        self.chapters: dict[str, str] | None = None
        self.transcripts: list[dict[str, str]] = []

    def extend_rss(self, entry: Any) -> Any:
        if self.chapters:
            xml_elem(f"{{{PODCAST_NS}}}chapters", entry).attrib.update(self.chapters)
        for transcript in self.transcripts:
            xml_elem(f"{{{PODCAST_NS}}}transcript", entry).attrib.update(transcript)
        return entry


# --------------------------------------------------------------------------- the feed


def itunes_duration(seconds: float) -> str:
    """HH:MM:SS, rounded to the second."""
    total = round(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"


def build_feed(show: ShowInfo, episodes: list[EpisodeInfo], base_url: str) -> bytes:
    """The RSS document for ``episodes`` with every URL under ``base_url``.

    Nothing in it depends on the clock: ``lastBuildDate`` is the newest episode's date, so an
    unchanged pack gives the same bytes.
    """
    base_url = normalize_base_url(base_url)
    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.register_extension("podcastindex", PodcastExtension, PodcastEntryExtension)
    fg.title(show.title)
    fg.description(show.description)
    fg.link(href=file_url(base_url, "feed.xml"), rel="self", type="application/rss+xml")
    fg.link(href=show.link or base_url, rel="alternate")  # last: feedgen's RSS <link> is the last link set
    fg.language(show.language)
    fg.generator("voiceguide", version=__version__)
    cover_url = file_url(base_url, show.cover)
    fg.image(url=cover_url, title=show.title, link=show.link or base_url)
    fg.podcast.itunes_image(cover_url)
    fg.podcast.itunes_category(CATEGORY)
    fg.podcast.itunes_author(show.author)
    fg.podcast.itunes_summary(show.description)
    fg.podcast.itunes_type("serial")
    if show.email:
        fg.podcast.itunes_owner(name=show.author, email=show.email)
    fg.podcastindex.explicit = show.explicit
    ordered = sorted(episodes, key=lambda e: e.number)
    if ordered:
        fg.lastBuildDate(max(e.published for e in ordered))
    for episode in ordered:
        fe = fg.add_entry(order="append")
        fe.title(episode.title)
        fe.description(episode.description)
        fe.link(href=f"{base_url}#ep-{episode.number}")
        fe.guid(episode.guid, permalink=False)
        fe.pubDate(episode.published)
        fe.enclosure(file_url(base_url, episode.audio), str(episode.size), "audio/mpeg")
        fe.podcast.itunes_duration(itunes_duration(episode.duration_s))
        fe.podcast.itunes_episode(episode.number)
        fe.podcast.itunes_episode_type("full")
        fe.podcast.itunes_author(show.author)
        fe.podcastindex.chapters = {"url": file_url(base_url, episode.chapters_file), "type": CHAPTERS_TYPE}
        fe.podcastindex.transcripts = [{
            "url": file_url(base_url, episode.transcript_file), "type": TRANSCRIPT_TYPE,
            "language": show.language, "rel": "captions",
        }]
    return fg.rss_str(pretty=True)  # type: ignore[no-any-return]


def chapters_document(show: ShowInfo, episode_title: str, chapters: list[dict[str, Any]]) -> dict[str, Any]:
    """A Podcasting 2.0 JSON chapters document (version 1.2.0)."""
    return {
        "version": "1.2.0",
        "title": episode_title,
        "author": show.author,
        "podcastName": show.title,
        "chapters": chapters,
    }
