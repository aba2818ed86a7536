"""What a session asks a person to have at hand, named in its opening before the first stretch.

Each stretch declares the props its lines ask for (``props`` in the catalog); the opening gathers
them so nobody has to fetch a blanket in the few seconds a setup leaves.
"""

from __future__ import annotations

from collections.abc import Sequence

from voiceguide.catalog.shapes import DEFAULT_SHAPE, SHAPES
from voiceguide.catalog.types import PROPS, Stretch
from voiceguide.session.words import join_words

CARRIED = {
    "blanket": "a folded blanket",
    "cushion": "a cushion",
    "towel": "a towel",
    "strap": "a strap",
    "block": "a block",
    "chair": "a sturdy chair",
}
"""Props a person brings to the mat, as the opening names them."""
PLACES = {"wall": "a wall", "step": "the bottom stair"}
"""Props a person sets up beside."""


def session_props(stretches: Sequence[Stretch], avoid: Sequence[str] = ()) -> list[str]:
    """Every prop the stretches' lines ask for, in catalog order.

    Sparing the knees, the way down to the floor and up from it goes by a chair, so a session on
    the floor wants one. The chair is left out when a stretch sits on it: the opening asks for it then.
    """
    wanted = {p for s in stretches for p in s.props}
    shapes = [SHAPES[s.start or DEFAULT_SHAPE[s.position]] for s in stretches]
    if "knees" in avoid and any(shape.level in ("lying", "floor") for shape in shapes):
        wanted.add("chair")
    if any(shape.id == "chair" for shape in shapes):
        wanted.discard("chair")
    return [p for p in PROPS if p in wanted]


def props_lines(stretches: Sequence[Stretch], avoid: Sequence[str] = ()) -> list[str]:
    """The opening's sentences about props: what to have nearby, and where to set up."""
    props = session_props(stretches, avoid)
    carried = [CARRIED[p] for p in props if p in CARRIED]
    places = [PLACES[p] for p in props if p in PLACES]
    lines = []
    if carried:
        lines.append(f"Have {join_words(carried)} nearby.")
    if places:
        lines.append(f"Set up near {join_words(places)}.")
    return lines
