"""Routine + options -> timed script.

Composing happens in two steps. :func:`plan_session` decides *what* is said and how long each
quiet stretch of time lasts, as a flat list of steps; :func:`layout` gives every step an
absolute start and end using the length of each spoken line. The length comes from a function
the caller passes in: an estimate from the word count here, measured clip lengths when
rendering audio, so the same code lays out both and ``--minutes`` holds on real audio.
"""


from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace

from voiceguide.catalog.types import Catalog, Routine, Stretch
from voiceguide.errors import FitError
from voiceguide.session.adapt import avoid_cautions, spared_lines
from voiceguide.session.fit import Built, Point, doses_for, fit_doses, set_ladder
from voiceguide.session.options import (
    CLOSING_REST_S,
    HOLD_BY,
    LEVELS,
    ComposeOptions,
    breaths_in,
    closing_rest,
    parse_breath,
)
from voiceguide.session.plan import PHRASE_FALLBACK, plan_session
from voiceguide.session.steps import Say, SpeechLength, Window, layout
from voiceguide.session.timeline import Timeline
from voiceguide.session.words import estimate_speech_seconds, join_words, number_words

__all__ = [
    "HOLD_BY",
    "LEVELS",
    "ComposeOptions",
    "adapted",
    "compose",
    "estimate_speech_seconds",
    "join_words",
    "number_words",
    "parse_breath",
    "possible_lines",
]

MAX_SESSION_MINUTES = 240
"""The longest session composed (as --minutes allows)."""


def compose(
    routine: Routine,
    catalog: Catalog,
    options: ComposeOptions | None = None,
    speech_length: SpeechLength | None = None,
) -> Timeline:
    """Compose a routine into a timed script, fitted to the minutes asked for.

    When even the shortest doses run past the minutes, the closing rest shortens first (to its
    least), then the lowest-priority stretches are left out (and the session says which) unless
    ``options.strict``. Raises :class:`FitError` when the
    minutes still cannot be reached.
    """
    options = options or ComposeOptions()
    length: SpeechLength = functools.lru_cache(maxsize=None)(speech_length or estimate_speech_seconds)
    routine, changes = adapted(routine, catalog, options)
    target_min = options.minutes if options.minutes is not None else routine.minutes
    dropped: list[str] = []
    short_rest = False
    while True:
        try:
            said = [*changes, *_dropped_line(dropped, target_min)]
            return _compose(routine, catalog, options, length, target_min, said, short_rest)
        except FitError as e:
            if not short_rest and target_min is not None and "as short as" in e.message:
                short_rest = True  # a shorter closing rest before leaving out a stretch
                continue
            if options.strict or target_min is None or "as short as" not in e.message or len(routine.items) < 2:
                raise
            stretches = [catalog.stretch(i.stretch) for i in routine.items]
            drop = lowest_priority(stretches)
            dropped.append(stretches[drop].name)
            short_rest = False  # without that stretch, the full closing rest may fit again
            routine = replace(routine, items=routine.items[:drop] + routine.items[drop + 1 :])


def lowest_priority(stretches: Sequence[Stretch]) -> int:
    """The stretch a short session can best do without: the one whose areas the others cover most.

    The opening and closing stretches are kept while there are others to leave out; ties go to
    the later stretch.
    """
    inner = range(1, len(stretches) - 1) if len(stretches) > 2 else range(len(stretches))

    def covered(i: int) -> tuple[float, int]:
        others = {a for j, s in enumerate(stretches) if j != i for a in s.focus}
        own = stretches[i].focus
        return (sum(a in others for a in own) / len(own), i)

    return max(inner, key=covered)


def _dropped_line(names: Sequence[str], minutes: float | None) -> list[str]:
    if not names or minutes is None:
        return []
    whole = max(1, round(minutes))
    return [f"To fit {number_words(whole)} minute{'s' if whole > 1 else ''}, we leave out {join_words(names)}."]


