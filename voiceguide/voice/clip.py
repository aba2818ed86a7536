"""A spoken line as sound: decoded, trimmed of its own silence and leveled, ready to be cached or played.

Kept apart from the cache and the worker processes in :mod:`voiceguide.voice.speech`, so every
stage that only needs the sample rate or a clip's shape can import it without them.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np

from voiceguide.voice.level import level_speech

SAMPLE_RATE = 22050
"""Every clip and every session is mono 16-bit PCM at this rate (eSpeak NG's own)."""
TRIM_THRESHOLD = 10 ** (-45 / 20)
"""Samples quieter than -45 dBFS at a clip's ends are trimmed away."""
SILENT_PEAK = 200
"""A clip whose loudest sample is below this (of 32767) counts as silent: a failed synthesis."""

@dataclass(frozen=True)
class Clip:
    """A spoken line, trimmed of its own silence and leveled (see :mod:`voiceguide.voice.level`)."""

    pcm: np.ndarray
    """Mono int16 samples at :data:`SAMPLE_RATE`."""
    energy: np.ndarray
    """K-weighted energy per :data:`voiceguide.voice.level.ENERGY_BIN` samples, for loudness."""
    peak: float
    """True peak, as a fraction of full scale."""

    @property
    def seconds(self) -> float:
        return len(self.pcm) / SAMPLE_RATE

    @classmethod
    def from_raw(cls, raw: np.ndarray) -> Clip:
        pcm, energy, peak = level_speech(raw)
        # the cache keeps the peak as a 32-bit float: a clip is the same whether it came through the cache or not
        return cls(pcm, energy, float(np.float32(peak)))


# --------------------------------------------------------------------------- decoding and trimming


def decode_audio(data: bytes) -> np.ndarray:
    """Audio file bytes -> mono int16 at 22,050 Hz, by content: WAV here, AIFF (macOS) through pydub.

    Anything else, or nothing at all, is an empty clip, which the caller treats as a failed synthesis.
    """
    if data[:4] == b"RIFF":
        try:
            with wave.open(io.BytesIO(data)) as w:
                channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
                frames = w.readframes(w.getnframes())
        except (wave.Error, EOFError):
            return np.zeros(0, dtype=np.int16)
        if width == 2:
            pcm = np.frombuffer(frames, dtype="<i2")
            if channels > 1:
                pcm = pcm.reshape(-1, channels).mean(axis=1).astype(np.int16)
            return _resample(pcm, rate)
    if data[:4] in (b"RIFF", b"FORM"):
        from voiceguide.sound.ffmpeg import configure_pydub

        configure_pydub()  # first: it imports pydub without the warning about a missing system ffmpeg
        from pydub import AudioSegment
        from pydub.exceptions import CouldntDecodeError

        fmt, codec = ("wav", None) if data[:4] == b"RIFF" else ("aiff", "pcm_s16be")
        try:
            segment = AudioSegment.from_file(io.BytesIO(data), format=fmt, codec=codec)
        except CouldntDecodeError:  # ffmpeg could not read it: no audio, like any other unreadable data
            return np.zeros(0, dtype=np.int16)
        segment = segment.set_channels(1).set_sample_width(2).set_frame_rate(SAMPLE_RATE)
        return np.frombuffer(segment.raw_data, dtype="<i2").copy()  # type: ignore[no-any-return]
    return np.zeros(0, dtype=np.int16)


def _resample(pcm: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE or len(pcm) == 0:
        return pcm.astype(np.int16, copy=False)
    n = round(len(pcm) * SAMPLE_RATE / rate)
    x = np.linspace(0, len(pcm) - 1, n)
    return np.interp(x, np.arange(len(pcm)), pcm.astype(np.float64)).astype(np.int16)


def trim(pcm: np.ndarray) -> np.ndarray:
    """Cut leading and trailing silence, so a cue's start is where the voice is heard."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > TRIM_THRESHOLD * 32768)
    if len(loud) == 0:
        return pcm[:0]
    return pcm[loud[0] : loud[-1] + 1]


def is_silent(pcm: np.ndarray) -> bool:
    return len(pcm) == 0 or int(np.abs(pcm.astype(np.int32)).max()) < SILENT_PEAK


def clip_from_audio(data: bytes) -> Clip | None:
    """Engine output -> a trimmed, leveled clip; None where it holds no voice (a failed synthesis).

    Runs on the speech layer's leveling threads (numpy lets go of the GIL), beside the workers.
    """
    raw = trim(decode_audio(data))
    return None if is_silent(raw) else Clip.from_raw(raw)
