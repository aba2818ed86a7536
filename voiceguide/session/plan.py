"""Planning what an instructor says: the welcome, each stretch's setup, holds, reps and flows.

:func:`plan_session` decides *what* is said and how long each quiet stretch of time lasts, as a
flat list of steps, for doses that fitting has already chosen. It speaks like an instructor
beside the mat: the stretch named once, the position set up (or "stay where you are"), each side
set up on its own, alternating moves that name their side, counts inside the breath, guidance
that thins as a hold goes on, and words varied from the catalog's phrase pools.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from voiceguide.catalog.shapes import DEFAULT_SHAPE, SHAPES, Shape, farewell, transition
from voiceguide.catalog.types import Routine, Stretch
from voiceguide.session.options import CLOSING_REST_S, REMINDER_EVERY_S, ComposeOptions, Dose, breaths_in
from voiceguide.session.props import props_lines
from voiceguide.session.safety import CautionPlan, safety_lines
from voiceguide.session.steps import (
    ChapterEnd,
    ChapterStart,
    Chime,
    Quiet,
    Say,
    SpeechLength,
    Step,
    Window,
)
from voiceguide.session.words import cap, number_words, say_side

REST_BETWEEN_SETS_S = 5.0
GUIDED_REPS = {"gentle": 4, "standard": 2, "deep": 1}
"""Repetitions spoken with the full breath-and-movement lines before shorter ones take over."""
COUNT_GAP_S = 0.4
"""The short pause between a breath line and the count that closes it ("...and out. Two.")."""
EVENTS = tuple[tuple[float, Say], ...]
_SIDE_WORD = re.compile(r"\b(right|left)\b")
_MIRROR = {"right": "left", "left": "right"}


class _Planner:
    """Builds the steps of one session; ``length`` lets it keep lines inside their windows."""

    def __init__(self, options: ComposeOptions, length: SpeechLength, phrases: Mapping[str, Sequence[str]]) -> None:
        self.options = options
        self.length = length
        self.phrases = phrases
        self.steps: list[Step] = []
        self.turns: dict[str, int] = {}
        self.said_cautions: set[str] = set()
        self.cautions = CautionPlan()
        self.spare_knees = "knees" in options.avoid

    def say(self, text: str, role: str) -> None:
        self.steps.append(Say(text, role))

    def quiet(self, seconds: float, role: str) -> None:
        self.steps.append(Quiet(seconds, role))

    def pick(self, kind: str, **names: str) -> str:
        """The next phrasing of ``kind`` in turn: varied, and the same on every run."""
        pool = self.phrases.get(kind) or _FALLBACK[kind]
        turn = self.turns.get(kind, 0)
        self.turns[kind] = turn + 1
        return pool[turn % len(pool)].format(**names)

    def span(self, text: str) -> float:
        """How long ``text`` or its mirror takes, whichever is longer: both sides get equal time."""
        if not text:
            return 0.0
        return max(self.length(text), self.length(_SIDE_WORD.sub(lambda m: _MIRROR[m[0]], text)))

    @property
    def guided(self) -> int:
        return GUIDED_REPS.get(self.options.level, 2)

    # -- session frame

    def intro(self, routine: Routine, stretches: Sequence[Stretch], minutes: float, changes: Sequence[str]) -> None:
        if self.options.intro:
            self.say(self.options.intro, "intro")
        elif not self.options.no_intro:
            self.say(f"Welcome to {routine.title}.", "intro")
            whole = max(1, round(minutes))
            self.say(f"This session takes about {number_words(whole)} minute{'s' if whole > 1 else ''}.", "intro")
            levels = {_shape(s).level for s in stretches}
            if levels & {"lying", "floor"}:
                self.say("You will need a mat or a soft spot on the floor.", "intro")
            if "chair" in levels:
                self.say("Keep a sturdy chair close by.", "intro")
        for line in props_lines(stretches, self.options.avoid):
            self.say(line, "intro")
        for line in safety_lines(stretches, self.options.avoid):
            self.say(line, "safety")
        for line in changes:
            self.say(line, "safety")
        self.quiet(1.5, "pause")

    def outro(self, routine: Routine, rest_s: float, last: Stretch | None) -> None:
        shape = _shape(last) if last else SHAPES["standing"]
        self.say(shape.rest, "outro")
        self.say("Let your breath settle.", "outro")
        self.quiet(rest_s, "rest")
        self.say(f"Well done. That was {routine.title}.", "outro")
        for line in farewell(shape, self.spare_knees):
            self.say(line, "outro")

    # -- one stretch

    def stretch(self, stretch: Stretch, dose: Dose, before: Stretch | None) -> None:
        self.steps.append(ChapterStart(stretch.name, stretch.id))
        self.steps.append(Chime("transition"))
        name = f"Let's begin with {stretch.name}." if before is None else self.pick("next", name=stretch.name)
        self.say(name, "setup")
        deciding, adapting = self.cautions.split(stretch)
        for caution in deciding:
            self.say(say_side(caution.say, 0), "safety")
        moved = self.position(stretch, before)
        for line in stretch.setup:
            self.say(say_side(line, 0), "setup")
        if stretch.sides:
            self.say("Start with your right side.", "instruction")
            for line in stretch.side_setup:
                self.say(say_side(line, 0), "setup")
        for caution in adapting:
            if caution.say not in self.said_cautions:  # a tip already given this session is not repeated
                self.said_cautions.add(caution.say)
                self.say(say_side(caution.say, 0), "safety")
        self.quiet(stretch.settle_seconds + (3.0 if moved else 0.0), "settle")
        work = {"hold": self.holds, "reps": self.reps, "flow": self.flow}[stretch.style]
        work(stretch, dose)
        if stretch.release:
            self.say(say_side(stretch.release, 1 if stretch.sides else 0), "instruction")
        self.steps.append(ChapterEnd())

    def position(self, stretch: Stretch, before: Stretch | None) -> bool:
        """Set up the start shape, or say to stay in it; True when the body moved to a new one."""
        if stretch.start is None:
            return before is not None and before.position != stretch.position
        shape = SHAPES[stretch.start]
        if before is not None and _shape(before).id == shape.id:
            self.say(shape.stay, "setup")
            return False
        lines, skip = transition(_shape(before) if before else None, shape, self.spare_knees)
        for line in lines:
            self.say(line, "transition")
        for line in shape.arrive[skip:]:
            self.say(line, "setup")
        return before is not None

    def switch(self, stretch: Stretch, side: int, leave: bool = True) -> None:
        """Leave the other side (its release, mirrored), then set this side up in full."""
        if leave and stretch.release:
            self.say(say_side(stretch.release, 1 - side), "instruction")
        self.say(f"Switch to your {('right', 'left')[side]} side.", "transition")
        for line in stretch.side_setup:
            self.say(say_side(line, side), "setup")
        self.quiet(stretch.settle_seconds, "settle")

    def new_set(self, word: str, k: int, sets: int) -> None:
        if k > 1:
            self.say(self.pick("rest"), "instruction")
            self.quiet(REST_BETWEEN_SETS_S, "rest")
        if sets > 1:
            self.say(f"{word} {number_words(k)} of {number_words(sets)}.", "count")

    def holds(self, stretch: Stretch, dose: Dose) -> None:
        assert dose.hold is not None
        sides = 2 if stretch.sides else 1
        turn = 0
        for k in range(1, dose.sets + 1):
            for side in range(sides):
                if side == 0:
                    if k > 1 and stretch.sides and stretch.release:
                        self.say(say_side(stretch.release, 1), "instruction")
                    self.new_set("Round", k, dose.sets)
                    if k > 1 and stretch.sides:
                        self.switch(stretch, 0, leave=False)  # the left side was left before the round
                    elif k > 1:
                        self.say("Ease back into the stretch.", "instruction")
                else:
                    self.switch(stretch, side)
                self.steps.append(Chime("hold-start"))
                if self.options.hold_by == "breaths":
                    self.breath_hold(breaths_in(dose.hold, self.options), stretch, side)
                else:
                    self.steps.append(Window(dose.hold, "hold", self.hold_events(stretch, dose.hold, side, turn)))
                self.steps.append(Chime("hold-end"))
                self.say(self.pick("release"), "countdown")
                turn += 1

    def breath_hold(self, breaths: int, stretch: Stretch, side: int) -> None:
        """A hold counted in breaths: the first breaths guided (the first with the stretch's own
        breath lines), then silence with a quiet count."""
        guided = {"gentle": 3, "standard": 2, "deep": 1}.get(self.options.level, 2)
        for n in range(1, breaths + 1):
            inhale: EVENTS = ()
            exhale: EVENTS = ()
            if n == 1:
                inhale = ((0.0, Say(say_side(stretch.breath_in, side), "breath")),)
                exhale = ((0.0, Say(say_side(stretch.breath_out, side), "breath")),)
            elif n <= guided:
                inhale = ((0.0, Say(self.pick("breathe_in"), "breath")),)
                exhale = ((0.0, Say(self.pick("breathe_out"), "breath")),)
            elif n == breaths:
                inhale = ((0.0, Say("Last breath.", "count")),)
            elif n % 3 == 0:
                inhale = ((0.0, Say(f"{cap(number_words(n))}.", "count")),)
            self.steps.append(Window(self.options.breath_in, "inhale", inhale))
            self.steps.append(Window(self.options.breath_out, "exhale", exhale))

    def hold_events(self, stretch: Stretch, hold: float, side: int, turn: int) -> EVENTS:
        """Lines spoken during a hold, by priority, each kept only where it fits without overlap.

        The breath is guided at the start, then reminders come further and further apart (fewer
        at ``deep``, more at ``gentle``); no line is said twice in one hold.
        """
        level = self.options.level
        inhale = say_side(stretch.breath_in, side)
        exhale = say_side(stretch.breath_out, side)
        wanted: list[tuple[float, Say]] = []
        if hold >= 6:
            wanted += [(hold - 3 + i, Say(cap(number_words(3 - i)) + ".", "countdown")) for i in range(3)]
        wanted.append((0.5, Say(inhale, "breath")))
        out_at = 0.5 + max(self.options.breath_in, self.length(inhale) + 0.5)
        wanted.append((out_at, Say(exhale, "breath")))
        guided_end = out_at + max(self.options.breath_out, self.length(exhale) + 0.5)
        if level == "gentle":  # a second guided breath before the reminders
            second_in, second_out = self.pick("breathe_in"), self.pick("breathe_out")
            second_out_at = guided_end + max(self.options.breath_in, self.length(second_in) + 0.5)
            wanted.append((guided_end, Say(second_in, "breath")))
            wanted.append((second_out_at, Say(second_out, "breath")))
            guided_end = second_out_at + self.length(second_out) + 0.5
        if hold >= 30 and level != "deep" and not stretch.resting:
            wanted.append((hold / 2, Say(self.pick("halfway"), "instruction")))
        own = [say_side(c, side) for c in stretch.cues]
        own = own[turn % len(own):] + own[: turn % len(own)] if own else []
        reminders = [Say(c, "instruction") for c in own]
        if level == "deep":
            reminders = reminders[:1]
        else:
            reminders += [Say(self.pick("encourage"), "breath") for _ in range(3 if level == "gentle" else 2)]
        every = REMINDER_EVERY_S.get(level, 12.0)
        offset, gap = max(every, guided_end), every
        for reminder in reminders:
            if offset >= hold - 8:
                break
            wanted.append((offset, reminder))
            gap *= 1.3  # guidance thins as the hold goes on
            offset += gap
        accepted: list[tuple[float, float, Say]] = []
        for start, say in wanted:
            end = start + self.length(say.text) + 0.3
            if end > hold + 0.3:
                continue
            if all(end <= a or start >= b for a, b, _ in accepted):
                accepted.append((start, end, say))
        return tuple((start, say) for start, _, say in sorted(accepted, key=lambda a: a[0]))

    def breath_lines(self, stretch: Stretch, rep: int, side: int) -> tuple[str, str]:
        """(exhale line, inhale line) for one repetition: in full at first, then shorter."""
        if rep <= self.guided:
            return say_side(stretch.breath_out, side), say_side(stretch.breath_in, side)
        if stretch.alternating:  # every move names its side
            out = say_side(stretch.breath_out_short or stretch.breath_out, side)
            back = say_side(stretch.breath_in_short, side) if stretch.breath_in_short else self.pick("breathe_in")
            return out, back
        if stretch.breath_out_short and stretch.breath_in_short and (rep - self.guided <= 2 or rep % 2 == 0):
            return say_side(stretch.breath_out_short, side), say_side(stretch.breath_in_short, side)
        return self.pick("breathe_out"), self.pick("breathe_in")  # the move is known by now: the breath leads

    def reps(self, stretch: Stretch, dose: Dose) -> None:
        """Each repetition: the effort on the breath out with its count, a real hold, the return on the breath in."""
        assert dose.reps is not None and stretch.rep_seconds is not None
        move = stretch.rep_seconds / 2
        turns = dict(self.turns)
        for side in range(2 if stretch.sides else 1):
            if side:
                self.switch(stretch, side)
                self.turns = dict(turns)  # the same words on both sides, so both take the same time
            for k in range(1, dose.sets + 1):
                self.new_set("Set", k, dose.sets)
                for rep in range(1, dose.reps + 1):
                    rep_side = (rep - 1) % 2 if stretch.alternating else side
                    out, back = self.breath_lines(stretch, rep, rep_side)
                    if stretch.lead == "inhale":
                        out, back = back, out
                    count = cap(number_words(rep)) + "."
                    at = self.span(out) + COUNT_GAP_S
                    self.steps.append(
                        Window(max(move, at + self.length(count) + 0.3), "phase",
                               ((0.0, Say(out, "breath")), (at, Say(count, "count"))))
                    )
                    if dose.hold:
                        said: EVENTS = ((0.0, Say(self.pick("hold"), "instruction")),) if rep <= self.guided else ()
                        self.steps.append(Window(dose.hold, "phase", said))
                    back_s = max(move, self.span(back) + 0.3)
                    self.steps.append(Window(back_s, "phase", ((0.0, Say(back, "breath")),)))

    def flow(self, stretch: Stretch, dose: Dose) -> None:
        """Repetitions paced by the breath: the inhale line, then the exhale line with the count inside it."""
        assert dose.reps is not None
        breath_in, breath_out = self.options.breath_in, self.options.breath_out
        turns = dict(self.turns)
        short_out = say_side(stretch.breath_out_short, 0) if stretch.breath_out_short else ""
        for side in range(2 if stretch.sides else 1):
            if side:
                self.switch(stretch, side)
                self.turns = dict(turns)  # the same words on both sides, so both take the same time
            if side == 0:
                self.say("Now move with your breath.", "instruction")
            for k in range(1, dose.sets + 1):
                self.new_set("Round", k, dose.sets)
                for rep in range(1, dose.reps + 1):
                    rep_side = (rep - 1) % 2 if stretch.alternating else side
                    count = cap(number_words(rep)) + "."
                    if rep <= self.guided:
                        in_text = say_side(stretch.breath_in, rep_side)
                        out_text = say_side(stretch.breath_out, rep_side)
                    elif not stretch.alternating and (
                        self.options.level == "deep" or (rep - self.guided > 2 and rep % 3 and rep != dose.reps)
                    ):
                        in_text, out_text = "", ""  # guidance thins: the count alone keeps the rhythm
                    else:
                        in_text = say_side(stretch.breath_in_short, rep_side) if stretch.breath_in_short else ""
                        out_text = say_side(stretch.breath_out_short, rep_side) if stretch.breath_out_short else ""
                        in_text = in_text or self.pick("breathe_in")
                        out_text = out_text or self.pick("breathe_out")
                    inhale: EVENTS = ((0.0, Say(in_text, "breath")),) if in_text else ()
                    exhale: EVENTS = ((0.0, Say(out_text, "breath")),) if out_text else ()
                    # after the first reps the count keeps one place in the breath out, said or not
                    steady = 0.0 if rep <= self.guided else self.span(short_out or "Breathe out.") + COUNT_GAP_S
                    at = max(steady, self.span(out_text) + COUNT_GAP_S if out_text else 0.0)
                    in_s = max(breath_in, self.span(in_text) + 0.3 if in_text else 0.0)
                    self.steps.append(Window(in_s, "phase", inhale))
                    self.steps.append(Window(max(breath_out, at + self.length(count) + 0.3), "phase",
                                             (*exhale, (at, Say(count, "count")))))


_FALLBACK: dict[str, tuple[str, ...]] = {
    "breathe_in": ("Breathe in.",),
    "breathe_out": ("Breathe out.",),
    "hold": ("Hold.",),
    "release": ("Release.",),
    "halfway": ("Halfway there.",),
    "encourage": ("Keep your breath slow and easy.",),
    "rest": ("Rest for a moment.",),
    "next": ("Next, {name}.",),
}
"""Used for a kind a catalog's phrase pools leave out."""


def _shape(stretch: Stretch) -> Shape:
    return SHAPES[stretch.start or DEFAULT_SHAPE[stretch.position]]


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
    phrases: Mapping[str, Sequence[str]] | None = None,
) -> list[Step]:
    """The steps of a whole session for these doses; ``changes`` are spoken after the safety note."""
    planner = _Planner(options, length, phrases or {})
    planner.intro(routine, stretches, minutes_said, changes)
    for i, (stretch, dose) in enumerate(zip(stretches, doses)):
        planner.stretch(stretch, dose, stretches[i - 1] if i else None)
    planner.outro(routine, rest_s, stretches[-1] if stretches else None)
    return planner.steps
