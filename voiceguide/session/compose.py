"""Routine + options -> timed script.

Composing happens in two steps. :func:`plan_session` decides *what* is said and how long each
quiet stretch of time lasts, as a flat list of steps; :func:`layout` gives every step an
absolute start and end using the length of each spoken line. The length comes from a function
the caller passes in: an estimate from the word count here, measured clip lengths when
rendering audio, so the same code lays out both and ``--minutes`` holds on real audio.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from voiceguide.catalog.model import FLOOR_POSITIONS, Catalog, Range, Routine, RoutineItem, Stretch
from voiceguide.errors import BadOptionError, FitError
from voiceguide.session.timeline import Chapter, Cue, Timeline

SpeechLength = Callable[[str], float]
"""Seconds a spoken line takes, from its first to its last audible sound."""

DEFAULT_WPM = 140
REST_BETWEEN_SETS_S = 5.0
PAUSE_AFTER_NEXT_UP_S = 2.0
CLOSING_REST_S = (4.0, 30.0)
"""The quiet rest before the goodbye: its default is the low end; fitting may use the range."""
TONE_S = {"transition": 0.6, "hold-start": 0.4, "hold-end": 0.4}
FIT_TOLERANCE_S = 2.0

_NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


MAX_SESSION_MINUTES = 240
"""The longest session composed (as --minutes allows)."""


def number_words(n: int) -> str:
    """Spell a whole number (0 or more) the way the voice should say it."""
    for size, scale in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            big, rest = divmod(n, size)
            tail = "" if not rest else f" and {number_words(rest)}" if rest < 100 else f" {number_words(rest)}"
            return f"{number_words(big)} {scale}{tail}"
    if n < 20:
        return _NUMBER_WORDS[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens - 2] + (f"-{_NUMBER_WORDS[ones]}" if ones else "")
    hundreds, rest = divmod(n, 100)
    return f"{_NUMBER_WORDS[hundreds]} hundred" + (f" and {number_words(rest)}" if rest else "")


def estimate_speech_seconds(text: str, wpm: float = DEFAULT_WPM) -> float:
    """A speech length estimate from words and sentence breaks, for when no audio exists yet.

    Fitted to eSpeak NG's trimmed clips of the catalog's 290 distinct lines at 140 words a minute
    (mean error 0.2 s a line): its words come faster than the nominal rate, its pauses longer.
    """
    words = len(re.findall(r"[\w']+", text))
    breaks = len(re.findall(r"[.,;:!?](?=\s)", text))
    return round(0.32 + words * 39.0 / wpm + 0.53 * breaks, 3)


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


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Say:
    text: str
    role: str


@dataclass(frozen=True)
class Quiet:
    seconds: float
    role: str


@dataclass(frozen=True)
class Chime:
    role: str


@dataclass(frozen=True)
class Window:
    """A stretch of time of fixed length with lines spoken at offsets inside it (a hold, a breath)."""

    seconds: float
    role: str
    events: tuple[tuple[float, Say], ...]


@dataclass(frozen=True)
class ChapterStart:
    title: str
    stretch: str


@dataclass(frozen=True)
class ChapterEnd:
    pass


Step = Say | Quiet | Chime | Window | ChapterStart | ChapterEnd


# --------------------------------------------------------------------------- layout


def layout(steps: Sequence[Step], length: SpeechLength) -> tuple[list[Cue], list[Chapter], float]:
    """Give each step absolute times; a line never starts before the previous one ends."""
    cues: list[Cue] = []
    chapters: list[Chapter] = []
    open_chapter: tuple[str, str, float] | None = None
    t = 0.0

    def emit(kind: str, role: str, seconds: float, text: str | None = None) -> None:
        nonlocal t
        if seconds > 0.0005:
            index = len(chapters) if open_chapter else None
            cues.append(Cue(t, t + seconds, kind, role, text, index))  # type: ignore[arg-type]
            t += seconds

    for step in steps:
        if isinstance(step, Say):
            emit("speech", step.role, length(step.text), step.text)
        elif isinstance(step, Quiet):
            emit("silence", step.role, step.seconds)
        elif isinstance(step, Chime):
            emit("tone", step.role, TONE_S[step.role])
        elif isinstance(step, Window):
            start = t
            for offset, say in step.events:
                emit("silence", step.role, start + offset - t)
                emit("speech", say.role, length(say.text), say.text)
            emit("silence", step.role, start + step.seconds - t)
        elif isinstance(step, ChapterStart):
            open_chapter = (step.title, step.stretch, t)
        elif isinstance(step, ChapterEnd) and open_chapter:
            chapters.append(Chapter(open_chapter[0], open_chapter[1], open_chapter[2], t))
            open_chapter = None
    return cues, chapters, t


# --------------------------------------------------------------------------- planning


def _say_side(text: str, side: int) -> str:
    names = ("right", "left")
    return text.format(side=names[side], other=names[1 - side]) if "{" in text else text


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class _Planner:
    """Builds the steps of one session; ``length`` lets it keep lines inside their windows."""

    def __init__(self, options: ComposeOptions, length: SpeechLength) -> None:
        self.options = options
        self.length = length
        self.steps: list[Step] = []

    def say(self, text: str, role: str) -> None:
        self.steps.append(Say(text, role))

    def quiet(self, seconds: float, role: str) -> None:
        self.steps.append(Quiet(seconds, role))

    # -- session frame

    def intro(self, routine: Routine, stretches: Sequence[Stretch], minutes: float, changes: Sequence[str]) -> None:
        if self.options.intro:
            self.say(self.options.intro, "intro")
        elif not self.options.no_intro:
            self.say(f"Welcome to {routine.title}.", "intro")
            whole = max(1, round(minutes))
            self.say(f"This session takes about {number_words(whole)} minute{'s' if whole > 1 else ''}.", "intro")
            positions = {s.position for s in stretches}
            if positions & FLOOR_POSITIONS:
                self.say("You will need a mat or a soft spot on the floor.", "intro")
            if "seated" in positions:
                self.say("Keep a sturdy chair close by.", "intro")
        self.say("Move slowly, and never push into sharp pain.", "safety")
        self.say("If your back is newly injured, see a professional before you stretch.", "safety")
        for line in safety_lines(stretches):
            self.say(line, "safety")
        for line in changes:
            self.say(line, "safety")
        self.quiet(1.5, "pause")

    def outro(self, routine: Routine, rest_s: float) -> None:
        self.say("Now rest, and let your breath settle.", "outro")
        self.quiet(rest_s, "rest")
        self.say(f"Well done. That was {routine.title}.", "outro")
        self.say("Take your time before you get up.", "outro")

    # -- one stretch

    def stretch(self, stretch: Stretch, dose: Dose, first: bool, next_up: Stretch | None, moved: bool) -> None:
        self.steps.append(ChapterStart(stretch.name, stretch.id))
        self.steps.append(Chime("transition"))
        self.say(f"Let's begin with {stretch.name}." if first else f"Now, {stretch.name}.", "setup")
        for line in stretch.setup:
            self.say(_say_side(line, 0), "setup")
        for caution in stretch.cautions:
            self.say(_say_side(caution.say, 0), "safety")
        if stretch.sides:
            self.say("Start with your right side.", "instruction")
        self.quiet(stretch.settle_seconds + (3.0 if moved else 0.0), "settle")
        work = {"hold": self.holds, "reps": self.reps, "flow": self.flow}[stretch.style]
        work(stretch, dose)
        if stretch.release:
            self.say(_say_side(stretch.release, 1 if stretch.sides else 0), "instruction")
        if next_up is not None:
            self.say(f"Next up: {next_up.name}.", "next-up")
            self.quiet(PAUSE_AFTER_NEXT_UP_S, "pause")
        self.steps.append(ChapterEnd())

    def switch(self, stretch: Stretch, side: int) -> None:
        self.say(f"Switch to your {('right', 'left')[side]} side.", "transition")
        self.quiet(stretch.settle_seconds, "settle")

    def rest_between_sets(self) -> None:
        self.say("Rest for a moment.", "instruction")
        self.quiet(REST_BETWEEN_SETS_S, "rest")

    def holds(self, stretch: Stretch, dose: Dose) -> None:
        assert dose.hold is not None
        sides = 2 if stretch.sides else 1
        for k in range(1, dose.sets + 1):
            for side in range(sides):
                if k > 1 and side == 0:
                    self.rest_between_sets()
                if k > 1 or side > 0:
                    self.switch(stretch, side) if stretch.sides else None
                if dose.sets > 1 and side == 0:
                    self.say(f"Round {number_words(k)} of {number_words(dose.sets)}.", "count")
                self.steps.append(Chime("hold-start"))
                if self.options.hold_by == "breaths":
                    self.breath_hold(breaths_in(dose.hold, self.options))
                else:
                    self.steps.append(Window(dose.hold, "hold", self.hold_events(stretch, dose.hold, side)))
                self.steps.append(Chime("hold-end"))
                self.say("Release.", "countdown")

    def breath_hold(self, breaths: int) -> None:
        """A hold counted in breaths: the first breaths guided, then silence with a quiet count."""
        guided = 3 if self.options.level == "gentle" else 2
        for n in range(1, breaths + 1):
            inhale: tuple[tuple[float, Say], ...] = ()
            exhale: tuple[tuple[float, Say], ...] = ()
            if n <= guided:
                inhale = ((0.0, Say("Breathe in.", "breath")),)
                exhale = ((0.0, Say("And out.", "breath")),)
            elif n == breaths:
                inhale = ((0.0, Say("Last breath.", "count")),)
            elif n % 3 == 0:
                inhale = ((0.0, Say(f"{_cap(number_words(n))}.", "count")),)
            self.steps.append(Window(self.options.breath_in, "inhale", inhale))
            self.steps.append(Window(self.options.breath_out, "exhale", exhale))

    def hold_events(self, stretch: Stretch, hold: float, side: int) -> tuple[tuple[float, Say], ...]:
        """Lines spoken during a hold, by priority, each kept only where it fits without overlap."""
        inhale = _say_side(stretch.breath_in, side)
        exhale = _say_side(stretch.breath_out, side)
        wanted: list[tuple[float, Say]] = []
        if hold >= 6:
            wanted += [(hold - 3 + i, Say(_cap(number_words(3 - i)) + ".", "countdown")) for i in range(3)]
        wanted.append((0.5, Say(inhale, "breath")))
        if hold >= 30:
            wanted.append((hold / 2, Say("Halfway there.", "instruction")))
        wanted.append((0.5 + max(self.options.breath_in, self.length(inhale) + 0.5), Say(exhale, "breath")))
        reminders = [_say_side(c, side) for c in stretch.cues] + list(GENERIC_REMINDERS)
        every = REMINDER_EVERY_S[self.options.level]
        if self.options.level == "deep":
            reminders = reminders[: len(stretch.cues)] or reminders[:1]  # fewer words: the stretch's own cues
        offset, i = every, 0
        while offset < hold - 8:
            wanted.append(
                (offset, Say(reminders[i % len(reminders)], "breath" if i >= len(stretch.cues) else "instruction"))
            )
            offset, i = offset + every, i + 1
        accepted: list[tuple[float, float, Say]] = []
        for start, say in wanted:
            end = start + self.length(say.text) + 0.3
            if end > hold + 0.3:
                continue
            if all(end <= a or start >= b for a, b, _ in accepted):
                accepted.append((start, end, say))
        return tuple((start, say) for start, _, say in sorted(accepted, key=lambda a: a[0]))

    def reps(self, stretch: Stretch, dose: Dose) -> None:
        assert dose.reps is not None and stretch.rep_seconds is not None
        move = stretch.rep_seconds
        for side in range(2 if stretch.sides else 1):
            if side:
                self.switch(stretch, side)
            for k in range(1, dose.sets + 1):
                if k > 1:
                    self.rest_between_sets()
                if dose.sets > 1:
                    self.say(f"Set {number_words(k)} of {number_words(dose.sets)}.", "count")
                if k == 1:
                    # counted repetitions put the effort on the breath out, so that line leads
                    self.say(_say_side(stretch.breath_out, side), "breath")
                    self.say(_say_side(stretch.breath_in, side), "breath")
                for rep in range(1, dose.reps + 1):
                    count = Say(_cap(number_words(rep)) + ".", "count")
                    if dose.hold:
                        events = (
                            (0.0, count),
                            (move / 2, Say("Hold.", "instruction")),
                            (move / 2 + dose.hold, Say("And release.", "instruction")),
                        )
                        self.steps.append(Window(move + dose.hold, "phase", events))
                    else:
                        self.steps.append(Window(move, "phase", ((0.0, count),)))

    def flow(self, stretch: Stretch, dose: Dose) -> None:
        assert dose.reps is not None
        breath_in, breath_out = self.options.breath_in, self.options.breath_out
        for side in range(2 if stretch.sides else 1):
            if side:
                self.switch(stretch, side)
            inhale, exhale = _say_side(stretch.breath_in, side), _say_side(stretch.breath_out, side)
            if side == 0:
                self.say(inhale, "instruction")
                self.say(exhale, "instruction")
            self.say("Now move with your breath.", "instruction")
            for k in range(1, dose.sets + 1):
                if k > 1:
                    self.rest_between_sets()
                if dose.sets > 1:
                    self.say(f"Round {number_words(k)} of {number_words(dose.sets)}.", "count")
                for rep in range(1, dose.reps + 1):
                    count = _cap(number_words(rep)) + "."
                    full = rep <= 2
                    in_text = inhale if full and self._fits(breath_in, count, inhale) else "Breathe in."
                    out_text = exhale if full and self._fits(breath_out, exhale) else "Breathe out."
                    self.steps.append(
                        Window(breath_in, "phase", ((0.0, Say(count, "count")), (0.0, Say(in_text, "breath"))))
                    )
                    self.steps.append(Window(breath_out, "phase", ((0.0, Say(out_text, "breath")),)))

    def _fits(self, seconds: float, *texts: str) -> bool:
        return sum(self.length(t) for t in texts) + 0.3 <= seconds


GENERIC_REMINDERS = (
    "Keep your breath slow and easy.",
    "Let each breath out soften the stretch.",
    "Relax your jaw and your shoulders.",
    "Stay where the stretch feels gentle.",
)

_BODY_TAGS = ("knees", "wrists", "neck", "shoulders", "hips")
_CONDITION_NAMES = {
    "acute-back-injury": "a recent back injury",
    "osteoporosis": "osteoporosis",
    "sciatica": "sciatica",
    "high-blood-pressure": "high blood pressure",
}


def join_words(words: Sequence[str], last: str = "and") -> str:
    """'a', 'a and b', 'a, b and c': a list as it is said aloud."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def safety_lines(stretches: Sequence[Stretch]) -> list[str]:
    """The session-level safety note for the cautions of these stretches."""
    tags = {t for s in stretches for t in s.caution_tags}
    lines = []
    body = [t for t in _BODY_TAGS if t in tags]
    if body:
        lines.append(f"Take extra care of your {join_words(body)} today.")
    if "balance" in tags:
        lines.append("Some moves need balance, so keep a wall or a chair within reach.")
    conditions = [name for tag, name in _CONDITION_NAMES.items() if tag in tags]
    who = [f"have {join_words(conditions, 'or')}"] if conditions else []
    if "pregnancy" in tags:
        who.append("are pregnant")
    if who:
        lines.append(f"If you {' or '.join(who)}, skip any move that does not feel right.")
    return lines


