"""Planning what an instructor says: the welcome, each stretch's setup, holds, reps and flows.

:func:`plan_session` decides *what* is said and how long each quiet stretch of time lasts, as a
flat list of steps, for doses that fitting has already chosen.
"""

from __future__ import annotations

from collections.abc import Sequence

from voiceguide.catalog.types import FLOOR_POSITIONS, Routine, Stretch
from voiceguide.session.options import CLOSING_REST_S, REMINDER_EVERY_S, ComposeOptions, Dose, breaths_in
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
from voiceguide.session.words import cap, join_words, number_words, say_side

REST_BETWEEN_SETS_S = 5.0
PAUSE_AFTER_NEXT_UP_S = 2.0


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
            self.say(say_side(line, 0), "setup")
        for caution in stretch.cautions:
            self.say(say_side(caution.say, 0), "safety")
        if stretch.sides:
            self.say("Start with your right side.", "instruction")
        self.quiet(stretch.settle_seconds + (3.0 if moved else 0.0), "settle")
        work = {"hold": self.holds, "reps": self.reps, "flow": self.flow}[stretch.style]
        work(stretch, dose)
        if stretch.release:
            self.say(say_side(stretch.release, 1 if stretch.sides else 0), "instruction")
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
                inhale = ((0.0, Say(f"{cap(number_words(n))}.", "count")),)
            self.steps.append(Window(self.options.breath_in, "inhale", inhale))
            self.steps.append(Window(self.options.breath_out, "exhale", exhale))

    def hold_events(self, stretch: Stretch, hold: float, side: int) -> tuple[tuple[float, Say], ...]:
        """Lines spoken during a hold, by priority, each kept only where it fits without overlap."""
        inhale = say_side(stretch.breath_in, side)
        exhale = say_side(stretch.breath_out, side)
        wanted: list[tuple[float, Say]] = []
        if hold >= 6:
            wanted += [(hold - 3 + i, Say(cap(number_words(3 - i)) + ".", "countdown")) for i in range(3)]
        wanted.append((0.5, Say(inhale, "breath")))
        if hold >= 30:
            wanted.append((hold / 2, Say("Halfway there.", "instruction")))
        wanted.append((0.5 + max(self.options.breath_in, self.length(inhale) + 0.5), Say(exhale, "breath")))
        reminders = [say_side(c, side) for c in stretch.cues] + list(GENERIC_REMINDERS)
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
                    self.say(say_side(stretch.breath_out, side), "breath")
                    self.say(say_side(stretch.breath_in, side), "breath")
                for rep in range(1, dose.reps + 1):
                    count = Say(cap(number_words(rep)) + ".", "count")
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
            inhale, exhale = say_side(stretch.breath_in, side), say_side(stretch.breath_out, side)
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
                    count = cap(number_words(rep)) + "."
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

