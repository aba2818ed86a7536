"""Adapting a routine to the person: keeping out stretches whose cautions apply to them.

Each stretch with an avoided caution is swapped for the closest safe stretch that works the same
area (same main focus first, then shared focus, style and position); where no safe stretch works
that area, it is left out. The session says once, gently, what changed and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from voiceguide.catalog.types import CAUTION_TAGS, Catalog, Routine, RoutineItem, Stretch, parse_word_list
from voiceguide.errors import VoiceguideError
from voiceguide.session.words import join_words

REASONS = {
    "knees": "to look after your knees",
    "wrists": "to look after your wrists",
    "neck": "to look after your neck",
    "shoulders": "to look after your shoulders",
    "hips": "to look after your hips",
    "balance": "to keep you steady",
    "acute-back-injury": "to protect a recent back injury",
    "osteoporosis": "to be safe with osteoporosis",
    "pregnancy": "to be safe in pregnancy",
    "sciatica": "to be kind to sciatica",
    "high-blood-pressure": "to be safe with high blood pressure",
}


class NothingLeftError(VoiceguideError):
    """Raised when avoiding the given cautions leaves no stretch in the session."""


@dataclass(frozen=True)
class Change:
    """One stretch kept out of a session, and what took its place (None: left out)."""

    original: Stretch
    replacement: Stretch | None
    tags: tuple[str, ...]

    @property
    def reason(self) -> str:
        return " and ".join(REASONS[t] for t in self.tags)


def spoken_changes(changes: Sequence[Change]) -> list[str]:
    """One gentle line per reason, naming every swap and omission it caused."""
    by_reason: dict[str, list[Change]] = {}
    for change in changes:
        by_reason.setdefault(change.reason, []).append(change)
    lines = []
    for reason, group in by_reason.items():
        swaps = [f"{c.original.name} for {c.replacement.name}" for c in group if c.replacement]
        dropped = [c.original.name for c in group if c.replacement is None]
        parts = []
        if swaps:
            parts.append("we swap " + join_words(swaps))
        if dropped:
            parts.append("we leave out " + join_words(dropped))
        lines.append(f"{reason[:1].upper()}{reason[1:]}, {' and '.join(parts)}.")
    return lines


def parse_tags(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Caution tags from ``knees,wrists`` (or a list); an unknown tag lists the known ones."""
    return parse_word_list(value, CAUTION_TAGS, "--avoid", "caution")


UPRIGHT = frozenset({"standing", "seated"})


def _similarity(original: Stretch, other: Stretch) -> float:
    """How well ``other`` stands in for ``original``; below zero when it works none of the same areas."""
    shared = set(original.focus) & set(other.focus)
    if not shared:
        return -1.0
    score = 3.0 if original.focus[0] in other.focus else 0.0
    score += 1.0 if original.focus[0] == other.focus[0] else 0.0
    score += 2.0 * len(shared) / len(set(original.focus) | set(other.focus))
    score += 1.5 if original.style == other.style else 0.0
    if original.position == other.position:
        score += 1.0
    elif (original.position in UPRIGHT) == (other.position in UPRIGHT):
        score += 0.5  # both on the floor, or both upright: no extra trip up or down
    elif original.position in UPRIGHT:
        score -= 2.5  # never send someone at a desk down to the floor unless nothing else fits
    return score


def closest_safe(
    original: Stretch, catalog: Catalog, tags: Sequence[str], taken: set[str], upright_only: bool = False
) -> Stretch | None:
    """The safe stretch most like ``original`` that works an area it works, or None.

    ``upright_only`` keeps a session that never goes down to the floor (a desk break) off it.
    """
    scored = [
        (_similarity(original, other), other.id)
        for other in catalog.stretches.values()
        if other.id not in taken
        and not other.avoid_tags & set(tags)
        and (not upright_only or other.position in UPRIGHT)
    ]
    scored = [(score, sid) for score, sid in scored if score >= 0]
    if not scored:
        return None
    best = max(scored, key=lambda pair: (pair[0], [-ord(ch) for ch in pair[1]]))  # ties: the first id
    return catalog.stretches[best[1]]


def avoid_cautions(routine: Routine, catalog: Catalog, tags: Sequence[str]) -> tuple[Routine, list[Change]]:
    """The routine with every stretch that has one of ``tags`` swapped or left out."""
    if not tags:
        return routine, []
    taken = {item.stretch for item in routine.items}
    upright_only = all(catalog.stretch(item.stretch).position in UPRIGHT for item in routine.items)
    items: list[RoutineItem] = []
    changes: list[Change] = []
    for item in routine.items:
        stretch = catalog.stretch(item.stretch)
        hit = tuple(t for t in tags if t in stretch.avoid_tags)
        if not hit:
            items.append(item)
            continue
        replacement = closest_safe(stretch, catalog, tags, taken, upright_only)
        changes.append(Change(stretch, replacement, hit))
        if replacement is not None:
            taken.add(replacement.id)
            items.append(RoutineItem(replacement.id))  # the original's overrides may not fit the new ranges
    if not items:
        raise NothingLeftError(
            f"avoiding {', '.join(tags)} leaves nothing of '{routine.title}': every stretch in it has one of "
            "those cautions and none has a safe stand-in; try another routine or 'voiceguide make'"
        )
    return replace(routine, items=tuple(items)), changes
