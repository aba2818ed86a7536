"""What every engine is told and tells: the voice settings and the description of a voice."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_RATE_WPM = 165
"""The default pace: words per voiced minute (see :class:`VoiceSettings`)."""
MIN_RATE_WPM = 60
MAX_RATE_WPM = 400


@dataclass(frozen=True)
class VoiceSettings:
    """How the voice sounds: which voice, how fast, how loud."""

    voice: str | None = None
    """A voice: a bundled Piper name, a Piper ``.onnx`` path or a pyttsx3 voice id; None for the default."""
    rate: int = DEFAULT_RATE_WPM
    """Pace in words per voiced minute: a line's words over its spoken length (its own pauses
    included, the silence between lines left out). Every engine maps it onto its own control so
    that the same number sounds about as fast on each."""
    volume: float = 1.0
    """Engine output volume, 0 to 1 (the session is leveled afterwards)."""


@dataclass(frozen=True)
class VoiceInfo:
    """One installed voice."""

    id: str
    """What ``--voice`` takes to choose it."""
    name: str
    """A readable name."""
    languages: tuple[str, ...]
    gender: str | None
