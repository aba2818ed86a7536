"""Positions that travel once: few trips between the floor, the chair and standing, each one safe.

Swapping stretches for ones that spare a joint can scatter a session between the floor and the
chair; :func:`grouped` brings stretches of one place together again, in the order the places first
come. When the knees are spared, the way down to the floor and up from it never kneels
(:func:`knee_free_transition`).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from voiceguide.catalog.shapes import DEFAULT_SHAPE, SHAPES, Shape
from voiceguide.catalog.types import Stretch

PLACES = {"lying": "floor", "floor": "floor", "chair": "chair", "standing": "standing"}
"""Where the body is for each shape level: changing place is a trip down, up, or in or out of the chair."""


def shape_of(stretch: Stretch) -> Shape:
    """The shape a stretch starts from."""
    return SHAPES[stretch.start or DEFAULT_SHAPE[stretch.position]]


def place_of(stretch: Stretch) -> str:
    return PLACES[shape_of(stretch).level]


def place_changes(stretches: Sequence[Stretch]) -> int:
    """How many times a session in this order moves between the floor, the chair and standing."""
    places = [place_of(s) for s in stretches]
    return sum(a != b for a, b in pairwise(places))


def grouped(stretches: Sequence[Stretch]) -> list[int]:
    """The order (indices) that visits each place once, in the order places first come; within a
    place, the stretches keep their order."""
    first: dict[str, int] = {}
    for s in stretches:
        first.setdefault(place_of(s), len(first))
    return sorted(range(len(stretches)), key=lambda i: (first[place_of(stretches[i])], i))


_DOWN = (
    "Stand at the side of your mat with a hand on your chair.",
    "Bend your knees and lower your hips slowly to sit on the mat, keeping your knees off the floor.",
)
_ONTO_BACK = ("Lean back onto your forearms, then lower yourself onto your back.",)
_UP_FROM_BACK = ("Roll onto your side.", "Press yourself up to sitting.")
_UP = (
    "Bring your chair close and put both hands on its seat.",
    "Push through your hands and feet to rise to standing, your knees never touching the floor.",
)


def knee_free_transition(before: Shape, after: Shape) -> tuple[tuple[str, ...], int] | None:
    """The way between the floor and the chair or standing that never kneels, as ``transition`` gives
    it (lines, and how many of ``after``'s arrive lines they cover); None where no such trip is made."""
    down = before.level in ("chair", "standing") and after.level in ("floor", "lying")
    up = before.level in ("floor", "lying") and after.level in ("chair", "standing")
    if down:
        if after.id in ("back-knees-bent", "back-legs-long"):
            return (*_DOWN, *_ONTO_BACK), 1
        if after.id == "front":
            return (*_DOWN, *_ONTO_BACK, "Roll over onto your front."), 1
        return _DOWN, 1 if after.id == "floor-sitting" else 0
    if up:
        lines = (*(_UP_FROM_BACK if before.level == "lying" else ()), *_UP)
        return lines, 0
    return None
