"""What a person may ask of a session (minutes, breath pace, level), and the doses fitting picks."""

from __future__ import annotations

import re
from dataclasses import dataclass

from voiceguide.errors import BadOptionError

CLOSING_REST_S = (4.0, 30.0)
"""The quiet rest before the goodbye for the shortest sessions; it grows with the session."""
CLOSING_REST_SHARE = 0.04
"""The closing rest's share of the whole session, up to :data:`CLOSING_REST_MAX_S`."""
CLOSING_REST_MAX_S = 40.0


def closing_rest(session_s: float) -> tuple[float, float]:
    """The closing rest's (default, longest) for a session of about ``session_s`` seconds."""
    low = max(CLOSING_REST_S[0], min(CLOSING_REST_MAX_S, CLOSING_REST_SHARE * session_s))
    return round(low, 1), round(low + CLOSING_REST_S[1] - CLOSING_REST_S[0], 1)


def parse_breath(value: str) -> tuple[float, float]:
    """Parse a breath pace like ``4-6`` (inhale and exhale seconds)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*", value)
    if not match:
        raise BadOptionError(f"--breath: '{value}' is not IN-OUT seconds, like 4-6")
    inhale, exhale = float(match[1]), float(match[2])
    if not (1 <= inhale <= 20 and 1 <= exhale <= 20):
        raise BadOptionError(f"--breath: '{value}': each phase must be 1 to 20 seconds")
    return inhale, exhale


@dataclass(frozen=True)
class ComposeOptions:
    """How to turn a routine into a session."""

    minutes: float | None = None
    """Fit the session to this length; None uses the routine's own minutes, if it has any."""
    breath_in: float = 4.0
    breath_out: float = 6.0
    avoid: tuple[str, ...] = ()
    """Caution tags to keep out: stretches with them are swapped for a safe alternative or left out."""
    hold_by: str = "time"
    """``time``: holds are timed; ``breaths``: holds are counted in breaths at the breath pace."""
    level: str = "standard"
    """``gentle``: shorter holds, more guidance; ``deep``: longer holds, fewer words."""
    intro: str | None = None
    """A welcome of the user's own, spoken instead of the standard one."""
    no_intro: bool = False
    """Skip the welcome (the safety note is always spoken)."""
    strict: bool = False
    """Refuse minutes the routine cannot reach rather than leave out its lowest-priority stretches."""


HOLD_BY = ("time", "breaths")
LEVELS = ("gentle", "standard", "deep")
LEVEL_SHIFT = {"gentle": -0.4, "standard": 0.0, "deep": 0.5}
"""Where each level puts a hold's starting point: a fraction of the way to its min (-) or max (+)."""
REMINDER_EVERY_S = {"gentle": 9.0, "standard": 12.0, "deep": 20.0}


@dataclass(frozen=True)
class Dose:
    """How much of one stretch a session does: the values fitting chose inside the ranges."""

    hold: float | None
    reps: int | None
    sets: int


def breaths_in(hold: float, options: ComposeOptions) -> int:
    """How many whole breaths a hold of ``hold`` seconds is at the breath pace (at least one)."""
    return max(1, round(hold / (options.breath_in + options.breath_out)))

