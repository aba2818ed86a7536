"""Which sound backend live narration uses: the first that can play here, or the one asked for."""

from __future__ import annotations

import shutil
import sys

from voiceguide.live.players import FILE_PLAYERS, SubprocessSink, WinsoundSink
from voiceguide.live.sinks import AudioSink, BackendUnavailable, NoAudioDeviceError, hint, named
from voiceguide.live.stream import STREAM_PLAYERS, PipeOutput, SoundDeviceOutput, StreamSink


def platform_backends(platform: str | None = None) -> list[str]:
    """The backends ``auto`` tries, in order, on this platform."""
    platform = platform or sys.platform
    if platform == "win32":
        return ["sounddevice", "winsound"]
    if platform == "darwin":
        return ["sounddevice", "afplay"]
    # paplay and aplay first: measured at a PulseAudio server they keep every line to the sample,
    # and paplay reports its latency; PortAudio through the ALSA pulse plugin drifts a few ms
    return ["paplay", "aplay", "sounddevice"]


def _open_backend(name: str) -> AudioSink:
    if name == "sounddevice":
        return StreamSink(SoundDeviceOutput())
    if name == "winsound":
        return WinsoundSink()
    command = STREAM_PLAYERS.get(name) or FILE_PLAYERS[name]
    if shutil.which(command[0]) is None:
        raise BackendUnavailable("not installed")
    if name in STREAM_PLAYERS:
        return StreamSink(PipeOutput(name, command))
    return SubprocessSink(name, command)


def open_sink(backend: str = "auto") -> AudioSink:
    """The first backend that can play here (or the one asked for).

    Raises :class:`NoAudioDeviceError`, naming what each backend lacked, when none can.
    """
    names = platform_backends() if backend == "auto" else [backend]
    reasons = []
    for name in names:
        try:
            return _open_backend(name)
        except BackendUnavailable as e:
            reasons.append(named(name, str(e)))
    raise NoAudioDeviceError(hint(f"no usable audio device ({'; '.join(reasons)})"))
