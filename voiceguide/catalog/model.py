"""The stretch catalog: YAML files in, validated frozen dataclasses out.

Validation is declarative: each file kind is a table of fields, each with a checker. A file is
checked completely and every problem is reported at once, with its file, line and field.
"""

from __future__ import annotations

import difflib
import re
import string
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voiceguide.catalog.yamlio import Document, PathKey, load_document
from voiceguide.errors import BadOptionError, CatalogError, Problem, UnknownIdError

POSITIONS = ("standing", "seated", "seated-floor", "kneeling", "lunge", "supine", "prone", "side-lying")
FLOOR_POSITIONS = frozenset({"seated-floor", "kneeling", "lunge", "supine", "prone", "side-lying"})
FOCUS_AREAS = (
    "neck",
    "shoulders",
    "chest",
    "arms",
    "upper-back",
    "lower-back",
    "core",
    "hips",
    "glutes",
    "groin",
    "hamstrings",
    "quadriceps",
    "calves",
)
STYLES = ("hold", "reps", "flow")
CAUTION_TAGS = (
    "knees",
    "wrists",
    "neck",
    "shoulders",
    "hips",
    "acute-back-injury",
    "osteoporosis",
    "pregnancy",
    "sciatica",
    "balance",
    "high-blood-pressure",
)
SIDE_FIELDS = ("side", "other")
_KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Range:
    """A default with the bounds the composer may scale it within when fitting a length."""

    default: float
    min: float
    max: float

    def clamp(self, value: float) -> float:
        return max(self.min, min(self.max, value))

    def to_dict(self) -> dict[str, float]:
        return {"default": self.default, "min": self.min, "max": self.max}


@dataclass(frozen=True)
class Caution:
    """A reason some people should adapt or skip a stretch, with the line the voice says."""

    tag: str
    say: str


@dataclass(frozen=True)
class Stretch:
    """One stretch of the catalog, with everything the composer needs to guide it."""

    id: str
    name: str
    aliases: tuple[str, ...]
    position: str
    focus: tuple[str, ...]
    style: str
    """``hold`` (static), ``reps`` (counted repetitions) or ``flow`` (paced by the breath)."""
    sides: bool
    """Done one side at a time: first side, a spoken switch, then the second for equal time."""
    hold_seconds: Range | None
    reps: Range | None
    rep_seconds: float | None
    """Seconds one repetition's movement takes (``reps`` style)."""
    sets: Range
    settle_seconds: float
    """Quiet time after the setup lines to get into position."""
    breath_in: str
    breath_out: str
    setup: tuple[str, ...]
    cues: tuple[str, ...]
    release: str | None
    cautions: tuple[Caution, ...]
    source: str = ""

    @property
    def caution_tags(self) -> tuple[str, ...]:
        return tuple(c.tag for c in self.cautions)

    def to_dict(self) -> dict[str, Any]:
        """The stretch as JSON-ready data (the ``show --json`` shape)."""
        return {
            "id": self.id,
            "name": self.name,
            "aliases": list(self.aliases),
            "position": self.position,
            "focus": list(self.focus),
            "style": self.style,
            "sides": self.sides,
            "hold_seconds": self.hold_seconds.to_dict() if self.hold_seconds else None,
            "reps": self.reps.to_dict() if self.reps else None,
            "rep_seconds": self.rep_seconds,
            "sets": self.sets.to_dict(),
            "settle_seconds": self.settle_seconds,
            "breath": {"inhale": self.breath_in, "exhale": self.breath_out},
            "setup": list(self.setup),
            "cues": list(self.cues),
            "release": self.release,
            "cautions": [c.tag for c in self.cautions],
            "caution_lines": {c.tag: c.say for c in self.cautions},
        }


@dataclass(frozen=True)
class RoutineItem:
    """A stretch in a routine, with optional overrides of its defaults."""

    stretch: str
    hold: float | None = None
    reps: int | None = None
    sets: int | None = None


@dataclass(frozen=True)
class Routine:
    """An ordered list of stretches with a title and a default length."""

    id: str
    title: str
    description: str
    minutes: float | None
    items: tuple[RoutineItem, ...]
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "minutes": self.minutes,
            "stretches": [{k: v for k, v in vars(i).items() if v is not None} for i in self.items],
        }


