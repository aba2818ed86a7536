"""What a session says about safety: one short opening paragraph, and each stretch's cautions in their place.

The opening paragraph is built from the cautions of the stretches the session holds. A stretch's
own caution about a condition (pregnancy, blood pressure, a recent injury) changes how to do it,
so it is said before getting into the stretch, and only once for each shape the body is in: the
note said before the first stretch on the back holds for every stretch on the back after it. A
caution for a joint the stretch is about to load (a blanket under the knees before kneeling) is
said before the load too; any other caution is a way to adapt, said once the body is set up.
Every caution line is said once in a session.
"""

from __future__ import annotations

from collections.abc import Sequence

from voiceguide.catalog.shapes import DEFAULT_SHAPE, SHAPES
from voiceguide.catalog.types import Caution, Stretch
from voiceguide.session.words import join_words

BODY_TAGS = ("knees", "wrists", "neck", "shoulders", "hips")
CONDITION_NAMES = {
    "acute-back-injury": "a recent back injury",
    "osteoporosis": "osteoporosis",
    "sciatica": "sciatica",
    "high-blood-pressure": "high blood pressure",
}
DECIDING_TAGS = frozenset({*CONDITION_NAMES, "pregnancy"})
"""Caution tags about who should do a stretch at all, rather than how."""


def safety_lines(stretches: Sequence[Stretch], avoid: Sequence[str] = ()) -> list[str]:
    """The opening safety paragraph for the cautions of these stretches, a few plain sentences."""
    tags = {t for s in stretches for t in s.caution_tags} - set(avoid)
    lines = ["Move slowly, and ease off at once if you feel any sharp or shooting pain."]
    who = [name for tag, name in CONDITION_NAMES.items() if tag in tags or tag == "acute-back-injury"]
    pregnant = ", or you are pregnant" if "pregnancy" in tags else ""
    lines.append(f"If you have {join_words(who, 'or')}{pregnant}, check with a professional before you begin.")
    body = [t for t in BODY_TAGS if t in tags]
    if body:
        lines.append(f"Go gently with your {join_words(body)}; each stretch says how to make it easier.")
    if "balance" in tags:
        lines.append("Some moves need balance, so keep a wall or a chair within reach.")
    return lines


_SAME_PLACE = {"back-legs-long": "back-knees-bent"}
"""Shapes a condition note covers together: lying on the back with the legs long or the knees bent."""


class CautionPlan:
    """Decides, stretch by stretch through a session, which caution lines are said and where."""

    def __init__(self) -> None:
        self.said: set[str] = set()
        self.conditions: set[tuple[str, str]] = set()

    def split(self, stretch: Stretch) -> tuple[list[Caution], list[Caution]]:
        """(said before getting into the stretch, said once it is set up), leaving out what was said already."""
        shape = stretch.start or DEFAULT_SHAPE[stretch.position]
        place = _SAME_PLACE.get(shape, shape)
        loaded = frozenset(stretch.loads) | SHAPES[shape].loads
        before: list[Caution] = []
        after: list[Caution] = []
        for caution in stretch.cautions:
            if caution.say in self.said:
                continue
            if caution.tag in DECIDING_TAGS:
                if (caution.tag, place) in self.conditions:
                    continue
                self.conditions.add((caution.tag, place))
                before.append(caution)
            elif caution.tag in loaded:
                before.append(caution)
            else:
                after.append(caution)
            self.said.add(caution.say)
        while _ifs(before) > MAX_IFS and _ifs([c for c in before if c.tag not in DECIDING_TAGS]):
            # a third "If ..." in a row is one too many to follow: a joint's option waits until the setup is done
            moved = next(c for c in reversed(before) if c.tag not in DECIDING_TAGS and _is_if(c))
            before.remove(moved)
            after.insert(0, moved)
        return before, after


MAX_IFS = 2
"""Caution lines starting "If you..." said one after another, at most."""


def _is_if(caution: Caution) -> bool:
    return caution.say.startswith("If you")


def _ifs(cautions: Sequence[Caution]) -> int:
    return sum(_is_if(c) for c in cautions)


def before_and_after(stretch: Stretch) -> tuple[list[Caution], list[Caution]]:
    """A stretch's cautions split into those said before getting into it and those said after setup."""
    return CautionPlan().split(stretch)
