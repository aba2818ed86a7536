"""Composing a routine from the catalog for a person: focus areas, minutes, position, cautions.

The routine is built like a teacher would: stretches that work the asked-for areas are drawn
(weighted toward the first area, varied by a seed), then ordered so the person moves down once
— standing, then sitting, then kneeling, then lying — with moving, breath-paced work before
longer holds inside each position, and a restful hold at the close. Stretches are added or
removed until the composer can fit the minutes asked for.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from voiceguide.catalog.types import FOCUS_AREAS, Catalog, Routine, RoutineItem, Stretch, parse_word_list
from voiceguide.errors import BadOptionError, FitError, VoiceguideError
from voiceguide.session.compose import ComposeOptions, compose

POSITION_CHOICES = ("floor", "seated", "standing", "any")
_ALLOWED = {
    "floor": {"seated-floor", "kneeling", "lunge", "supine", "prone", "side-lying"},
    "seated": {"seated"},
    "standing": {"standing"},
    "any": None,
}
_ORDER = ("standing", "seated", "seated-floor", "kneeling", "lunge", "prone", "side-lying", "supine")
"""The way down, so a session has few trips between standing, kneeling and lying."""
_STYLE_ORDER = {"flow": 0, "reps": 1, "hold": 2}
_SHAPE_ORDER = ("standing", "chair", "floor-sitting", "hands-and-knees", "front", "side-lying", "back-knees-bent",
                "back-legs-long")
"""Inside one position, stretches from the same start shape go together (knees bent, then legs long)."""


class NoStretchesError(VoiceguideError):
    """Raised when no stretch in the catalog matches the focus, position and cautions asked for."""


@dataclass(frozen=True)
class Request:
    """What a person asked for."""

    focus: tuple[str, ...]
    minutes: float
    position: str = "any"
    level: str = "standard"
    avoid: tuple[str, ...] = ()
    seed: int = 0


def parse_focus(value: str) -> tuple[str, ...]:
    """Focus areas from ``lower-back,hips``; an unknown one lists the known areas."""
    areas = parse_word_list(value, FOCUS_AREAS, "--focus", "area")
    if not areas:
        raise BadOptionError(f"--focus: name at least one area ({', '.join(FOCUS_AREAS)})")
    return areas


def _weight(stretch: Stretch, focus: Sequence[str]) -> float:
    """How much a stretch serves the focus: more for the first area, more when it is its main area."""
    weight = 0.0
    for rank, area in enumerate(focus):
        if area in stretch.focus:
            weight += (2.0 if stretch.focus.index(area) == 0 else 1.0) / (1 + rank)
    return weight


def candidates(catalog: Catalog, request: Request) -> list[tuple[Stretch, float]]:
    allowed = _ALLOWED[request.position]
    found = []
    for stretch in catalog.stretches.values():
        if allowed is not None and stretch.position not in allowed:
            continue
        if stretch.avoid_tags & set(request.avoid):
            continue
        weight = _weight(stretch, request.focus)
        if weight > 0:
            found.append((stretch, weight))
    if not found:
        parts = [f"focus {', '.join(request.focus)}"]
        if request.position != "any":
            parts.append(f"position {request.position}")
        if request.avoid:
            parts.append(f"avoiding {', '.join(request.avoid)}")
        raise NoStretchesError(f"no stretch in the catalog fits {'; '.join(parts)}; widen the focus or position")
    return found


def order(stretches: Sequence[Stretch]) -> list[Stretch]:
    """Down through the positions once, one start shape at a time; moving work before holds; the longest
    holds last."""

    def key(s: Stretch) -> tuple[int, int, int, float]:
        hold = s.hold_seconds.default if s.hold_seconds else 0.0
        shape = _SHAPE_ORDER.index(s.start) if s.start in _SHAPE_ORDER else len(_SHAPE_ORDER)
        return (_ORDER.index(s.position), shape, _STYLE_ORDER[s.style], hold)

    return sorted(stretches, key=key)


def _draw(pool: list[tuple[Stretch, float]], rng: random.Random) -> Stretch:
    """Draw one stretch by weight, and take its variants (same family) out of the pool."""
    total = sum(w for _, w in pool)
    pick = rng.uniform(0, total)
    chosen = pool[-1][0]
    for stretch, weight in pool:
        pick -= weight
        if pick <= 0:
            chosen = stretch
            break
    pool[:] = [(s, w) for s, w in pool if s.id != chosen.id and (chosen.family is None or s.family != chosen.family)]
    return chosen


def make_routine(catalog: Catalog, request: Request) -> Routine:
    """A routine for the request that the composer can fit to its minutes within 2 s."""
    pool = candidates(catalog, request)
    rng = random.Random(request.seed)
    chosen: list[Stretch] = []
    options = ComposeOptions(minutes=request.minutes, level=request.level, strict=True)
    last_error: FitError | None = None
    widened = False
    # about one stretch for every two minutes, so holds sit near their defaults rather than their limits
    while pool and len(chosen) < max(1, round(request.minutes / 2.0)):
        chosen.append(_draw(pool, rng))
    for _ in range(len(pool) + len(chosen) + 8):
        routine = _as_routine(order(chosen), request)
        try:
            compose(routine, catalog, options)
            return routine
        except FitError as e:
            last_error = e
            if "as long as" in str(e) or "cannot land" in str(e):
                if not pool and not widened:  # the focus has no more to give: add suitable stretches
                    widened = True
                    pool = _suitable_extras(catalog, request, chosen)
                if not pool:
                    break
                chosen.append(_draw(pool, rng))
            elif len(chosen) > 1:
                # too long even at its shortest: drop the stretch that serves the focus least
                chosen.remove(min(chosen, key=lambda s: (_weight(s, request.focus), s.id)))
            elif pool:  # a single stretch too long even at its shortest: another that serves the focus
                chosen = [_draw(pool, rng)]
            else:
                break
    assert last_error is not None
    raise FitError(
        f"cannot make a {request.minutes:g}-minute session for focus {', '.join(request.focus)}: {last_error.message}"
    )


def _suitable_extras(catalog: Catalog, request: Request, chosen: Sequence[Stretch]) -> list[tuple[Stretch, float]]:
    """Stretches outside the focus that still fit the position and cautions, and are no variant of one chosen."""
    allowed = _ALLOWED[request.position]
    taken = {s.id for s in chosen}
    families = {s.family for s in chosen if s.family}
    return [
        (s, 1.0)
        for s in catalog.stretches.values()
        if s.id not in taken
        and (s.family is None or s.family not in families)
        and (allowed is None or s.position in allowed)
        and not s.avoid_tags & set(request.avoid)
    ]


def _as_routine(stretches: Sequence[Stretch], request: Request) -> Routine:
    areas = " and ".join(a.replace("-", " ") for a in request.focus)
    return Routine(
        id=f"my-{'-'.join(request.focus)}-{request.minutes:g}min".replace(".", "-"),
        title=f"Stretches for the {areas}",
        description=f"A {request.minutes:g}-minute {request.level} session for the {areas}, made for you.",
        minutes=request.minutes,
        items=tuple(RoutineItem(s.id) for s in stretches),
        avoid=tuple(request.avoid),
    )


def _number(value: float) -> int | float:
    """15, not 15.0: a whole number as a user writes it."""
    return int(value) if float(value).is_integer() else value


def routine_yaml(routine: Routine, request: Request) -> str:
    """The routine as a YAML file that ``voiceguide check`` accepts, with how it was made."""
    header = (
        f"# Made by: voiceguide make --focus {','.join(request.focus)} --minutes {request.minutes:g} "
        f"--position {request.position} --level {request.level}"
        + (f" --avoid {','.join(request.avoid)}" if request.avoid else "")
        + f" --seed {request.seed}\n"
        "# Edit freely: reorder, remove or add stretch ids, or give one a hold, reps or sets.\n"
    )
    body = {
        "id": routine.id,
        "title": routine.title,
        "description": routine.description,
        "minutes": _number(request.minutes),
        **({"avoid": list(request.avoid)} if request.avoid else {}),
        "stretches": [item.stretch for item in routine.items],
    }
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)
