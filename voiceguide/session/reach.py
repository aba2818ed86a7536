"""--minutes beyond what a routine can reach, either way: the same kind of note, and --strict to refuse.

Too short, the session leaves out its lowest-priority stretches; too long, it runs as long as its
stretches' ranges allow. Either way the person is told what they got instead of what they asked
for, and ``--strict`` turns both into an error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from voiceguide.catalog.types import Catalog, Routine
from voiceguide.errors import FitError
from voiceguide.session.compose import ComposeOptions, adapted, compose
from voiceguide.session.steps import SpeechLength
from voiceguide.session.timeline import Timeline

SEARCH_STEP_S = 5.0
"""The longest session is found to within this many seconds."""


@dataclass(frozen=True)
class Reached:
    """A composed session and, when it is not what was asked for, a note that says so."""

    timeline: Timeline
    note: str | None = None


def compose_reaching(routine: Routine, catalog: Catalog, options: ComposeOptions,
                     speech_length: SpeechLength | None = None) -> Reached:
    """:func:`compose`, with a note when ``options.minutes`` is out of the routine's reach.

    With ``options.strict`` either case raises :class:`FitError` instead.
    """
    try:
        timeline = compose(routine, catalog, options, speech_length)
    except FitError as e:
        if options.strict or options.minutes is None or "as long as" not in e.message:
            raise
        timeline = _longest(routine, catalog, options, speech_length)
        return Reached(timeline, f"'{routine.title}' cannot be as long as {options.minutes:g} min; at its longest "
                                 f"it runs {_mmss(timeline.duration_s)}, so that is what you get "
                                 "(add stretches for more, or --strict to refuse)")
    if options.minutes is None:
        return Reached(timeline)
    planned = [i.stretch for i in adapted(routine, catalog, options)[0].items]
    kept = {c.stretch for c in timeline.chapters}
    left_out = [catalog.stretch(s).name for s in dict.fromkeys(planned) if s not in kept]
    if not left_out:
        return Reached(timeline)
    return Reached(timeline, f"'{routine.title}' cannot fit all its stretches in {options.minutes:g} min; "
                             f"left out {', '.join(left_out)} (ask for more minutes, or --strict to refuse)")


def _longest(routine: Routine, catalog: Catalog, options: ComposeOptions,
             speech_length: SpeechLength | None) -> Timeline:
    """The longest session the routine makes: a search on the minutes between its own length and
    the minutes asked for."""
    best = compose(routine, catalog, replace(options, minutes=None), speech_length)
    low, high = best.duration_s, (options.minutes or 0) * 60.0
    while high - low > SEARCH_STEP_S:
        middle = (low + high) / 2
        try:
            best = compose(routine, catalog, replace(options, minutes=middle / 60.0), speech_length)
            low = middle
        except FitError:
            high = middle
    return best


def _mmss(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"
