"""Planning what an instructor says: the welcome, each stretch's setup, holds, reps and flows.

:func:`plan_session` decides *what* is said and how long each quiet stretch of time lasts, as a
flat list of steps, for doses that fitting has already chosen. It speaks like an instructor
beside the mat: the stretch named once, the position set up (or "stay where you are"), each side
set up on its own, alternating moves that name their side, counts inside the breath, guidance
that thins as a hold goes on, and words varied from the catalog's phrase pools. Every line leaves
the pause it asks for (``pacing``); repetitions keep one breath cycle at the --breath pace and
step back from full cues to short ones to the count alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from voiceguide.catalog.shapes import DEFAULT_SHAPE, SHAPES, Shape, farewell, transition
from voiceguide.catalog.types import Routine, Stretch
from voiceguide.session.options import CLOSING_REST_S, REMINDER_EVERY_S, ComposeOptions, Dose, breaths_in
from voiceguide.session.pacing import SENTENCE_PAUSE_S, move_kind, pause_after
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
SETTLE_MIN_S = 2.5
"""The least quiet before the work starts, however much time the setup lines gave to move."""
GUIDED_BREATHS = {"gentle": 3, "standard": 2, "deep": 1}
"""Breaths guided aloud in a hold counted in breaths, before the quiet count takes over."""
SHORT_REPS = {"gentle": 4, "standard": 2, "deep": 1}
"""Repetitions with short cues after the full ones, before the count alone keeps the rhythm."""
STEP_BACK_LINE = "Keep moving with your breath; I'll count."
"""Said once, when the voice steps back to the count alone."""
EVENTS = tuple[tuple[float, Say], ...]
PROTECTIVE = re.compile(r"\b(protect|spare|support)", re.IGNORECASE)
"""A hold cue that protects a joint: said first in every hold, so every side hears it."""
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
        self.last_rep: set[str] = set()
        """The breath lines of the last repetition."""
        self.acted = 0.0
        """Seconds the lines since the last settle gave to moving, beyond their sentence pauses."""
        self.released: int | None = None
        """The side whose release the last repetition's way back just said."""

    def say(self, text: str, role: str) -> None:
        """Speak a line, then leave the pause it asks for (time to act on it, or a sentence pause).

        A line that only repeats the gist of the line just said is left out.
        """
        if role not in ("breath", "count", "countdown") and _same_gist(self.last_line(), text):
            return
        pause = pause_after(text, role)
        self.acted += pause - SENTENCE_PAUSE_S if move_kind(text, role) else 0.0
        self.steps.append(Say(text, role))
        self.steps.append(Quiet(pause, "pause"))

    def last_line(self) -> str:
        """The line said last, in a window or not."""
        for step in reversed(self.steps):
            if isinstance(step, Say):
                return step.text
            if isinstance(step, Window) and step.events:
                return step.events[-1][1].text
        return ""

    def quiet(self, seconds: float, role: str) -> None:
        """Quiet time; it takes the place of the pause just left when that was shorter (never adds to it)."""
        last = self.steps[-1] if self.steps else None
        if isinstance(last, Quiet) and last.role == "pause":
            self.steps[-1] = Quiet(max(seconds, last.seconds), role if seconds >= last.seconds else "pause")
            return
        self.steps.append(Quiet(seconds, role))

    def pick(self, kind: str, **names: str) -> str:
        """The next phrasing of ``kind`` in turn: varied, and the same on every run."""
        pool = self.phrases.get(kind) or PHRASE_FALLBACK[kind]
        turn = self.turns.get(kind, 0)
        self.turns[kind] = turn + 1
        return pool[turn % len(pool)].format(**names)

    def span(self, text: str) -> float:
        """How long ``text`` or its mirror takes, whichever is longer: both sides get equal time."""
        if not text:
            return 0.0
        return max(self.length(text), self.length(_SIDE_WORD.sub(lambda m: _MIRROR[m[0]], text)))

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
        self.acted = 0.0
        self.steps.append(Chime("transition"))
        name = f"Let's begin with {stretch.name}." if before is None else self.pick("next", name=stretch.name)
        self.say(name, "setup")
        deciding, adapting = self.cautions.split(stretch)
        for caution in deciding:
            self.say(say_side(caution.say, 0), "safety")
        self.position(stretch, before)
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
        self.settle(stretch)  # a change of position had its own time after its lines
        work = {"hold": self.holds, "reps": self.reps, "flow": self.flow}[stretch.style]
        work(stretch, dose)
        self.leave(stretch, 1 if stretch.sides else 0)
        self.steps.append(ChapterEnd())

    def leave(self, stretch: Stretch, side: int) -> None:
        """The release of one side, unless the last repetition's way back already said it."""
        if stretch.release and self.released != side:
            self.say(say_side(stretch.release, side), "instruction")
        self.released = None

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
        if leave:
            self.leave(stretch, 1 - side)
        self.acted = 0.0
        self.say(f"Switch to your {('right', 'left')[side]} side.", "transition")
        for line in stretch.side_setup:
            self.say(say_side(line, side), "setup")
        self.settle(stretch)

    def again(self, stretch: Stretch, side: int) -> None:
        """A later round of one side: the setup is known by now, so only its first move is said again."""
        self.acted = 0.0
        self.say(f"Switch to your {('right', 'left')[side]} side.", "transition")
        moves = [line for line in stretch.side_setup if "{side}" in line] or list(stretch.side_setup)
        if moves:  # the first move that names the side, not the whole setup again
            self.say(say_side(moves[0], side), "setup")
        self.settle(stretch)

    def settle(self, stretch: Stretch) -> None:
        """A moment to settle into the stretch: what its settle time leaves after the time its lines gave
        to move, and never less than the pause the last line asked for."""
        self.quiet(max(SETTLE_MIN_S, stretch.settle_seconds - self.acted), "settle")
        self.acted = 0.0

    def new_set(self, word: str, k: int, sets: int) -> None:
        if k > 1:
            self.say(self.pick("rest"), "instruction")
            self.quiet(REST_BETWEEN_SETS_S, "rest")
        if sets > 1:
            self.say(f"{word} {number_words(k)} of {number_words(sets)}.", "count")

    def holds(self, stretch: Stretch, dose: Dose) -> None:
        assert dose.hold is not None
        sides = 2 if stretch.sides else 1
        for k in range(1, dose.sets + 1):
            turn = k - 1  # both sides of a round hear the same cues, a protective one included
            for side in range(sides):
                if side == 0:
                    if k > 1 and stretch.sides:
                        self.leave(stretch, 1)
                    self.new_set("Round", k, dose.sets)
                    if k > 1 and stretch.sides:
                        self.again(stretch, 0)
                    elif k > 1:
                        self.say("Ease back into the stretch.", "instruction")
                elif k > 1:
                    self.leave(stretch, 0)
                    self.again(stretch, 1)
                else:
                    self.switch(stretch, side)
                self.steps.append(Chime("hold-start"))
                if self.options.hold_by == "breaths":
                    self.breath_hold(breaths_in(dose.hold, self.options), stretch, side)
                else:
                    self.steps.append(Window(dose.hold, "hold", self.hold_events(stretch, dose.hold, side, turn)))
                self.steps.append(Chime("hold-end"))
                self.say(self.pick("release"), "countdown")

    def breath_hold(self, breaths: int, stretch: Stretch, side: int) -> None:
        """A hold counted in breaths: the first breaths guided (the first with the stretch's own
        breath lines), then silence with a quiet count."""
        guided = GUIDED_BREATHS.get(self.options.level, 2)
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

    def countdown(self, hold: float) -> list[tuple[float, str]]:
        """"Three. Two. One." a second or a little more apart, "One." ending a sentence pause before the hold does."""
        words = ["Three.", "Two.", "One."]
        step = max(1.0, max(self.length(w) for w in words) + SENTENCE_PAUSE_S)
        one_at = hold - self.length("One.") - SENTENCE_PAUSE_S
        return [(one_at - (2 - i) * step, w) for i, w in enumerate(words)]

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
            wanted += [(at, Say(word, "countdown")) for at, word in self.countdown(hold)]
        wanted.append((0.5, Say(inhale, "breath")))
        out_at = 0.5 + max(self.options.breath_in, self.span(inhale) + SENTENCE_PAUSE_S)
        counting_at = self.countdown(hold)[0][0] if hold >= 6 else hold
        if out_at + self.span(exhale) + SENTENCE_PAUSE_S > counting_at:  # a short hold: the breath out in short
            exhale = PHRASE_FALLBACK["breathe_out"][0]
        wanted.append((out_at, Say(exhale, "breath")))
        guided_end = out_at + max(self.options.breath_out, self.span(exhale) + SENTENCE_PAUSE_S)
        if level == "gentle":  # a second guided breath before the reminders
            second_in, second_out = self.pick("breathe_in"), self.pick("breathe_out")
            second_out_at = guided_end + max(self.options.breath_in, self.span(second_in) + SENTENCE_PAUSE_S)
            second_end = second_out_at + max(self.options.breath_out, self.span(second_out) + SENTENCE_PAUSE_S)
            if second_end <= counting_at:  # a whole breath, never one squeezed by the countdown
                wanted.append((guided_end, Say(second_in, "breath")))
                wanted.append((second_out_at, Say(second_out, "breath")))
                guided_end = second_end
        if hold >= 30 and level != "deep" and not stretch.resting:
            wanted.append((hold / 2, Say(self.pick("halfway"), "instruction")))
        own = [say_side(c, side) for c in stretch.cues]
        protect = [c for c in own if PROTECTIVE.search(c)]  # said first, on every side
        own = [c for c in own if c not in protect]
        own = protect + (own[turn % len(own):] + own[: turn % len(own)] if own else [])
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
            end = start + self.span(say.text) + SENTENCE_PAUSE_S  # a sentence pause after every line
            if end > hold:
                continue
            if all(end <= a + 1e-9 or start >= b - 1e-9 for a, b, _ in accepted):
                accepted.append((start, end, say))
        return tuple((start, say) for start, _, say in sorted(accepted, key=lambda a: a[0]))

    def stage(self, stretch: Stretch, rep: int, k: int) -> str:
        """Where a repetition stands as the voice steps back: ``full`` cues, ``short`` cues, or ``count`` alone.

        The full lines come once (once a side for alternating moves, and not again in later sets),
        short ones for a few repetitions more, then the count alone keeps the rhythm.
        """
        full = (2 if stretch.alternating else 1) if k == 1 else 0
        if rep <= full:
            return "full"
        return "short" if rep <= full + SHORT_REPS.get(self.options.level, 2) else "count"

    def cue_pair(self, stretch: Stretch, rep: int, reps: int, k: int, side: int) -> tuple[str, str]:
        """(inhale line, exhale line) for one repetition; either may be empty (the count alone)."""
        stage = self.stage(stretch, rep, k)
        full = (say_side(stretch.breath_in, side), say_side(stretch.breath_out, side))
        own = (
            say_side(stretch.breath_in_short or stretch.breath_in, side),
            say_side(stretch.breath_out_short or stretch.breath_out, side),
        )
        plain = (self.pick("breathe_in"), self.pick("breathe_out"))
        if stage == "full":
            if rep == 1:
                return full
            # the second side of an alternating move: a line that names no side was just said in full
            sided = ("{" in stretch.breath_in, "{" in stretch.breath_out)
            return (full[0] if sided[0] else own[0], full[1] if sided[1] else own[1])
        lead = 0 if stretch.style == "flow" or stretch.lead == "inhale" else 1
        if stretch.alternating:  # every move names its side; the way back is said now and then
            pair = list(own)
            if stage == "count" or (rep - self.stage_start(stretch, k)) % 2:
                pair[1 - lead] = plain[1 - lead] if stage == "short" else ""
            return pair[0], pair[1]
        if stage == "short":  # the stretch's own short words and plain breath words take turns
            has_own = bool(stretch.breath_in_short or stretch.breath_out_short)
            return own if has_own and (rep - self.stage_start(stretch, k)) % 2 == 0 else plain
        pair = ["", ""]
        first_count = rep == self.stage_start(stretch, k, "count")
        if first_count and rep < reps:
            pair[lead] = STEP_BACK_LINE
        return pair[0], pair[1]

    def stage_start(self, stretch: Stretch, k: int, stage: str = "short") -> int:
        full = (2 if stretch.alternating else 1) if k == 1 else 0
        return full + 1 if stage == "short" else full + 1 + SHORT_REPS.get(self.options.level, 2)

    def cycle(self, stretch: Stretch, dose: Dose, rep: int, k: int, side: int) -> None:
        """One repetition on one breath cycle at the --breath pace, whatever the words.

        The moving breath carries the count, placed where the movement has arrived; a real hold
        follows it where the stretch has one; "Last one." comes before the last.
        """
        reps = dose.reps or 1
        rep_side = (rep - 1) % 2 if stretch.alternating else side
        in_text, out_text = self.cue_pair(stretch, rep, reps, k, rep_side)
        # a long line just said in the last repetition gives way to plain breath words
        if in_text in self.last_rep and len(in_text.split()) > 4:
            in_text = self.pick("breathe_in")
        if out_text in self.last_rep and len(out_text.split()) > 4:
            out_text = self.pick("breathe_out")
        self.last_rep = {in_text, out_text}
        flow = stretch.style == "flow"
        move = 0.0 if flow or stretch.rep_seconds is None else stretch.rep_seconds / 2
        first, second = (in_text, out_text) if flow or stretch.lead == "inhale" else (out_text, in_text)
        first_s, second_s = (
            (self.options.breath_in, self.options.breath_out)
            if flow or stretch.lead == "inhale"
            else (self.options.breath_out, self.options.breath_in)
        )
        last: tuple[str, ...] = ("Last one.",) if reps >= 3 and rep == reps else ()
        count = cap(number_words(rep)) + "."
        count_s = max(self.length(f"{cap(number_words(r))}.") for r in range(1, reps + 1))  # one place for every count
        if flow:
            in_events, in_end, breath_at = self.in_turn((*last, first))
            self.steps.append(Window(max(breath_at + first_s, in_end), "phase", in_events))
            said, end, breath_at = self.in_turn((second,))
            moving_s = second_s
        else:
            said, end, breath_at = self.in_turn((*last, first))
            moving_s = first_s
        # the breath is timed from its own line: "Last one." before it never shortens it
        moving_len = max(move, breath_at + moving_s, end + count_s + SENTENCE_PAUSE_S)
        self.steps.append(Window(moving_len, "phase", (*said, (moving_len - count_s - SENTENCE_PAUSE_S,
                                                               Say(count, "count")))))
        if flow:
            return
        if dose.hold:
            held: EVENTS = ()
            if self.stage(stretch, rep, k) != "count":
                line = self.pick("hold_breathing" if rep == 1 and stretch.lead != "inhale" else "hold")
                if self.span(line) + SENTENCE_PAUSE_S <= dose.hold:
                    held = ((0.0, Say(line, "instruction")),)
            self.steps.append(Window(dose.hold, "phase", held))
        role = "breath"
        if stretch.release and rep == reps and k == dose.sets:  # the last way back is the release itself
            second, role, self.released = say_side(stretch.release, side), "instruction", side
        back_len = max(move, second_s, self.span(second) + pause_after(second, role) if second else 0.0)
        self.steps.append(Window(back_len, "phase", ((0.0, Say(second, role)),) if second else ()))

    def in_turn(self, lines: Sequence[str]) -> tuple[EVENTS, float, float]:
        """Lines said one after another from the start of a window, each with a sentence pause after it;
        where the last pause ends, and where the last line (the breath's own) starts."""
        events: list[tuple[float, Say]] = []
        at = start = 0.0
        for text in lines:
            if text:
                events.append((at, Say(text, "instruction" if text in ("Last one.", STEP_BACK_LINE) else "breath")))
                start = at
                at += self.span(text) + SENTENCE_PAUSE_S
        return tuple(events), at, start

    def reps(self, stretch: Stretch, dose: Dose) -> None:
        """Counted repetitions, each on one steady breath cycle; sets and sides in turn."""
        assert dose.reps is not None and stretch.rep_seconds is not None
        self.repeat(stretch, dose)

    def flow(self, stretch: Stretch, dose: Dose) -> None:
        """Repetitions paced by the breath: the inhale line, then the exhale line with the count closing it."""
        assert dose.reps is not None
        self.repeat(stretch, dose)

    def repeat(self, stretch: Stretch, dose: Dose) -> None:
        turns = dict(self.turns)
        for side in range(2 if stretch.sides else 1):
            if side:
                self.switch(stretch, side)
                self.turns = dict(turns)  # the same words on both sides, so both take the same time
            if side == 0 and stretch.style == "flow":
                self.say("Now move with your breath.", "instruction")
            for k in range(1, dose.sets + 1):
                self.new_set("Set" if stretch.style == "reps" else "Round", k, dose.sets)
                self.last_rep = set()
                for rep in range(1, (dose.reps or 1) + 1):
                    self.cycle(stretch, dose, rep, k, side)


PHRASE_FALLBACK: dict[str, tuple[str, ...]] = {
    "breathe_in": ("Breathe in.",),
    "breathe_out": ("Breathe out.",),
    "hold": ("Hold.",),
    "hold_breathing": ("Hold, and keep breathing.", "Stay there, breathing easily."),
    "release": ("Release.",),
    "halfway": ("Halfway there.",),
    "encourage": ("Keep your breath slow and easy.",),
    "rest": ("Rest for a moment.",),
    "next": ("Next, {name}.",),
}
"""Used for a kind a catalog's phrase pools leave out."""


def _same_gist(before: str, after: str) -> bool:
    """Whether ``after`` ends as ``before`` does (its last four words): said right after it, it says nothing new."""
    a, b = re.findall(r"[\w']+", before.lower()), re.findall(r"[\w']+", after.lower())
    return len(a) >= 4 and len(b) >= 4 and a[-4:] == b[-4:]


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
