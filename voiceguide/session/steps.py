"""The steps a planned session is made of, and their layout on the clock.

A plan is a flat list of steps (a line, a quiet pause, a chime, a timed window with lines at
offsets, chapter marks); :func:`layout` gives each one an absolute start and end from the length
of every spoken line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from voiceguide.session.pacing import MIN_GAP_S
from voiceguide.session.timeline import Chapter, Cue

SpeechLength = Callable[[str], float]
"""Seconds a spoken line takes, from its first to its last audible sound."""

TONE_S = {"transition": 0.6, "hold-start": 0.4, "hold-end": 0.4}


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
    """Give each step absolute times; a line never starts sooner than a short gap after the previous one ends."""
    cues: list[Cue] = []
    chapters: list[Chapter] = []
    open_chapter: tuple[str, str, float] | None = None
    t = 0.0
    spoken_end = -MIN_GAP_S

    def emit(kind: str, role: str, seconds: float, text: str | None = None) -> None:
        nonlocal t
        if seconds > 0.0005:
            index = len(chapters) if open_chapter else None
            cues.append(Cue(t, t + seconds, kind, role, text, index))  # type: ignore[arg-type]
            t += seconds

    def speak(say: Say, role: str) -> None:
        nonlocal spoken_end
        emit("silence", "pause", spoken_end + MIN_GAP_S - t)  # never two lines run together
        emit("speech", say.role, length(say.text), say.text)
        spoken_end = t

    for step in steps:
        if isinstance(step, Say):
            speak(step, "pause")
        elif isinstance(step, Quiet):
            emit("silence", step.role, step.seconds)
        elif isinstance(step, Chime):  # a tone is heard as a sound too: a gap either side of it
            emit("silence", "pause", spoken_end + MIN_GAP_S - t)
            emit("tone", step.role, TONE_S[step.role])
            spoken_end = t
        elif isinstance(step, Window):
            start = t
            for offset, say in step.events:
                emit("silence", step.role, start + offset - t)
                speak(say, step.role)
            emit("silence", step.role, start + step.seconds - t)
        elif isinstance(step, ChapterStart):
            open_chapter = (step.title, step.stretch, t)
        elif isinstance(step, ChapterEnd) and open_chapter:
            chapters.append(Chapter(open_chapter[0], open_chapter[1], open_chapter[2], t))
            open_chapter = None
    return cues, chapters, t


