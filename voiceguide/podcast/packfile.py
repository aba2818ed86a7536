"""Pack files: the YAML that names a show and its episodes, read, validated and typed.

A pack names its episodes (catalog routines or inline ones) and the show around them. Every
problem in a pack file is reported at once, with its file, field and line, before anything renders.
"""

from __future__ import annotations

import datetime
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voiceguide.catalog.types import Catalog, Routine, unknown_message
from voiceguide.catalog.validate import (
    Collector,
    Field,
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
)
from voiceguide.catalog.yamlio import Document, PathKey, load_document
from voiceguide.errors import CatalogError, FitError, Problem, UnknownIdError
from voiceguide.podcast.cover import cover_problem
from voiceguide.podcast.feed import ShowInfo
from voiceguide.session.compose import ComposeOptions, compose
from voiceguide.voice.engines import DEFAULT_RATE_WPM, ENGINE_CHOICES

PUBLISH_HOUR_UTC = 6
"""Episodes are dated at this hour (UTC) of their day: a fixed time keeps rebuilds identical."""
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GUID_NAMESPACE = uuid.UUID("6b0d1c52-6f1e-5d0a-9a57-766f69636567")


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