# --------------------------------------------------------------------------- dosing and fitting


def breaths_in(hold: float, options: ComposeOptions) -> int:
    """How many whole breaths a hold of ``hold`` seconds is at the breath pace (at least one)."""
    return max(1, round(hold / (options.breath_in + options.breath_out)))


def _scaled(base: float, rng: Range, t: float) -> float:
    """Move ``base`` toward ``rng.max`` (t>0) or ``rng.min`` (t<0); |t| = 1 reaches the bound."""
    t = max(-1.0, min(1.0, t))
    return base + abs(t) * ((rng.max if t > 0 else rng.min) - base)


def set_ladder(stretches: Sequence[Stretch], items: Sequence[RoutineItem]) -> tuple[list[tuple[int, ...]], int]:
    """Every arrangement of sets from all-minimum to all-maximum, and where the routine's own is.

    Neighbouring arrangements differ by one set of one stretch, taken in turn, so the session
    never jumps by a set of every stretch at once.
    """
    base = [int(item.sets if item.sets is not None else s.sets.default) for s, item in zip(stretches, items)]

    def walk(step: int) -> list[tuple[int, ...]]:
        sets, out = list(base), []
        room = [int(s.sets.max) - n if step > 0 else n - int(s.sets.min) for s, n in zip(stretches, base)]
        while any(room):
            for i in range(len(sets)):
                if room[i]:
                    sets[i] += step
                    room[i] -= 1
                    out.append(tuple(sets))
        return out

    down = walk(-1)[::-1]
    return [*down, tuple(base), *walk(+1)], len(down)


