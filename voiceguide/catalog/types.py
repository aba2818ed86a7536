"""The catalog's types and vocabularies: stretches, routines, ranges, positions and caution tags."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voiceguide.catalog.shapes import SHAPES
from voiceguide.errors import UnknownIdError

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
LOAD_TAGS = ("knees", "wrists", "neck")
"""What a stretch may load; each is also a caution tag, so ``--avoid knees`` keeps such stretches out."""
PROPS = ("blanket", "cushion", "towel", "strap", "block", "chair", "wall", "step")
"""Things a stretch's lines ask for besides the mat; the opening names them before the first stretch.
A stretch that starts in the chair has its chair already and does not declare it."""
PROP_WORDS = {
    "blanket": ("blanket",),
    "cushion": ("cushion", "pillow"),
    "towel": ("towel",),
    "strap": ("strap", "belt"),
    "block": ("block",),
    "chair": ("chair",),
    "wall": ("wall",),
    "step": ("stair", "the step"),
}
"""The words that name each prop in a spoken line: a line that says one needs the prop declared."""


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
    start: str | None = None
    """The shape the stretch starts from (see ``shapes.SHAPES``); its release returns there."""
    side_setup: tuple[str, ...] = ()
    """Setup lines for one side, each naming it; spoken again, mirrored, for the second side."""
    alternating: bool = False
    """Repetitions go to alternate sides (``{side}`` in the breath lines names each one)."""
    loads: tuple[str, ...] = ()
    """What the stretch puts weight on or asks of: ``knees``, ``wrists``, ``neck``."""
    family: str | None = None
    """Stretches of one family are variants of one movement; a made session takes one of them."""
    breath_in_short: str | None = None
    breath_out_short: str | None = None
    """Shorter breath lines for later repetitions, once the movement is known."""
    lead: str = "exhale"
    """The breath that carries each repetition's movement (``reps``): its line comes first, then the hold."""
    props: tuple[str, ...] = ()
    """What the stretch's lines ask for (``PROPS``), named in the session's opening so it is at hand."""
    resting: bool = False
    """A resting pose (Child's Pose): its hold is for letting go, so nothing counts it down as work."""

    @property
    def caution_tags(self) -> tuple[str, ...]:
        return tuple(c.tag for c in self.cautions)

    @property
    def avoid_tags(self) -> frozenset[str]:
        """Every caution tag that keeps this stretch out: its cautions, what it loads, what its start shape loads."""
        shape = SHAPES[self.start].loads if self.start in SHAPES else frozenset()
        return frozenset(self.caution_tags) | frozenset(self.loads) | shape

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
            "start": self.start,
            "setup": list(self.setup),
            "side_setup": list(self.side_setup),
            "alternating": self.alternating,
            "loads": list(self.loads),
            "family": self.family,
            "lead": self.lead,
            "props": list(self.props),
            "resting": self.resting,
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
    avoid: tuple[str, ...] = ()
    """Caution tags this routine always keeps out, as ``--avoid`` does (a made routine records its own)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "minutes": self.minutes,
            **({"avoid": list(self.avoid)} if self.avoid else {}),
            "stretches": [{k: v for k, v in vars(i).items() if v is not None} for i in self.items],
        }


@dataclass
class Catalog:
    """All stretches and routines, by id."""

    stretches: dict[str, Stretch] = field(default_factory=dict)
    routines: dict[str, Routine] = field(default_factory=dict)
    root: Path | None = None
    phrases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Pools of phrasings for common cues (breath, hold, encouragement), by kind."""

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
            close = closest(word, known, 1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise BadOptionError(f"{option}: unknown {noun} '{word}'; {hint}known: {', '.join(known)}")
    return words


def closest(value: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """The known words nearest ``value`` by edit distance, nearest first; a weak match (more edits
    than a third of the word's length, at least one) is no suggestion."""
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    most = max(1, len(value) // 3)
    found = process.extract(value, list(known), scorer=Levenshtein.distance, limit=limit, score_cutoff=most)
    return [word for word, _, _ in sorted(found, key=lambda m: (m[1], m[0]))]


def unknown_message(kind: str, value: str, known: Iterable[str]) -> str:
    """'unknown KIND 'VALUE'', with the closest known ids as a suggestion."""
    close = closest(value, known)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"unknown {kind} '{value}'{hint}"

