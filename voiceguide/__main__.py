"""``python -m voiceguide``."""

from __future__ import annotations

from voiceguide.cli import run

run()
