"""The guide: what a person needs to see at one moment, derived from the cues themselves.

Stretch, side, set, repetition, hold countdown and breath phase all come from the spoken lines
and tones of a timeline, so there is no second plan of the session to keep in step.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from voiceguide.session.compose import number_words
from voiceguide.session.timeline import Cue, Timeline

EPS = 1e-6
"""Slack for comparing script positions (seconds)."""

_SIDE = re.compile(r"\b(?:Switch to|Start with) your (right|left) side\b", re.IGNORECASE)
_SET = re.compile(r"^(?:Round|Set) ([a-z -]+?) of ([a-z -]+?)\.$", re.IGNORECASE)
_WORDS = {number_words(n): n for n in range(0, 1000)}


def _number(word: str) -> int | None:
    return _WORDS.get(word.lower().strip())


def breath_phase(text: str | None) -> Literal["in", "out"] | None:
    """'in' or 'out' for a line that paces a breath ('Breathe in…', 'Exhale…'), else None."""
    low = (text or "").lower()
    if low.startswith(("breathe in", "inhale")):
        return "in"
    if low.startswith(("breathe out", "exhale")):
        return "out"
    return None


def _pace(timeline: Timeline) -> tuple[float, float]:
    """The breath pace the script was composed with (its JSON meta), or 4-6."""
    try:
        inhale, exhale = str(timeline.meta["options"]["breath"]).split("-")
        return float(inhale), float(exhale)
    except (KeyError, TypeError, ValueError):
        return 4.0, 6.0


@dataclass(frozen=True)
class Status:
    """Where a session is at one moment, for a display."""

    position_s: float
    duration_s: float
    chapter: int | None
    chapter_title: str | None
    chapter_count: int
    side: str | None
    set_of: tuple[int, int] | None
    rep_of: tuple[int, int | None] | None
    line: str | None
    speaking: bool
    hold_left_s: float | None
    hold_s: float | None
    breath: Literal["in", "out"] | None
    breath_left_s: float | None
    next_title: str | None
    next_line: str | None
    in_safety_note: bool = False
    """The opening safety note is playing: 'next' waits for its end."""

    @property
    def remaining_s(self) -> float:
        return max(0.0, self.duration_s - self.position_s)


class Guide:
    """Derives what a person needs to see from the cues alone: no second plan of the session.

    - side: 'right'/'left' in a chapter that says 'Start with your right side.' or
      'Switch to your left side.' (setup lines are spoken for the right side);
    - set: 'Round two of three.' / 'Set one of two.'; repetition: 'One.', 'Two.' count lines;
    - hold: the span between the 'hold-start' and 'hold-end' tones;
    - breath: from lines that start 'Breathe in'/'Breathe out', lasting until the next line
      is spoken, and inside a hold paced on from the last spoken breath at the script's pace.
    """

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        cues = timeline.cues
        self.starts = [c.start_s for c in cues]
        self.pace = _pace(timeline)
        reps = {i: d.get("reps") for i, d in enumerate(timeline.meta.get("doses", []) or []) if isinstance(d, dict)}
        self.sides: list[str | None] = []
        self.sets: list[tuple[int, int] | None] = []
        self.reps: list[tuple[int, int | None] | None] = []
        self.last_line: list[int | None] = []
        sided = {c.chapter for c in cues if c.kind == "speech" and c.chapter is not None and _SIDE.search(c.text or "")}
        chapter: int | None = -1
        side: str | None = None
        set_of: tuple[int, int] | None = None
        rep: tuple[int, int | None] | None = None
        last: int | None = None
        for i, cue in enumerate(cues):
            if cue.chapter != chapter:
                chapter = cue.chapter
                side = "right" if chapter in sided else None
                set_of, rep = None, None
            text = cue.text or ""
            if cue.kind == "speech":
                last = i
                if match := _SIDE.search(text):
                    side = match[1].lower()
                if (match := _SET.match(text)) and _number(match[1]) and _number(match[2]):
                    set_of = (_number(match[1]) or 0, _number(match[2]) or 0)
                    rep = None
                if cue.role == "count" and (n := _number(text.rstrip("."))) is not None:
                    total = reps.get(chapter) if chapter is not None else None
                    rep = (n, total if isinstance(total, int) else None)
            self.sides.append(side)
            self.sets.append(set_of)
            self.reps.append(rep)
            self.last_line.append(last)
        self._reps_in_progress(cues)
        self.holds = self._holds(cues)
        self._hold_starts = [h[0] for h in self.holds]
        self.breaths = self._breaths(cues)
        self._breath_starts = [b[0] for b in self.breaths]

    @staticmethod
    def _holds(cues: Sequence[Cue]) -> list[tuple[float, float]]:
        holds, opened = [], None
        for cue in cues:
            if cue.kind == "tone" and cue.role == "hold-start":
                opened = cue.end_s
            elif cue.kind == "tone" and cue.role == "hold-end" and opened is not None:
                holds.append((opened, cue.start_s))
                opened = None
        return holds

    def hold_at(self, t: float) -> tuple[float, float] | None:
        k = bisect.bisect_right(self._hold_starts, t + EPS) - 1
        if k >= 0 and self.holds[k][0] - EPS <= t < self.holds[k][1]:
            return self.holds[k]
        return None

    def _breaths(self, cues: Sequence[Cue]) -> list[tuple[float, float, Literal["in", "out"]]]:
        marks = [(i, p) for i, c in enumerate(cues) if c.kind == "speech" and (p := breath_phase(c.text))]
        # a count closes the breath it follows ('Breathe out...' 'Two.'), so it does not end that breath
        speech_starts = [(c.start_s, i) for i, c in enumerate(cues) if c.kind == "speech" and c.role != "count"]

        def begins(i: int, phase: str) -> float:
            # the count said at the top of an inhale ('Three.' 'Breathe in.') belongs to the inhale
            prev = cues[i - 1] if i else None
            if (phase == "in" and prev and prev.kind == "speech" and prev.role == "count"
                    and abs(prev.end_s - cues[i].start_s) < 1e-3):
                return prev.start_s
            return cues[i].start_s

        result: list[tuple[float, float, Literal["in", "out"]]] = []
        for n, (i, phase) in enumerate(marks):
            start = begins(i, phase)
            hold = self.hold_at(cues[i].start_s)
            if hold is not None:
                following = marks[n + 1][0] if n + 1 < len(marks) else None
                if following is not None and cues[following].start_s < hold[1]:
                    result.append((start, cues[following].start_s, phase))
                    continue
                t, ph = start, phase  # the last spoken breath of a hold: keep pacing to its end
                while t < hold[1] - EPS:
                    step = self.pace[0] if ph == "in" else self.pace[1]
                    result.append((t, min(t + step, hold[1]), ph))
                    t, ph = t + step, ("out" if ph == "in" else "in")
                continue
            k = bisect.bisect_right(speech_starts, (cues[i].start_s, i))
            end = self.timeline.duration_s
            if k < len(speech_starts):
                j = speech_starts[k][1]
                end = begins(j, breath_phase(cues[j].text) or "")
            result.append((start, max(end, cues[i].end_s), phase))
        result.sort(key=lambda b: b[0])
        return result

    def _reps_in_progress(self, cues: Sequence[Cue]) -> None:
        """Count the repetition in progress, not the last one counted: a rep runs from the inhale
        of the breath cycle its count belongs to (the count closes the exhale in some flows and
        follows the inhale in others)."""
        previous = -1
        for k, cue in enumerate(cues):
            if cue.role != "count" or self.reps[k] is None:
                continue
            inhales = [j for j in range(previous + 1, k) if cues[j].chapter == cue.chapter
                       and cues[j].role == "breath" and (cues[j].text or "").lower().startswith("breathe in")]
            if inhales:
                for j in range(inhales[-1], k):
                    self.reps[j] = self.reps[k]
            previous = k

    def chapter_at(self, t: float) -> int | None:
        for k, ch in enumerate(self.timeline.chapters):
            if ch.start_s - EPS <= t < ch.end_s - EPS:
                return k
        return None

    def status(self, t: float) -> Status:
        tl = self.timeline
        i = bisect.bisect_right(self.starts, t + EPS) - 1
        cue = tl.cues[i] if i >= 0 else None
        chapter = self.chapter_at(t)
        last = self.last_line[i] if i >= 0 else None
        speaking = cue is not None and cue.kind == "speech" and t < cue.end_s
        hold = self.hold_at(t)
        k = bisect.bisect_right(self._breath_starts, t + EPS) - 1
        breath = self.breaths[k] if k >= 0 and t < self.breaths[k][1] else None
        later = [ch for ch in tl.chapters if ch.start_s > t + EPS]
        upcoming = next((c.text for c in tl.cues[i + 1 :] if c.kind == "speech"), None)
        return Status(
            position_s=t,
            duration_s=tl.duration_s,
            chapter=chapter,
            chapter_title=tl.chapters[chapter].title if chapter is not None else None,
            chapter_count=len(tl.chapters),
            side=self.sides[i] if i >= 0 and chapter is not None else None,
            set_of=self.sets[i] if i >= 0 and chapter is not None else None,
            rep_of=self.reps[i] if i >= 0 and chapter is not None else None,
            line=tl.cues[last].text if last is not None else None,
            speaking=speaking,
            hold_left_s=hold[1] - t if hold else None,
            hold_s=hold[1] - hold[0] if hold else None,
            breath=breath[2] if breath else None,
            breath_left_s=breath[1] - t if breath else None,
            next_title=later[0].title if later else None,
            next_line=upcoming,
            in_safety_note=cue is not None and cue.role == "safety" and cue.chapter is None and t < cue.end_s + EPS
            and (not tl.chapters or cue.end_s <= tl.chapters[0].start_s + EPS),
        )
