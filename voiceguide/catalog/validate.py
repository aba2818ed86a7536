"""Validating catalog files: each file kind is a table of fields, each with a checker.

A file is checked completely and every problem is reported at once, with its file, line and field.
"""

from __future__ import annotations

import difflib
import re
import string
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from voiceguide.catalog.shapes import SHAPES
from voiceguide.catalog.types import (
    CAUTION_TAGS,
    FOCUS_AREAS,
    LOAD_TAGS,
    POSITIONS,
    PROP_WORDS,
    PROPS,
    SIDE_FIELDS,
    STYLES,
    Caution,
    Range,
    Routine,
    RoutineItem,
    Stretch,
    unknown_message,
)
from voiceguide.catalog.yamlio import Document, PathKey
from voiceguide.errors import CatalogError, Problem

_KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


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
    Field(
        "breath",
        mapping(
            [
                Field("inhale", spoken),
                Field("exhale", spoken),
                Field("inhale_short", spoken, required=False),
                Field("exhale_short", spoken, required=False),
                Field("lead", choice(("inhale", "exhale")), required=False),
            ]
        ),
    ),
    Field("start", choice(tuple(SHAPES)), required=False),
    Field("setup", list_of(spoken), required=False),
    Field("side_setup", list_of(spoken), required=False),
    Field("alternating", boolean, required=False),
    Field("loads", list_of(choice(LOAD_TAGS)), required=False),
    Field("family", kebab, required=False),
    Field("props", list_of(choice(PROPS)), required=False),
    Field("resting", boolean, required=False),
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
    Field("avoid", list_of(choice(CAUTION_TAGS)), required=False),
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
        _check_sides(data, out)
        _check_props(data, out)
    if out.problems:
        raise CatalogError(out.problems)
    default_sets = {"default": 1, "min": 1, "max": 1}
    setup, side_setup = list(data.get("setup") or ()), list(data.get("side_setup") or ())
    if data["sides"] and not side_setup:
        # an older file: its side lines start at the first line that names a side
        at = next((i for i, line in enumerate(setup) if "{" in line), len(setup))
        setup, side_setup = setup[:at], setup[at:]
    breath = data["breath"]
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
        setup=tuple(setup),
        cues=tuple(data.get("cues") or ()),
        release=data.get("release"),
        cautions=tuple(Caution(c["tag"], c["say"]) for c in data.get("cautions") or ()),
        source=doc.file,
        start=data.get("start"),
        side_setup=tuple(side_setup),
        alternating=bool(data.get("alternating", False)),
        loads=tuple(data.get("loads") or ()),
        family=data.get("family"),
        breath_in_short=breath.get("inhale_short"),
        breath_out_short=breath.get("exhale_short"),
        lead=breath.get("lead", "exhale"),
        props=_props(data),
        resting=bool(data.get("resting", False)),
    )


def _names_prop(line: str, prop: str) -> bool:
    return any(re.search(rf"\b{word}", line, re.IGNORECASE) for word in PROP_WORDS[prop])


def _props(data: dict[str, Any]) -> tuple[str, ...]:
    """The declared props; an older file without the key gets the props its lines name."""
    if "props" in data:
        return tuple(dict.fromkeys(data["props"] or ()))
    implied = _implied_props(data)
    lines = [line for _, line in _spoken_lines(data)]
    return tuple(p for p in PROPS if p not in implied and any(_names_prop(line, p) for line in lines))


def _implied_props(data: dict[str, Any]) -> set[str]:
    return {"chair"} if data.get("start") == "chair" else set()


def _check_props(data: dict[str, Any], out: Collector) -> None:
    """Declared ``props`` hold every prop a line asks for (so the opening names it), and no other."""
    if "props" not in data:
        return
    declared = list(data.get("props") or ())
    lines = list(_spoken_lines(data))
    implied = _implied_props(data)
    for i, prop in enumerate(declared):
        if prop in implied:
            out.add(("props", i), f"'{prop}' comes with the start shape; leave it out of props")
        elif not any(_names_prop(line, prop) for _, line in lines):
            out.add(("props", i), f"'{prop}' is declared but no line asks for it")
    for path, line in lines:
        for prop in (p for p in PROPS if p not in implied):
            if prop not in declared and _names_prop(line, prop):
                out.add(path, f"names a {prop}; add '{prop}' to props so the session asks for it before it starts")


def _check_sides(data: dict[str, Any], out: Collector) -> None:
    """Where {side}/{other} may appear, and that a stretch has something to set it up with."""
    alternating = bool(data.get("alternating"))
    if not data.get("setup") and not data.get("start") and not data.get("side_setup"):
        out.add((), "missing required key 'setup' (a stretch needs setup lines, a start shape, or both)")
    if alternating and (data["sides"] or data["style"] == "hold"):
        out.add(("alternating",), "alternating repetitions need sides: false and style reps or flow")
    if alternating and "{side}" not in data["breath"]["exhale"]:
        out.add(("breath", "exhale"), "an alternating stretch names each side: put {side} in the exhale line")
    if data.get("side_setup") and not data["sides"]:
        out.add(("side_setup",), "side_setup only applies to stretches with sides: true")
    for i, line in enumerate(data.get("side_setup") or ()):
        if "{side}" not in line and "{other}" not in line:
            out.add(("side_setup", i), "a side line names its side with {side} or {other}")
    if not data["sides"]:
        for path, line_text in _spoken_lines(data):
            if "{" in line_text and not (alternating and path[0] == "breath"):
                out.add(path, "{side}/{other} only apply to stretches with sides: true")


def _spoken_lines(data: dict[str, Any]) -> Iterable[tuple[PathKey, str]]:
    yield ("breath", "inhale"), data["breath"]["inhale"]
    yield ("breath", "exhale"), data["breath"]["exhale"]
    for key in ("inhale_short", "exhale_short"):  # "lead" is a word, not a line
        if data["breath"].get(key):
            yield ("breath", key), data["breath"][key]
    for key in ("setup", "side_setup", "cues"):
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
        avoid=tuple(dict.fromkeys(data.get("avoid") or ())),
    )



PHRASE_KINDS = ("breathe_in", "breathe_out", "hold", "release", "halfway", "encourage", "rest", "next")
"""The pools of ``phrases.yaml``; ``next`` lines say the stretch's name with ``{name}``."""


def _phrase(value: Any) -> list[tuple[PathKey, str]]:
    problems = text(value)
    if not problems and "{" in value.replace("{name}", ""):
        problems = [((), "only the {name} placeholder (in 'next' lines)")]
    return problems


check_phrases_shape = mapping([Field(kind, list_of(_phrase, non_empty=True)) for kind in PHRASE_KINDS])


def phrases_from_document(doc: Document) -> dict[str, tuple[str, ...]]:
    """Validate the phrase pools (every kind present, each a non-empty list of lines) and build them."""
    out = Collector(doc)
    out.extend(check_phrases_shape(doc.data))
    if not out.problems:
        for kind in PHRASE_KINDS:
            for i, line in enumerate(doc.data[kind]):
                if ("{name}" in line) != (kind == "next"):
                    out.add((kind, i), "'next' lines say {name}; no other line does")
    if out.problems:
        raise CatalogError(out.problems)
    return {kind: tuple(doc.data[kind]) for kind in PHRASE_KINDS}
