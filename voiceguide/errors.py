"""Every failure a user can cause, as one named exception each.

All derive from :class:`VoiceguideError`, a :class:`click.ClickException`, so the command line
prints them as one clean line with exit status 1 and never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

import click


class VoiceguideError(click.ClickException):
    """Base of every error voiceguide reports to a user."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one file: where it is and what is wrong."""

    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


MAX_PROBLEMS_SHOWN = 30
"""At most this many problems are printed; the rest are counted."""


class CatalogError(VoiceguideError):
    """Raised when a stretch, routine or pack file is unreadable or invalid.

    It carries every problem found in the files, so a user fixes them all in one pass.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        shown = [str(p) for p in self.problems[:MAX_PROBLEMS_SHOWN]]
        more = len(self.problems) - len(shown)
        if more:  # a file of ten thousand bad keys is reported in a screenful, not a megabyte
            shown.append(f"... and {more} more problem{'s' if more != 1 else ''}")
        super().__init__("\n".join(shown))


class UnknownIdError(VoiceguideError):
    """Raised when a routine or stretch id is not in the catalog; suggests the closest ids."""


class FitError(VoiceguideError):
    """Raised when --minutes cannot be reached inside the stretches' ranges."""


class BadOptionError(VoiceguideError):
    """Raised when an option's value is unusable (a breath pace, a rate, a bitrate).

    Exits with status 2, as Click does for other usage errors.
    """

    exit_code = 2


class OutputPathError(VoiceguideError):
    """Raised when an output path cannot be written: missing or unwritable folder, or a folder."""


class SpeechEngineError(VoiceguideError):
    """Raised when no text-to-speech engine can be loaded or it fails to make a clip."""


class UnknownVoiceError(VoiceguideError):
    """Raised when --voice matches no installed voice, or more than one."""


class FfmpegMissingError(VoiceguideError):
    """Raised when neither a system ffmpeg nor the bundled imageio-ffmpeg one can be run."""


class AudioError(VoiceguideError):
    """Raised when ffmpeg fails to encode or measure a session."""


class PackBuildError(VoiceguideError):
    """Raised when an episode of a pack fails to render or a pack's output folder is unusable."""


class NoCatalogError(VoiceguideError):
    """Raised when --catalog names a folder that holds no stretches (no stretches/*.yaml)."""


class NotACacheError(VoiceguideError):
    """Raised when ``cache clear`` is pointed at a folder that is not a voiceguide clip cache."""