@dataclass
class Catalog:
    """All stretches and routines, by id."""

    stretches: dict[str, Stretch] = field(default_factory=dict)
    routines: dict[str, Routine] = field(default_factory=dict)
    root: Path | None = None

    def stretch(self, stretch_id: str) -> Stretch:
        try:
            return self.stretches[stretch_id]
        except KeyError:
            raise UnknownIdError(unknown_message("stretch", stretch_id, self.stretches)) from None

    def routine(self, routine_id: str) -> Routine:
        try:
            return self.routines[routine_id]
        except KeyError:
            known = [*self.routines, *self.stretches]
            raise UnknownIdError(unknown_message("routine or stretch", routine_id, known)) from None


def parse_word_list(value: str | Sequence[str] | None, known: Sequence[str], option: str, noun: str) -> tuple[str, ...]:
    """Words from ``a,b`` (or a list), each checked against a vocabulary; an unknown one lists them all."""
    from voiceguide.errors import BadOptionError

    if not value:
        return ()
    raw = value.split(",") if isinstance(value, str) else list(value)
    words = tuple(dict.fromkeys(w.strip() for w in raw if w.strip()))
    for word in words:
        if word not in known:
            close = difflib.get_close_matches(word, known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise BadOptionError(f"{option}: unknown {noun} '{word}'; {hint}known: {', '.join(known)}")
    return words


def unknown_message(kind: str, value: str, known: Iterable[str]) -> str:
    """'unknown KIND 'VALUE'', with the closest known ids as a suggestion."""
    close = difflib.get_close_matches(value, list(known), n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"unknown {kind} '{value}'{hint}"


# --------------------------------------------------------------------------- checks
# A checker takes a value and returns a list of (relative path, message); empty means valid.

Check = Callable[[Any], list[tuple[PathKey, str]]]


def _ok() -> list[tuple[PathKey, str]]:
    return []


MAX_ROUTINE_STRETCHES = 100
"""Stretches in one routine: more than a long session holds, and it keeps composing quick."""
MAX_TEXT = 1000
"""Characters in a title, name or description."""
MAX_SPOKEN = 300
"""Characters in one spoken line: about twenty seconds of speech."""


def text(value: Any, limit: int = MAX_TEXT) -> list[tuple[PathKey, str]]:
    """A non-empty text of at most ``limit`` characters, with words in it and nothing invisible."""
    if not isinstance(value, str) or not value.strip():
        return [((), "must be a non-empty text")]
    if len(value) > limit:
        return [((), f"is {len(value)} characters long; keep it to {limit}")]
    for char in value:
        kind = unicodedata.category(char)
        if kind == "Cc" and char not in "\n\t":
            return [((), f"contains the control character U+{ord(char):04X}; remove it")]
        if kind in ("Cf", "Co", "Cs", "Cn"):
            return [((), f"contains the invisible or unassigned character U+{ord(char):04X}; remove it")]
    if not any(char.isalnum() for char in value):
        return [((), "has no words in it, only punctuation or spaces")]
    return _ok()


def kebab(value: Any) -> list[tuple[PathKey, str]]:
    if not isinstance(value, str) or not _KEBAB.match(value):
        return [((), "must be kebab-case (lower-case words joined by '-')")]
    return _ok()


def boolean(value: Any) -> list[tuple[PathKey, str]]:
    return _ok() if isinstance(value, bool) else [((), "must be true or false")]


def number(lo: float, hi: float) -> Check:
    def check(value: Any) -> list[tuple[PathKey, str]]:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            return [((), f"must be a number from {lo:g} to {hi:g}")]
        return _ok()

    return check


def choice(options: Sequence[str]) -> Check:
    def check(value: Any) -> list[tuple[PathKey, str]]:
        if value in options:
            return _ok()
        close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else f" (one of: {', '.join(options)})"
        return [((), f"unknown value '{value}'{hint}")]

    return check


def list_of(check: Check, *, non_empty: bool = False, most: int | None = None) -> Check:
    def run(value: Any) -> list[tuple[PathKey, str]]:
        if not isinstance(value, list):
            return [((), "must be a list")]
        if non_empty and not value:
            return [((), "must not be empty")]
        if most is not None and len(value) > most:
            return [((), f"has {len(value)} entries; at most {most} are allowed")]
        return [((i, *p), m) for i, item in enumerate(value) for p, m in check(item)]

    return run


def nullable(check: Check) -> Check:
    return lambda value: _ok() if value is None else check(value)


@dataclass(frozen=True)
class Field:
    """One key of a mapping: its checker and whether it must be present."""

    name: str
    check: Check
    required: bool = True


def mapping(fields: Sequence[Field]) -> Check:
    """A mapping with exactly these keys; an unknown key names the closest known one."""
    known = [f.name for f in fields]

    def run(value: Any) -> list[tuple[PathKey, str]]:
        if not isinstance(value, dict):
            return [((), f"must be a mapping with keys: {', '.join(known)}")]
        problems: list[tuple[PathKey, str]] = []
        for key in value:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
                hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(known)})"
                problems.append((("#key", key), f"unknown key '{key}'{hint}"))
        for f in fields:
            if f.name not in value:
                if f.required:
                    problems.append(((), f"missing required key '{f.name}'"))
                continue
            problems += [((f.name, *p), m) for p, m in f.check(value[f.name])]
        return problems

    return run


