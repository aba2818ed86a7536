"""Starting shapes: the positions a stretch starts from, and how the body moves between them.

A stretch names the shape it starts from (``start``); its release brings the body back to it.
When the next stretch starts from the same shape the session says so in one line instead of
setting it up again, and when the shape changes it says how to get there safely.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    """A shape the body rests in between stretches."""

    id: str
    level: str
    """``lying``, ``floor`` (sitting or on hands and knees), ``chair`` or ``standing``."""
    arrive: tuple[str, ...]
    """Lines that set the shape up; the first gets the body there, the rest align it."""
    stay: str
    """Said when the body is already in this shape."""
    loads: frozenset[str]
    """Joints that carry weight in this shape: ``knees``, ``wrists``."""
    rest: str
    """The closing rest in this shape."""
    farewell: str
    """The last words of a session that ends in this shape."""


_LYING_REST = "Let your whole body rest heavy on the mat."
_LYING_BYE = "When you are ready, roll to your side and take your time coming up."

SHAPES = {
    s.id: s
    for s in (
        Shape("standing", "standing", ("Stand tall with your feet under your hips.",), "Stay standing tall.",
              frozenset(), "Stand easy, your weight even on both feet.", "Carry this easy feeling into your day."),
        Shape("chair", "chair", ("Sit near the front of your chair.", "Set both feet flat on the floor."),
              "Stay sitting tall in your chair.", frozenset(), "Rest your hands in your lap.",
              "Take one more easy breath before you carry on with your day."),
        Shape("floor-sitting", "floor", ("Sit tall on the mat.",), "Stay sitting on the mat.", frozenset(),
              "Rest your hands on your knees.", "Take your time before you get up."),
        Shape("hands-and-knees", "floor",
              ("Come onto your hands and knees.", "Stack your wrists under your shoulders.",
               "Set your knees under your hips."),
              "Stay on your hands and knees.", frozenset({"knees", "wrists"}),
              "Sit down to one side of your feet and rest.", "Take your time before you get up."),
        Shape("back-knees-bent", "lying", ("Lie on your back.", "Bend your knees and set your feet flat on the floor."),
              "Stay on your back with your knees bent.", frozenset(), _LYING_REST, _LYING_BYE),
        Shape("back-legs-long", "lying", ("Lie on your back.", "Stretch your legs out long."),
              "Stay on your back with your legs long.", frozenset(), _LYING_REST, _LYING_BYE),
        Shape("front", "lying", ("Lie on your front.", "Let your legs rest long behind you."),
              "Stay lying on your front.", frozenset(), "Rest your forehead on your hands.", _LYING_BYE),
        Shape("side-lying", "lying", ("Lie on your side with your knees bent.",), "Stay lying on your side.",
              frozenset(), _LYING_REST, _LYING_BYE),
    )
}
"""Every shape a stretch may start from, by id."""

_UP_FROM_LYING = ("Roll onto your side.", "Press yourself up to sitting.")
_TO_STANDING = ("Slowly come up to standing, with a hand on a chair if you like.",)
_DOWN_TO_FLOOR = ("Slowly lower yourself down to the mat.",)


_KNEE_FREE_DOWN = (
    "Sit near the front of your chair, with the mat just in front of it.",
    "Put your hands on the seat beside your hips.",
    "Slide your hips forward and lower yourself gently to sit on the mat.",
)
"""From the chair to sitting on the mat, with no kneeling: the hands on the seat carry the weight."""
_FROM_THE_SEAT = "Slide to the front of your seat, with the mat just in front of you."
"""The first step down when the body is already sitting in the chair."""
_KNEE_FREE_UP = (
    "Sit with your back to your chair.",
    "Shuffle back until your back touches the front of your chair.",
    "Bend your knees and set your feet flat.",
    "Reach back and put your hands on the seat.",
    "Press through your hands and feet and lift your hips onto the seat.",
)
"""From sitting on the mat back onto the chair, with no kneeling; take it slowly."""

MOVE_KINDS = ("stay", "refine", "change position", "down to the floor", "up from the floor")
"""How big a move between two shapes is, biggest last: how much time a body needs to make it."""


def move_kind(before: Shape | None, after: Shape) -> str:
    """The kind of move from ``before`` to ``after`` (one of ``MOVE_KINDS``); ``before`` None is the start."""
    if before is None or before.id == after.id:
        return "stay"
    low = ("lying", "floor")
    if before.level not in low and after.level in low:
        return "down to the floor"
    if before.level in low and after.level not in low:
        return "up from the floor"
    if {before.id, after.id} == {"back-knees-bent", "back-legs-long"}:
        return "refine"
    return "change position"


def transition(
    before: Shape | None, after: Shape, spare_knees: bool = False
) -> tuple[tuple[str, ...], int]:
    """How to get from ``before`` to ``after``: the lines to say, and how many of ``after``'s
    arrive lines they already cover (those are not said again).

    Nothing is said when the shapes are the same. The lines never pass through kneeling unless
    ``after`` is itself on the hands and knees. With ``spare_knees`` the way down to the floor and
    up from it goes by the chair, with no kneeling and no weight through the knees; a session that
    starts on the floor then starts with that way down (``before`` None is the session's start).
    """
    if before is None:
        if spare_knees and after.level in ("lying", "floor"):
            return _spared_down(after)
        return (), 0
    if before.id == after.id:
        return (), 0
    if spare_knees:
        spared = _spared(before, after)
        if spared is not None:
            return spared
    pair = (before.level, after.level)
    on_back = {"back-knees-bent", "back-legs-long"}
    if before.id in on_back and after.id in on_back:  # only the legs change
        if after.id == "back-legs-long":
            return ("Slide your legs out long.",), len(after.arrive)
        return ("Bend your knees and set your feet flat on the floor.",), len(after.arrive)
    if pair == ("lying", "lying"):
        if after.id == "front":
            return ("Roll over onto your front.",), 1
        if after.id == "side-lying":
            return (), 0
        return ("Roll over onto your back.",), 1
    if pair == ("lying", "floor"):
        if after.id == "hands-and-knees":
            if before.id == "front":
                return ("Press yourself back onto your hands and knees.",), 1
            return ("Roll onto your side.", "Press yourself up onto your hands and knees."), 1
        return _UP_FROM_LYING, 0
    if pair == ("floor", "lying"):
        if after.id == "front":
            return ("Lower yourself down onto your front.",), 1
        first = ("Sit down to one side of your feet.",) if before.id == "hands-and-knees" else ()
        if after.id == "side-lying":
            return (*first, "Lower yourself down onto the mat."), 0
        return (*first, "Lower yourself onto your back."), 1
    if pair == ("floor", "floor"):
        if after.id == "floor-sitting":
            return ("Sit down to one side of your feet.",), 0
        return (), 0
    if before.level in ("lying", "floor") and after.level in ("chair", "standing"):
        up: tuple[str, ...] = _UP_FROM_LYING if before.level == "lying" else ()
        if before.id == "hands-and-knees":
            up = ("Walk your hands back toward your knees.",)
        return (*up, *_TO_STANDING), 0
    if pair == ("chair", "standing"):
        return ("Slowly stand up, with a hand on your chair.",), 0
    if pair == ("standing", "chair"):
        return ("Sit down near the front of your chair.",), 1
    return _DOWN_TO_FLOOR, 0  # from the chair or standing, down to the floor


def _spared_down(after: Shape) -> tuple[tuple[str, ...], int]:
    """From the chair down to ``after`` on the floor, knee-free."""
    if after.id == "floor-sitting":
        return _KNEE_FREE_DOWN, 1
    if after.id in ("back-knees-bent", "back-legs-long"):
        return (*_KNEE_FREE_DOWN, "Lean back onto your elbows.", "Lower yourself onto your back."), 1
    if after.id == "front":
        return (*_KNEE_FREE_DOWN, "Lower yourself onto your side.", "Roll over onto your front."), 1
    return (*_KNEE_FREE_DOWN, "Lower yourself down onto the mat."), 0


def _spared(before: Shape, after: Shape) -> tuple[tuple[str, ...], int] | None:
    """The knee-free way between the floor and the chair or standing, or None when the usual lines spare the knees."""
    low = ("lying", "floor")
    if before.level not in low and after.level in low:
        lines, skip = _spared_down(after)
        return ((_FROM_THE_SEAT, *lines[1:]) if before.id == "chair" else lines), skip
    if before.level in low and after.level not in low:
        up: tuple[str, ...] = _UP_FROM_LYING if before.level == "lying" else ()
        then = ("Slowly stand up, with a hand on your chair.",) if after.level == "standing" else ()
        return (*up, *_KNEE_FREE_UP, *then), len(after.arrive) if after.id == "chair" else 0
    return None


def farewell(shape: Shape, spare_knees: bool = False) -> tuple[str, ...]:
    """The last words of a session that ends in ``shape``; off the floor by the chair when sparing the knees."""
    if spare_knees and shape.level in ("lying", "floor"):
        up = ("When you are ready, roll onto your side.", _UP_FROM_LYING[1]) if shape.level == "lying" else ()
        return (*up, *_KNEE_FREE_UP, "Carry this easy feeling into your day.")
    return (shape.farewell,)


DEFAULT_SHAPE = {
    "standing": "standing",
    "seated": "chair",
    "seated-floor": "floor-sitting",
    "kneeling": "hands-and-knees",
    "lunge": "hands-and-knees",
    "supine": "back-knees-bent",
    "prone": "front",
    "side-lying": "side-lying",
}
"""The shape a position starts from when a stretch does not name one (for its level and loads)."""

_CHANGE, _REFINE, _DOWN, _UP = "change position", "refine", "down to the floor", "up from the floor"
MOVES: dict[str, str] = {
    **{shape.arrive[0]: _CHANGE for shape in SHAPES.values()},
    **{line: _REFINE for shape in SHAPES.values() for line in shape.arrive[1:]},
    _UP_FROM_LYING[0]: _CHANGE,
    _UP_FROM_LYING[1]: _CHANGE,
    _TO_STANDING[0]: _UP,
    _DOWN_TO_FLOOR[0]: _DOWN,
    "Slide your legs out long.": _REFINE,
    "Roll over onto your front.": _CHANGE,
    "Roll over onto your back.": _CHANGE,
    "Press yourself back onto your hands and knees.": _CHANGE,
    "Press yourself up onto your hands and knees.": _CHANGE,
    "Lower yourself down onto your front.": _CHANGE,
    "Sit down to one side of your feet.": _CHANGE,
    "Lower yourself down onto the mat.": _CHANGE,
    "Lower yourself onto your back.": _CHANGE,
    "Walk your hands back toward your knees.": _CHANGE,
    "Slowly stand up, with a hand on your chair.": _CHANGE,
    "Sit down near the front of your chair.": _CHANGE,
    _KNEE_FREE_DOWN[0]: _CHANGE,
    _FROM_THE_SEAT: _REFINE,
    _KNEE_FREE_DOWN[1]: _REFINE,
    _KNEE_FREE_DOWN[2]: _DOWN,
    "Lean back onto your elbows.": _CHANGE,
    "Lower yourself onto your side.": _CHANGE,
    _KNEE_FREE_UP[0]: _CHANGE,
    _KNEE_FREE_UP[1]: _CHANGE,
    _KNEE_FREE_UP[2]: _REFINE,
    _KNEE_FREE_UP[3]: _REFINE,
    _KNEE_FREE_UP[4]: _UP,
}
"""The kind of move (``MOVE_KINDS``) each line that sets up or changes a shape asks of the body, so the
time left to make it can follow its size: a refinement, a change of position, down to the floor or up."""