def doses_for(
    stretches: Sequence[Stretch],
    items: Sequence[RoutineItem],
    inner: float,
    sets: Sequence[int],
    hold_t: float | None = None,
    level: str = "standard",
) -> list[Dose]:
    """Doses with repetitions (and holds, unless ``hold_t`` scales them apart) at scale ``inner``.

    The level moves each hold's starting point inside its range before any scaling.
    """
    doses = []
    for stretch, item, n_sets in zip(stretches, items, sets):
        hold = reps = None
        if stretch.hold_seconds:
            rng = stretch.hold_seconds
            base = item.hold if item.hold is not None else _scaled(rng.default, rng, LEVEL_SHIFT[level])
            scaled = _scaled(base, stretch.hold_seconds, inner if hold_t is None else hold_t)
            hold = stretch.hold_seconds.clamp(round(scaled, 1))
        if stretch.reps:
            base = item.reps if item.reps is not None else stretch.reps.default
            reps = int(stretch.reps.clamp(round(_scaled(base, stretch.reps, inner) + 1e-9)))
        doses.append(Dose(hold, reps, int(n_sets)))
    return doses


def _ladder_index(t: float, rungs: int, base: int) -> int:
    outer = t - max(-1.0, min(1.0, t))
    room = (rungs - 1 - base) if outer > 0 else base
    return base + int(outer * room + (1e-9 if outer > 0 else -1e-9))