def range_of(lo: float, hi: float, *, whole: bool) -> Check:
    kind = "a whole number" if whole else "a number"
    inner = mapping([Field(k, number(lo, hi)) for k in ("default", "min", "max")])

    def run(value: Any) -> list[tuple[PathKey, str]]:
        problems = inner(value)
        if problems:
            return problems
        for k in ("default", "min", "max"):
            if whole and value[k] != int(value[k]):
                problems.append(((k,), f"must be {kind}"))
        if not value["min"] <= value["default"] <= value["max"]:
            problems.append(((), "needs min <= default <= max"))
        return problems

    return run


def spoken(value: Any) -> list[tuple[PathKey, str]]:
    """Spoken text: words a voice can say, and only the {side}/{other} placeholders."""
    problems = text(value, MAX_SPOKEN)
    if problems:
        return problems
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
    except ValueError:
        return [((), "has an unmatched '{' or '}'")]
    bad = names - set(SIDE_FIELDS)
    if bad:
        return [((), f"unknown placeholder {{{sorted(bad)[0]}}} (only {{side}} and {{other}})")]
    return _ok()


STRETCH_FIELDS = [
    Field("id", kebab),
    Field("name", text),
    Field("aliases", list_of(text), required=False),
    Field("position", choice(POSITIONS)),
    Field("focus", list_of(choice(FOCUS_AREAS), non_empty=True)),
    Field("style", choice(STYLES)),
    Field("sides", boolean),
    Field("hold_seconds", nullable(range_of(1, 600, whole=False)), required=False),
    Field("reps", nullable(range_of(1, 100, whole=True)), required=False),
    Field("rep_seconds", nullable(number(0.5, 60)), required=False),
    Field("sets", range_of(1, 10, whole=True), required=False),
    Field("settle_seconds", number(0, 60), required=False),
    Field("breath", mapping([Field("inhale", spoken), Field("exhale", spoken)])),
    Field("setup", list_of(spoken, non_empty=True)),
    Field("cues", list_of(spoken), required=False),
    Field("release", nullable(spoken), required=False),
    Field("cautions", list_of(mapping([Field("tag", choice(CAUTION_TAGS)), Field("say", spoken)])), required=False),
]
check_stretch_shape = mapping(STRETCH_FIELDS)


def whole(lo: int, hi: int) -> Check:
    def check(value: Any) -> list[tuple[PathKey, str]]:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            return [((), f"must be a whole number from {lo} to {hi}")]
        return _ok()

    return check


ITEM_FIELDS = [
    Field("id", kebab),
    Field("hold", nullable(number(1, 600)), required=False),
    Field("reps", nullable(whole(1, 100)), required=False),
    Field("sets", nullable(whole(1, 10)), required=False),
]


def routine_item(value: Any) -> list[tuple[PathKey, str]]:
    return kebab(value) if isinstance(value, str) else mapping(ITEM_FIELDS)(value)


ROUTINE_FIELDS = [
    Field("id", kebab),
    Field("title", text),
    Field("description", text, required=False),
    Field("minutes", nullable(number(0.5, 240)), required=False),
    Field("stretches", list_of(routine_item, non_empty=True, most=MAX_ROUTINE_STRETCHES)),
]
check_routine_shape = mapping(ROUTINE_FIELDS)


# --------------------------------------------------------------------------- building


class Collector:
    """Turns (path, message) pairs into located problems for one document.

    A ``#key`` marker anywhere in a path means the problem is the key itself (an unknown key):
    it is reported on the key's own line, at any depth.
    """

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def add(self, path: PathKey, message: str) -> None:
        if "#key" in path:
            at = path.index("#key")
            field_path = path[:at] + path[at + 1 :]
            line = self.doc.key_line(field_path)
        else:
            field_path, line = path, self.doc.line(path)
        name = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in field_path)
        self.problems.append(Problem(self.doc.file, line, name.replace(".[", "[") or None, message))

    def extend(self, items: Iterable[tuple[PathKey, str]]) -> None:
        for path, message in items:
            self.add(path, message)


