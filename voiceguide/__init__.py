"""voiceguide: voice-guided back-stretching sessions from a catalog of stretches."""

from __future__ import annotations

__version__ = "0.1.0"
