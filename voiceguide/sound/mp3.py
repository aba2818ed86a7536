"""MPEG audio layer III encoding through ffmpeg: a PCM stream to an MP3, watched for stalls.

What every MP3 the project writes goes through: ffmpeg's libmp3lame fed PCM on its standard
input, killed if it wedges or when the run is stopped, and its output checked. Also the
ready-made silent frame and Info frame that :mod:`voiceguide.sound.segments` joins files with.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from voiceguide.errors import AudioError
from voiceguide.sound.ffmpeg import ffmpeg_path
from voiceguide.sound.frames import frame_size, read_tag, split_frames, stands_alone
from voiceguide.voice.speech import SAMPLE_RATE

FRAME = 576
"""Samples per MPEG-2 layer III frame (22,050 Hz)."""
DELAY = 1105
"""libmp3lame's encoder delay: 576 samples plus the decoder's 529."""
ENCODER_DELAY = 576
"""The part of :data:`DELAY` the tag names; decoders add their own 529."""
WRITE_BYTES = 1 << 18
"""PCM is handed to ffmpeg in blocks of about this size (6 s of audio): a session's many short
pieces (each cue, each second of silence) would otherwise each cost the encoder a wake-up."""
STALL_S = 30.0
"""An encoder that takes no input and does not finish for this long is stopped as wedged."""


def stall_timeout() -> float:
    """:data:`STALL_S`, or ``VOICEGUIDE_FFMPEG_STALL_S`` when set to a positive number."""
    try:
        value = float(os.environ.get("VOICEGUIDE_FFMPEG_STALL_S", STALL_S))
    except ValueError:
        return STALL_S
    return value if 0 < value < float("inf") else STALL_S


# --------------------------------------------------------------------------- encoding


def encode_stream(chunks: Iterator[bytes], path: Path, bitrate_kbps: int, reservoir: bool = True) -> None:
    """Stream PCM chunks through ffmpeg's libmp3lame into ``path`` (mono, CBR, with an Info tag).

    An ffmpeg that stops taking input, or does not finish once the input ends, for
    :func:`stall_timeout` seconds is killed; one that reports success but wrote no MP3 is an error.
    However this ends, no ffmpeg is left running.
    """
    cmd = [
        ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0",
        "-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k", "-reservoir", "1" if reservoir else "0",
        "-id3v2_version", "0", "-write_id3v1", "0", "-write_xing", "1", "-f", "mp3", str(path),
    ]  # fmt: skip
    stall_s = stall_timeout()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
        assert proc.stdin is not None
        watch = _Watchdog(proc, stall_s)
        try:
            try:
                for block in _blocks(chunks):
                    with watch.waiting():
                        proc.stdin.write(block)
                with watch.waiting():
                    proc.stdin.close()
            except BrokenPipeError:
                pass
            with watch.waiting():
                code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            watch.stop()
        if watch.stalled:
            raise AudioError(f"ffmpeg made no progress for {stall_s:g} s and was stopped (is it wedged?)")
        if code != 0:
            errors.seek(0)
            detail = errors.read().decode(errors="replace").strip().splitlines()
            reason = detail[-1] if detail else f"exit {code}" if code > 0 else f"ended by {_signal_name(-code)}"
            raise AudioError(f"ffmpeg failed to encode the MP3 ({reason})")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise AudioError(f"ffmpeg reported success but its output cannot be read ({e.strerror or e})") from e
    if frame_size(head) == 0:
        raise AudioError("ffmpeg reported success but did not write MP3 audio")


def _blocks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The chunks joined into blocks of at least :data:`WRITE_BYTES` (the last may be shorter)."""
    block = bytearray()
    for chunk in chunks:
        block += chunk
        if len(block) >= WRITE_BYTES:
            yield bytes(block)
            block.clear()
    if block:
        yield bytes(block)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class _Watchdog:
    """Kills a process that keeps the caller waiting (in :meth:`waiting`) longer than ``limit_s``."""

    def __init__(self, proc: subprocess.Popen[bytes], limit_s: float) -> None:
        self.proc = proc
        self.limit_s = limit_s
        self.since: float | None = None
        self.stalled = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        self.since = time.monotonic()
        try:
            yield
        finally:
            self.since = None

    def _watch(self) -> None:
        while not self._done.wait(min(1.0, self.limit_s / 4)):
            since = self.since
            if since is not None and time.monotonic() - since > self.limit_s:
                self.stalled = True
                self.proc.kill()
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


@functools.lru_cache(maxsize=8)
def silent_frames(bitrate_kbps: int) -> tuple[bytes, bytes]:
    """An Info frame to rewrite for a whole file, and one MP3 frame of digital silence that borrows
    nothing from the frames before it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "silence.mp3"
        encode_stream(iter([bytes(2 * FRAME * 16)]), path, bitrate_kbps, reservoir=False)
        frames = _frames_of(path)
    if read_tag(frames[0]) is None:
        raise AudioError("ffmpeg did not write the Info tag an MP3 needs for its length")
    for frame in frames[4:-4]:
        if stands_alone(frame):
            return frames[0], frame
    raise AudioError("ffmpeg did not produce a usable silent MP3 frame")


def silent_frame(bitrate_kbps: int) -> bytes:
    """One MP3 frame of digital silence that borrows nothing from the frames before it."""
    return silent_frames(bitrate_kbps)[1]


def _frames_of(path: Path) -> list[bytes]:
    """The frames ffmpeg wrote to ``path``, or an :class:`AudioError` saying it wrote something else."""
    try:
        return split_frames(path.read_bytes())
    except ValueError as e:
        raise AudioError(f"ffmpeg reported success but wrote damaged MP3 audio ({e})") from e


class EncodingMismatch(Exception):
    """The encoder did not produce the frames the sample-exact joins rely on."""