def _compose(
    routine: Routine,
    catalog: Catalog,
    options: ComposeOptions,
    length: SpeechLength,
    target_min: float | None,
    changes: list[str],
    short_rest: bool = False,
) -> Timeline:
    items = list(routine.items)
    stretches = [catalog.stretch(i.stretch) for i in items]
    ladder, base = set_ladder(stretches, items)

    def build(point: Point, minutes_said: float, rest_s: float) -> Built:
        inner, rung, hold_t = point
        doses = doses_for(stretches, items, inner, ladder[rung], hold_t, options.level)
        steps = plan_session(
            routine, stretches, doses, options, length, minutes_said=minutes_said, rest_s=rest_s, changes=changes,
            phrases=catalog.phrases,
        )
        return Built(*layout(steps, length), doses)

    if target_min is None:
        estimate = build((0.0, base, None), 1.0, CLOSING_REST_S[0]).length_s
        if estimate > MAX_SESSION_MINUTES * 60:  # a limit on what is rendered, checked before building it
            minutes, seconds = divmod(round(estimate), 60)
            raise FitError(f"'{routine.title}' would last {minutes}:{seconds:02d}; a session lasts at most "
                           f"{MAX_SESSION_MINUTES} min. Ask for fewer minutes (--minutes) or fewer stretches.")
        rest = closing_rest(estimate)[0]
        estimate = build((0.0, base, None), estimate / 60.0, rest).length_s
        cues, chapters, total, doses = build((0.0, base, None), estimate / 60.0, rest)
    else:
        pinned = any(i.hold is not None or i.reps is not None or i.sets is not None for i in items)
        rest_range = closing_rest(target_min * 60.0)
        if short_rest:
            rest_range = (CLOSING_REST_S[0], rest_range[1])
        cues, chapters, total, doses = fit_doses(
            build, len(ladder), base, target_min, routine.title, rest_range, pinned
        )
    meta = {
        "options": {
            "minutes": target_min,
            "breath": f"{options.breath_in:g}-{options.breath_out:g}",
            "avoid": list(options.avoid),
            "hold_by": options.hold_by,
            "level": options.level,
        },
        "changes": changes,
        "doses": [
            {
                "stretch": s.id,
                "hold_s": d.hold,
                "reps": d.reps,
                "sets": d.sets,
                "sides": 2 if s.sides else 1,
                **({"breaths": breaths_in(d.hold, options)} if d.hold and options.hold_by == "breaths" else {}),
            }
            for s, d in zip(stretches, doses)
        ],
    }
    return Timeline(routine.title, routine.id, total, tuple(chapters), tuple(cues), meta)


def adapted(routine: Routine, catalog: Catalog, options: ComposeOptions) -> tuple[Routine, list[str]]:
    """The routine with ``options.avoid`` and the routine's own ``avoid`` applied, and the lines
    that say what it spares.

    A tag the routine itself avoids (one made with ``make --avoid``) is always said: the routine
    was made for it, so nothing had to be swapped, and the person still hears that nothing kneels.
    A tag asked of an existing routine is said where it changed something, so an episode it
    leaves as it was stays as it was.
    """
    own = set(routine.avoid)
    tags = tuple(dict.fromkeys((*routine.avoid, *options.avoid)))
    routine, changes = avoid_cautions(routine, catalog, tags)
    return routine, spared_lines([t for t in tags if t in own or any(t in c.tags for c in changes)])


def possible_lines(routine: Routine, catalog: Catalog, options: ComposeOptions | None = None) -> list[str]:
    """Every line a session of this routine may speak while fitting explores its doses.

    Rendering synthesizes these up front, in parallel, so fitting with measured lengths never
    waits for a line to be spoken one at a time.
    """
    options = options or ComposeOptions()
    routine, changes = adapted(routine, catalog, options)
    items = list(routine.items)
    stretches = [catalog.stretch(i.stretch) for i in items]
    ladder, base = set_ladder(stretches, items)
    minutes = options.minutes if options.minutes is not None else routine.minutes
    lines: dict[str, None] = {}
    for inner, rung in ((-1.0, 0), (0.0, base), (1.0, len(ladder) - 1)):
        doses = doses_for(stretches, items, inner, ladder[rung], level=options.level)
        steps = plan_session(
            routine, stretches, doses, options, estimate_speech_seconds, minutes_said=minutes or 1.0, changes=changes,
            phrases=catalog.phrases,
        )
        for step in steps:
            if isinstance(step, Say):
                lines[step.text] = None
            elif isinstance(step, Window):
                lines.update((say.text, None) for _, say in step.events)
    # the common cues take their wordings in turn, so which one a line gets moves with the doses: all of them
    for pool in {**PHRASE_FALLBACK, **catalog.phrases}.values():
        for template in pool:
            lines.update((template.format(name=s.name), None) for s in stretches)
    return list(lines)

