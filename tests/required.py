"""Where the real parts are required: in CI a test that would skip for want of one fails instead.

CI installs every real part the suite uses (the Piper voice, eSpeak NG, ffmpeg, Chromium and
its driver, the PulseAudio server and every sound backend ``.ci/install-sound`` installs), so a
skip there means a part did not run and nothing was checked. Most CI services set ``CI=true``;
``.ci/run`` sets ``VOICEGUIDE_REQUIRE_REAL=1`` as well, so the same holds wherever it runs. On a
developer's machine a missing part still skips its tests, saying what is missing and how to get
it. A part that is installed but fails is a failure everywhere, never a skip: that is for the
test itself to raise, not for :func:`missing`.
"""

from __future__ import annotations

import glob
import importlib
import os
import shutil
from typing import NoReturn

import pytest

REQUIRE_VARIABLE = "VOICEGUIDE_REQUIRE_REAL"


def required(environ: dict[str, str] | os._Environ[str] | None = None) -> bool:
    """Whether every real part must be there (CI), rather than skipped where missing."""
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() in ("true", "1", "yes") or env.get(REQUIRE_VARIABLE, "0").strip() not in (
        "", "0", "false")


def missing(reason: str, *, module_level: bool = False) -> NoReturn:
    """A real part is not installed: fail where it is required, skip (saying why) where it is not."""
    if required():
        pytest.fail(f"required where CI installed the real parts, but missing: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)


ALSA_PULSE_PLUGIN = ("/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so",
                     "/usr/lib*/alsa-lib/libasound_module_pcm_pulse.so")
"""Debian's libasound2-plugins: what takes aplay and PortAudio to a PulseAudio server."""


def sound_backend_missing(backend: str) -> str | None:
    """What of ``backend`` (and the way it reaches a PulseAudio server) is not installed; None if all is.

    Only whether it is there: whether it works is for the test that plays through it.
    """
    install = "run .ci/install-sound"
    if backend in ("paplay", "aplay") and shutil.which(backend) is None:
        package = "pulseaudio-utils" if backend == "paplay" else "alsa-utils"
        return f"{backend} is not installed (Debian: {package}; {install})"
    if backend == "sounddevice":
        try:
            importlib.import_module("sounddevice")
        except ImportError:
            return "the sounddevice package is not installed (pip install -e '.[test]')"
        except OSError as e:
            return f"PortAudio is not installed for sounddevice: {e} (Debian: libportaudio2; {install})"
    if backend in ("aplay", "sounddevice") and not any(glob.glob(p) for p in ALSA_PULSE_PLUGIN):
        return f"{backend} needs ALSA's pulse plugin to reach the test server (Debian: libasound2-plugins; {install})"
    return None
