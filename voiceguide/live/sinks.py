"""Where live sound goes: what every sound sink offers, the silent one, and how they fail.

The sinks themselves live beside this: one long-lived stream (:mod:`~voiceguide.live.stream`:
paplay, aplay, sounddevice), players of prepared files (:mod:`~voiceguide.live.players`: afplay,
winsound), and :mod:`~voiceguide.live.backends` picks one for the platform.
"""

from __future__ import annotations

import io
import subprocess
import wave
from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from voiceguide.errors import VoiceguideError
from voiceguide.voice.speech import SAMPLE_RATE

Pcm = npt.NDArray[np.int16]


class NoAudioDeviceError(VoiceguideError):
    """Raised when live narration cannot play sound: no player or audio library is installed,
    the forced --audio-backend is unavailable, no output device exists, or the player fails
    during the session."""


class BackendUnavailable(Exception):
    """A backend that cannot be used here, and why (collected into one NoAudioDeviceError)."""


def hint(detail: str) -> str:
    return f"{detail}; use --no-audio to follow the session as text, or 'voiceguide render' for an MP3"


def named(name: str, detail: str) -> str:
    """'aplay: detail', without doubling the name players put on their own messages."""
    return detail if detail.startswith(f"{name}:") else f"{name}: {detail}"


def last_line(data: bytes) -> str:
    lines = [x.strip() for x in data.decode(errors="replace").splitlines() if x.strip()]
    return lines[-1] if lines else ""


def probe_player(
    spawn: Callable[[], subprocess.Popen[bytes]],
    timeout_s: float,
    data: bytes | None = None,
    message: Callable[[bytes], str] = last_line,
) -> None:
    """Run a player on a short test sound (``data`` on its stdin, if any), so a player that
    cannot reach a device says so before the session: :class:`BackendUnavailable` with its reason."""
    try:
        proc = spawn()
    except FileNotFoundError:
        raise BackendUnavailable("not installed") from None
    try:
        err = proc.communicate(data, timeout=timeout_s)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise BackendUnavailable(f"did not play a test sound within {timeout_s:g} s") from None
    if proc.returncode != 0:
        raise BackendUnavailable(message(err) or f"exit status {proc.returncode}")


class AudioSink(Protocol):
    """Where sounds go. ``play`` returns at once; sounds never need to overlap (cues do not)."""

    name: str

    def start(self) -> None:
        """Open the output (a stream starts running silence), just before the first cue."""
        ...

    def play(self, pcm: Pcm, at: float | None = None) -> float | None:
        """Play mono int16 samples at :data:`SAMPLE_RATE`, due at clock time ``at`` (None: now).

        Returns the clock time the first sample will be heard, where the backend can tell.
        """
        ...

    def stop(self) -> None:
        """Silence whatever is playing (pause, skip, quit)."""
        ...

    def check(self) -> None:
        """Raise :class:`NoAudioDeviceError` if playback has failed since the last check."""
        ...

    def close(self) -> None: ...


class NullSink:
    """No sound at all: --no-audio and silent previews."""

    name = "none"

    def start(self) -> None:
        pass

    def play(self, pcm: Pcm, at: float | None = None) -> float | None:
        return None

    def stop(self) -> None:
        pass

    def check(self) -> None:
        pass

    def close(self) -> None:
        pass


def wav_bytes(pcm: Pcm) -> bytes:
    """Samples as a mono 16-bit WAV file, for players that read files."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
    return buf.getvalue()
