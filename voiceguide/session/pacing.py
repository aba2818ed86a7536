"""How long the voice stays quiet after a line: the pause model, as tables a reader can tune.

A person following with closed eyes needs time to do what a line asks before the next one comes.
Every line is followed by at least a sentence pause; a line that moves the body gets time to act,
more for a big move (changing position, going down to the floor or up from it) than for a small
refinement. The time is chosen from the line's role and the kind of move it asks for (from its
words, or named for the line in :data:`LINE_MOVES`); :data:`LINE_PAUSE_S` sets one line's pause outright.
"""

from __future__ import annotations

import re

SENTENCE_PAUSE_S = 0.6
"""The least quiet between any two spoken lines: the pause a calm speaker leaves between sentences."""
MIN_GAP_S = 0.5
"""Layout never lets a line start sooner than this after the previous one ends, whatever was planned."""

ROLE_PAUSE_S = {
    "intro": 0.8,
    "safety": 0.8,
    "setup": 0.8,
    "instruction": 0.8,
    "transition": 1.2,
    "breath": SENTENCE_PAUSE_S,
    "count": SENTENCE_PAUSE_S,
    "countdown": 0.7,
    "next-up": 0.8,
    "outro": 0.8,
}
"""The pause after a line of each role when it asks for no move."""

MOVE_PAUSE_S = {
    "down to the floor": 5.0,
    "up from the floor": 5.0,
    "change position": 2.5,
    "switch sides": 2.0,
    "move": 1.6,
    "refine": 1.0,
}
"""The pause after a line that asks for a move, by the size of the move.

Getting down to the floor or up from it takes longest; then a new position (lying on the back,
onto hands and knees, into the chair); then over to the other side; a limb placed or moved; and an
adjustment that barely moves ("soften your knees").
"""

MOVE_WORDS = (
    ("down to the floor", re.compile(r"\b(down to the mat|lower yourself down to|to sit on the mat)\b", re.I)),
    ("up from the floor", re.compile(r"\b(up to standing|to standing|rise to|stand up)\b", re.I)),
    ("change position", re.compile(r"^(lie|come|roll|kneel|stand|sit|step|turn|walk|lower yourself|press yourself)\b"
                                   r"|\b(onto your (back|front|side)|hands and knees)\b", re.I)),
    ("switch sides", re.compile(r"^switch\b", re.I)),
)
"""Words that mark the bigger moves, checked in this order; the first that matches decides."""

MOVE_VERBS = {
    "move": {
        "bend", "bring", "cross", "lift", "reach", "place", "stretch", "wrap", "slide", "set", "spread",
        "open", "put", "hold", "raise", "draw", "tuck", "straighten", "pull", "fold", "move", "lean",
        "point", "guide", "sweep", "tip", "rock", "shift", "rest", "press", "interlace", "clasp", "hook",
        "extend", "drop", "lengthen", "widen", "line", "use", "take", "once", "lower", "uncross",
    },
    "refine": {"keep", "let", "soften", "relax", "stack", "feel", "notice", "squeeze", "look", "lead", "send",
               "make", "only", "stop", "slowly"},
}
"""The kind of a smaller move, from a line's first word."""

MOVING_ROLES = frozenset({"setup", "transition", "instruction"})
"""Roles whose lines may ask the body to move; other lines get their role's pause."""

LINE_MOVES: dict[str, str] = {}
"""Kinds of move for single lines, by their exact words (a key of :data:`MOVE_PAUSE_S`); they win over the
word rules, so a table of the lines that change shape can name each line's move outright."""

LINE_PAUSE_S: dict[str, float] = {
    "Now move with your breath.": 1.0,
}
"""Pauses for single lines, by their exact words; they win over every rule above."""


def move_kind(text: str, role: str) -> str | None:
    """The kind of move a line asks for (a key of :data:`MOVE_PAUSE_S`), or None."""
    if text in LINE_MOVES:
        return LINE_MOVES[text]
    if role not in MOVING_ROLES:
        return None
    for kind, words in MOVE_WORDS:
        if words.search(text):
            return kind
    first = re.match(r"[A-Za-z']+", text)
    word = first[0].lower() if first else ""
    for kind, verbs in MOVE_VERBS.items():
        if word in verbs:
            return kind
    return "move" if role == "transition" else None


def pause_after(text: str, role: str) -> float:
    """Seconds of quiet after ``text`` spoken in ``role``: never less than a sentence pause."""
    if text in LINE_PAUSE_S:
        return LINE_PAUSE_S[text]
    kind = move_kind(text, role)
    seconds = MOVE_PAUSE_S[kind] if kind else ROLE_PAUSE_S.get(role, SENTENCE_PAUSE_S)
    return max(SENTENCE_PAUSE_S, seconds)
