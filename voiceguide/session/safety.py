"""What a session says about safety: one short opening paragraph, and each stretch's cautions in their place.

The opening paragraph is built from the cautions of the stretches the session holds. A stretch's
own caution about a condition (pregnancy, blood pressure, a recent injury) decides whether to do
it at all, so it is said before getting into the stretch; a caution about a joint is a way to
adapt it, said once the body is set up.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def before_and_after(stretch: Stretch) -> tuple[list[Caution], list[Caution]]:
    """A stretch's cautions split into those said before getting into it and those said after setup."""
    before = [c for c in stretch.cautions if c.tag in DECIDING_TAGS]
    after = [c for c in stretch.cautions if c.tag not in DECIDING_TAGS]
    return before, after