def plan_session(
    routine: Routine,
    stretches: Sequence[Stretch],
    doses: Sequence[Dose],
    options: ComposeOptions,
    length: SpeechLength,
    *,
    minutes_said: float,
    rest_s: float = CLOSING_REST_S[0],
    changes: Sequence[str] = (),
) -> list[Step]:
    """The steps of a whole session for these doses; ``changes`` are spoken after the safety note."""
    planner = _Planner(options, length)
    planner.intro(routine, stretches, minutes_said, changes)
    for i, (stretch, dose) in enumerate(zip(stretches, doses)):
        next_up = stretches[i + 1] if i + 1 < len(stretches) else None
        moved = i > 0 and stretches[i - 1].position != stretch.position
        planner.stretch(stretch, dose, i == 0, next_up, moved)
    planner.outro(routine, rest_s)
    return planner.steps


def compose(
    routine: Routine,
    catalog: Catalog,
    options: ComposeOptions | None = None,
    speech_length: SpeechLength | None = None,
) -> Timeline:
    """Compose a routine into a timed script, fitted to the minutes asked for.

    Raises :class:`FitError` when the minutes cannot be reached inside the stretches' ranges.
    """
    options = options or ComposeOptions()
    length: SpeechLength = functools.lru_cache(maxsize=None)(speech_length or estimate_speech_seconds)
    routine, changes = adapted(routine, catalog, options)
    items = list(routine.items)
    stretches = [catalog.stretch(i.stretch) for i in items]
    target_min = options.minutes if options.minutes is not None else routine.minutes

    ladder, base = set_ladder(stretches, items)

    def build(point: Point, minutes_said: float, rest_s: float) -> Built:
        inner, rung, hold_t = point
        doses = doses_for(stretches, items, inner, ladder[rung], hold_t, options.level)
        steps = plan_session(
            routine, stretches, doses, options, length, minutes_said=minutes_said, rest_s=rest_s, changes=changes
        )
        return (*layout(steps, length), doses)

    if target_min is None:
        _, _, estimate, _ = build((0.0, base, None), 1.0, CLOSING_REST_S[0])
        if estimate > MAX_SESSION_MINUTES * 60:  # a limit on what is rendered, checked before building it
            raise FitError(f"'{routine.title}' would last {_mmss(estimate)}; a session lasts at most "
                           f"{MAX_SESSION_MINUTES} min. Ask for fewer minutes (--minutes) or fewer stretches.")
        cues, chapters, total, doses = build((0.0, base, None), estimate / 60.0, CLOSING_REST_S[0])
    else:
        cues, chapters, total, doses = _fit(build, len(ladder), base, target_min, routine.title)
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
    """The routine with ``options.avoid`` applied, and the lines that say what changed."""
    from voiceguide.session.adapt import avoid_cautions, spoken_changes

    routine, changes = avoid_cautions(routine, catalog, options.avoid)
    return routine, spoken_changes(changes)


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
            routine, stretches, doses, options, estimate_speech_seconds, minutes_said=minutes or 1.0, changes=changes
        )
        for step in steps:
            if isinstance(step, Say):
                lines[step.text] = None
            elif isinstance(step, Window):
                lines.update((say.text, None) for _, say in step.events)
    return list(lines)