def _range(value: dict[str, Any] | None) -> Range | None:
    return None if value is None else Range(value["default"], value["min"], value["max"])


def stretch_from_document(doc: Document, expected_id: str | None = None) -> Stretch:
    """Validate a stretch document completely and build it, or raise every problem at once."""
    out = Collector(doc)
    data = doc.data
    out.extend(check_stretch_shape(data))
    if not out.problems:
        style = data["style"]
        hold, reps = data.get("hold_seconds"), data.get("reps")
        if style == "hold" and hold is None:
            out.add(("style",), "a 'hold' stretch needs hold_seconds")
        if style == "hold" and reps is not None:
            out.add(("reps",), "a 'hold' stretch has no reps (use style: reps)")
        if style in ("reps", "flow") and reps is None:
            out.add(("style",), f"a '{style}' stretch needs reps")
        if style == "reps" and data.get("rep_seconds") is None:
            out.add(("style",), "a 'reps' stretch needs rep_seconds")
        if style == "flow" and hold is not None:
            out.add(("hold_seconds",), "a 'flow' stretch is paced by the breath; hold_seconds must be null")
        if expected_id and data["id"] != expected_id:
            out.add(("id",), f"'{data['id']}' does not match the file name '{expected_id}.yaml'")
        if not data["sides"]:
            for path, line_text in _spoken_lines(data):
                if "{" in line_text:
                    out.add(path, "{side}/{other} only apply to stretches with sides: true")
    if out.problems:
        raise CatalogError(out.problems)
    default_sets = {"default": 1, "min": 1, "max": 1}
    return Stretch(
        id=data["id"],
        name=data["name"],
        aliases=tuple(data.get("aliases") or ()),
        position=data["position"],
        focus=tuple(data["focus"]),
        style=data["style"],
        sides=data["sides"],
        hold_seconds=_range(data.get("hold_seconds")),
        reps=_range(data.get("reps")),
        rep_seconds=data.get("rep_seconds"),
        sets=_range(data.get("sets") or default_sets) or Range(1, 1, 1),
        settle_seconds=float(data.get("settle_seconds", 5)),
        breath_in=data["breath"]["inhale"],
        breath_out=data["breath"]["exhale"],
        setup=tuple(data["setup"]),
        cues=tuple(data.get("cues") or ()),
        release=data.get("release"),
        cautions=tuple(Caution(c["tag"], c["say"]) for c in data.get("cautions") or ()),
        source=doc.file,
    )


def _spoken_lines(data: dict[str, Any]) -> Iterable[tuple[PathKey, str]]:
    yield ("breath", "inhale"), data["breath"]["inhale"]
    yield ("breath", "exhale"), data["breath"]["exhale"]
    for key in ("setup", "cues"):
        for i, line in enumerate(data.get(key) or ()):
            yield (key, i), line
    if data.get("release"):
        yield ("release",), data["release"]
    for i, c in enumerate(data.get("cautions") or ()):
        yield ("cautions", i, "say"), c["say"]


def routine_from_document(doc: Document, stretches: dict[str, Stretch], expected_id: str | None = None) -> Routine:
    """Validate a routine against the known stretches and build it, reporting every problem."""
    out = Collector(doc)
    data = doc.data
    out.extend(check_routine_shape(data))
    if isinstance(data, dict) and isinstance(data.get("id"), str) and expected_id and data["id"] != expected_id:
        out.add(("id",), f"'{data['id']}' does not match the file name '{expected_id}.yaml'")
    entries = data.get("stretches") if isinstance(data, dict) else None
    items: list[RoutineItem] = []
    # stretch references are checked even when other fields have problems, so all are reported at once
    for i, raw in enumerate(entries if isinstance(entries, list) else []):
        entry = {"id": raw} if isinstance(raw, str) else raw
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        path: PathKey = ("stretches", i) if isinstance(raw, str) else ("stretches", i, "id")
        stretch = stretches.get(entry["id"])
        if stretch is None:
            out.add(path, unknown_message("stretch", entry["id"], stretches))
            continue
        for key, rng in (("hold", stretch.hold_seconds), ("reps", stretch.reps), ("sets", stretch.sets)):
            value = entry.get(key)
            if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if rng is None:
                out.add(("stretches", i, key), f"{stretch.id} has no {key} to override")
            elif not rng.min <= value <= rng.max:
                out.add(("stretches", i, key), f"{value:g} is outside {stretch.id}'s range {rng.min:g}-{rng.max:g}")
        items.append(RoutineItem(entry["id"], entry.get("hold"), entry.get("reps"), entry.get("sets")))
    if out.problems:
        raise CatalogError(sorted(out.problems, key=lambda p: p.line or 0))
    return Routine(
        id=data["id"],
        title=data["title"],
        description=data.get("description", ""),
        minutes=data.get("minutes"),
        items=tuple(items),
        source=doc.file,
    )


