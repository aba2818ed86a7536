"""The sound backends by name: light enough for the command line to offer them without loading a player."""

from __future__ import annotations

BACKENDS = ("auto", "sounddevice", "paplay", "aplay", "afplay", "winsound")
"""``auto`` (the first that plays here, :func:`~voiceguide.live.backends.platform_backends`) and each backend."""