Built = tuple[list[Cue], list[Chapter], float, list[Dose]]
Point = tuple[float, int, "float | None"]
"""Where fitting looks: (reps-and-holds scale, rung of the set ladder, separate hold scale or None)."""


def _bisect(
    total: Callable[[float], float], lo: float, hi: float, target: float, steps: int = 30
) -> tuple[float, float]:
    """Narrow [lo, hi] around where the non-decreasing ``total`` crosses ``target``."""
    for _ in range(steps):
        mid = (lo + hi) / 2
        if total(mid) <= target:
            lo = mid
        else:
            hi = mid
    return lo, hi


def _fit(build: Callable[[Point, float, float], Built], rungs: int, base: int, minutes: float, title: str) -> Built:
    """Find doses and a closing rest that land the session on ``minutes`` within 2 s.

    The length grows along one path (holds and reps first, then sets one at a time), so a
    bisection brackets the target. Whole repetitions and sets make the length jump in places;
    there each nearby arrangement of sets is tried with holds and reps re-scaled smoothly, and
    the closing rest takes up the last few seconds.
    """
    target = minutes * 60.0
    low_rest, high_rest = CLOSING_REST_S

    def length(point: Point, rest: float = low_rest) -> float:
        return build(point, minutes, rest)[2]

    def on_path(t: float) -> Point:
        return (max(-1.0, min(1.0, t)), _ladder_index(t, rungs, base), None)

    shortest = length(on_path(-2.0))
    longest = length(on_path(2.0)) + (high_rest - low_rest)
    if target < shortest - FIT_TOLERANCE_S:
        raise FitError(
            f"'{title}' cannot be as short as {minutes:g} min: the shortest it gets is "
            f"{_mmss(shortest)}, {shortest - target:.0f} s too long. Ask for more minutes or fewer stretches."
        )
    if target > longest + FIT_TOLERANCE_S:
        raise FitError(
            f"'{title}' cannot be as long as {minutes:g} min: the longest it gets is "
            f"{_mmss(longest)}, {target - longest:.0f} s too short. Ask for fewer minutes or add stretches."
        )
    best: Built | None = None

    def consider(point: Point) -> bool:
        """Try a point with the rest that fits it; True once it lands (to the centisecond)."""
        nonlocal best
        rest = max(low_rest, min(high_rest, low_rest + target - length(point)))
        built = build(point, minutes, rest)
        if best is None or abs(built[2] - target) < abs(best[2] - target):
            best = built
        return abs(best[2] - target) <= 0.01

    def on_rung(rung: int, inner: float | None = None) -> bool:
        """Bisect holds and reps together on one rung, or holds alone with reps fixed at ``inner``."""
        if inner is None:
            lo, _ = _bisect(lambda u: length((u, rung, None)), -1.0, 1.0, target)
            return consider((lo, rung, None))
        lo, _ = _bisect(lambda h: length((inner, rung, h)), -1.0, 1.0, target)
        return consider((inner, rung, lo))

    lo, hi = _bisect(lambda t: length(on_path(t)), -2.0, 2.0, target)
    if consider(on_path(lo)) or consider(on_path(hi)):
        return best  # type: ignore[return-value]
    near = sorted(range(rungs), key=lambda r: (abs(r - on_path(lo)[1]), r))
    for rung in near[:2]:
        if on_rung(rung, on_path(lo)[0]) or on_rung(rung, on_path(hi)[0]):
            return best  # type: ignore[return-value]
    for rung in near:
        if on_rung(rung):
            return best  # type: ignore[return-value]
    assert best is not None
    if abs(best[2] - target) > FIT_TOLERANCE_S:
        raise FitError(
            f"'{title}' cannot land on {minutes:g} min: the nearest it gets is {_mmss(best[2])} "
            f"({best[2] - target:+.0f} s), because repetitions and sets come in whole steps. "
            "Try a minute more or less."
        )
    return best


def _mmss(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"