# --------------------------------------------------------------------------- loading


def bundled_catalog_dir() -> Path:
    """The catalog shipped with the package (wheel), or the repository's own (source checkout)."""
    here = Path(__file__).resolve().parent.parent  # the voiceguide package
    for candidate in (here / "_catalog", here.parent / "catalog"):
        if (candidate / "stretches").is_dir():
            return candidate
    raise CatalogError([Problem(str(here), None, None, "the bundled catalog is missing; reinstall voiceguide")])


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def load_catalog(root: Path | None = None) -> Catalog:
    """Load every stretch and routine under ``root``; report all problems in all files at once."""
    root = root or bundled_catalog_dir()
    catalog = Catalog(root=root)
    problems: list[Problem] = []
    for path in sorted((root / "stretches").glob("*.yaml")):
        try:
            stretch = stretch_from_document(load_document(path, _display(path, root)), path.stem)
            catalog.stretches[stretch.id] = stretch
        except CatalogError as e:
            problems += e.problems
    for path in sorted((root / "routines").glob("*.yaml")):
        try:
            routine = routine_from_document(load_document(path, _display(path, root)), catalog.stretches, path.stem)
            catalog.routines[routine.id] = routine
        except CatalogError as e:
            problems += e.problems
    if problems:
        raise CatalogError(problems)
    return catalog


def check_files(paths: Sequence[Path], catalog: Catalog) -> list[Problem]:
    """Validate user stretch and routine files (told apart by their keys); return all problems."""
    problems: list[Problem] = []
    extra: dict[str, Stretch] = {}
    docs: list[Document] = []
    for path in paths:
        try:
            docs.append(load_document(path))
        except CatalogError as e:
            problems += e.problems
    # stretches first, so a user's routine may use a user's stretch checked alongside it
    for doc in docs:
        if _is_routine(doc):
            continue
        try:
            stretch = stretch_from_document(doc)
            extra[stretch.id] = stretch
        except CatalogError as e:
            problems += e.problems
    known = {**catalog.stretches, **extra}
    for doc in docs:
        if _is_routine(doc):
            try:
                routine_from_document(doc, known)
            except CatalogError as e:
                problems += e.problems
    return problems


def _is_routine(doc: Document) -> bool:
    return isinstance(doc.data, dict) and ("stretches" in doc.data or "title" in doc.data)


def resolve_routine(spec: str, catalog: Catalog) -> Routine:
    """Turn what a user typed as ROUTINE into a routine.

    A routine id, a stretch id (a one-stretch session), comma-separated stretch ids, or a path
    to a routine YAML file.
    """
    path = Path(spec)
    if spec.endswith((".yaml", ".yml")) or (("/" in spec or "\\" in spec) and (path.exists() or path.is_symlink())):
        if not path.exists() and not path.is_symlink():  # a folder, a pipe or a loop: load_document says why
            raise UnknownIdError(f"{spec}: no such routine file")
        return routine_from_document(load_document(path), catalog.stretches)
    if spec in catalog.routines:
        return catalog.routines[spec]
    ids = [s.strip() for s in spec.split(",") if s.strip()]
    if not ids:
        raise UnknownIdError("no routine given")
    if len(ids) > MAX_ROUTINE_STRETCHES:
        raise BadOptionError(f"ROUTINE: {len(ids)} stretches; a session takes at most {MAX_ROUTINE_STRETCHES}")
    if len(ids) == 1 and ids[0] not in catalog.stretches:
        catalog.routine(ids[0])  # raises with suggestions across routines and stretches
    stretches = [catalog.stretch(i) for i in ids]
    if len(stretches) <= 3:
        title = " and ".join(s.name for s in stretches) if len(stretches) == 2 else ", ".join(s.name for s in stretches)
    else:
        title = f"{stretches[0].name} and {len(stretches) - 1} more stretches"
    return Routine(
        id="-".join(ids) if len(ids) <= 3 else f"{ids[0]}-and-{len(ids) - 1}-more",
        title=title,
        description=f"A session of {title}.",
        minutes=None,
        items=tuple(RoutineItem(i) for i in ids),
    )
