"""The timed script: every cue of a session with its absolute start and end.

Every output (an MP3, live narration, captions, a podcast episode) is a view of one
:class:`Timeline`; none of them derives timing on its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

CueKind = Literal["speech", "silence", "tone"]

SPEECH_ROLES = (
    "intro",
    "safety",
    "setup",
    "instruction",
    "breath",
    "count",
    "countdown",
    "transition",
    "next-up",
    "outro",
)
SILENCE_ROLES = ("pause", "settle", "hold", "rest", "phase", "inhale", "exhale")
TONE_ROLES = ("transition", "hold-start", "hold-end")


@dataclass(frozen=True)
class Cue:
    """One thing that happens in a session, from ``start_s`` to ``end_s`` seconds."""

    start_s: float
    end_s: float
    kind: CueKind
    role: str
    text: str | None = None
    chapter: int | None = None
    """Index into :attr:`Timeline.chapters`, or None outside every chapter (intro, outro)."""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "kind": self.kind,
            "role": self.role,
            "text": self.text,
            "chapter": self.chapter,
        }


@dataclass(frozen=True)
class Chapter:
    """The span of one stretch in the session."""

    title: str
    stretch: str
    start_s: float
    end_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "stretch": self.stretch,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
        }


@dataclass(frozen=True)
class Timeline:
    """A whole session: ordered, non-overlapping cues grouped into one chapter per stretch."""

    title: str
    routine: str
    duration_s: float
    chapters: tuple[Chapter, ...]
    cues: tuple[Cue, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    """Extra facts for the JSON form (options used, the fitted values per stretch)."""

    def chapters_covering(self) -> tuple[Chapter, ...]:
        """The chapters of a file: "Welcome" up to the first stretch, each stretch from where it
        starts, "Closing" after the last, so that together they cover the session without a gap.

        MP3 chapter frames and a pack's chapters.json are written from these, so skipping to a
        stretch lands where its stretch starts in every output.
        """
        if not self.chapters:
            return (Chapter("Welcome", "welcome", 0.0, self.duration_s),)
        out: list[Chapter] = []
        if self.chapters[0].start_s > 0:
            out.append(Chapter("Welcome", "welcome", 0.0, self.chapters[0].start_s))
        for i, ch in enumerate(self.chapters):
            end = self.chapters[i + 1].start_s if i + 1 < len(self.chapters) else ch.end_s
            out.append(Chapter(ch.title, ch.stretch, ch.start_s, end))
        if self.duration_s > self.chapters[-1].end_s:
            out.append(Chapter("Closing", "closing", self.chapters[-1].end_s, self.duration_s))
        return tuple(out)

    def speech(self) -> list[Cue]:
        return [c for c in self.cues if c.kind == "speech"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "routine": self.routine,
            "duration_s": round(self.duration_s, 3),
            **self.meta,
            "chapters": [c.to_dict() for c in self.chapters],
            "cues": [c.to_dict() for c in self.cues],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timeline:
        known = {"title", "routine", "duration_s", "chapters", "cues"}
        return cls(
            title=data["title"],
            routine=data["routine"],
            duration_s=data["duration_s"],
            chapters=tuple(Chapter(**c) for c in data["chapters"]),
            cues=tuple(Cue(**c) for c in data["cues"]),
            meta={k: v for k, v in data.items() if k not in known},
        )
