"""Fast MP3 encoding of a session: silence is never encoded, and parts encode in parallel.

A guided session is about half silence (holds, breath phases). Encoding those seconds costs as
much as encoding speech, so the encoder is fed the session with each long gap cut short, and
ready-made silent MP3 frames are put back where the gaps were. The bit reservoir is turned off
so every frame stands alone and frames can be inserted between any two. The shortened stream
is also split at some of those gaps into parts that separate ffmpeg processes encode at once.

The joins are exact to the sample. libmp3lame starts every stream with 1105 samples of delay
and ends it with padding, which the Info/LAME tag of the first frame tells decoders to drop.
Every cut lies where ``position + 1105`` is a multiple of 576 (a frame boundary of the decoded
stream), each later part starts 1105 samples into its silence (its own delay fills them) and each
earlier part stops 576 samples before its end (its padding fills them). The tag of the first part
is then rewritten for the whole file. Each part's frame count is checked against this; if an
encoder behaves otherwise, the session is encoded the plain way instead.
"""

from __future__ import annotations

import array
import contextlib
import functools
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from voiceguide.errors import AudioError
from voiceguide.fileio import make_temporary
from voiceguide.signals import stops_held
from voiceguide.sound.crc16 import crc16_of_run
from voiceguide.sound.ffmpeg import ffmpeg_path
from voiceguide.sound.frames import frame_size, read_frames, read_tag, split_frames, stands_alone, write_tag
from voiceguide.voice.cores import usable_cores
from voiceguide.voice.speech import SAMPLE_RATE

FRAME = 576
"""Samples per MPEG-2 layer III frame (22,050 Hz)."""
DELAY = 1105
"""libmp3lame's encoder delay: 576 samples plus the decoder's 529."""
MARGIN = 4 * FRAME
"""Silence kept on each side of a cut, so the frames around it hear only silence."""
MIN_CUT_FRAMES = 4
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


@dataclass(frozen=True)
class Cut:
    """A run of silence left out of the encoded stream and put back as silent frames."""

    at: int
    """Where it goes, in samples of the shortened stream (a decoded frame boundary)."""
    source: int
    """Where the run starts in the session."""
    frames: int


def plan_cuts(sounds: Iterable[tuple[int, int]], total: int) -> list[Cut]:
    """Cuts for every gap between sounds long enough to be worth one.

    ``sounds`` are (start, end) sample spans of everything audible, in order.
    """
    cuts: list[Cut] = []
    removed = 0
    cursor = 0
    for start, end in [*sounds, (total, total)]:
        gap_start, gap_end = cursor, start
        cursor = max(cursor, end)
        first = gap_start + MARGIN if gap_start > 0 else MARGIN
        # the first sample position p >= first whose place in the shortened stream is a frame boundary
        p = first + (-(first - removed + DELAY)) % FRAME
        frames = (gap_end - MARGIN - p) // FRAME
        if frames >= MIN_CUT_FRAMES:
            cuts.append(Cut(p - removed, p, frames))
            removed += frames * FRAME
    return cuts


def kept_ranges(cuts: list[Cut], total: int) -> list[tuple[int, int]]:
    """The spans of the session the shortened stream is made of."""
    ranges, cursor = [], 0
    for cut in cuts:
        ranges.append((cursor, cut.source))
        cursor = cut.source + cut.frames * FRAME
    ranges.append((cursor, total))
    return ranges


def shortened_span(ranges: list[tuple[int, int]], begin: int, end: int) -> Iterator[tuple[int, int]]:
    """Session spans that make up ``[begin, end)`` of the shortened stream."""
    offset = 0
    for a, b in ranges:
        length = b - a
        lo, hi = max(begin, offset), min(end, offset + length)
        if lo < hi:
            yield a + lo - offset, a + hi - offset
        offset += length


# --------------------------------------------------------------------------- encoding


def encode_stream(
    chunks: Iterator[bytes],
    path: Path,
    bitrate_kbps: int,
    reservoir: bool = True,
    abandon: threading.Event | None = None,
) -> None:
    """Stream PCM chunks through ffmpeg's libmp3lame into ``path`` (mono, CBR, with an Info tag).

    An ffmpeg that stops taking input, or does not finish once the input ends, for
    :func:`stall_timeout` seconds is killed; one that reports success but wrote no MP3 is an error.
    Once ``abandon`` is set (another part failed, or the run was interrupted) ffmpeg is killed at
    once, even while a write to it is blocked, and :class:`_Stopped` is raised. However this ends,
    no ffmpeg is left running.
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
        watch = _Watchdog(proc, stall_s, abandon)
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
        if watch.abandoned:
            raise _Stopped
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
    """Kills a process that keeps the caller waiting (in :meth:`waiting`) longer than ``limit_s``,
    or at once when ``abandon`` is set."""

    ABANDON_POLL_S = 0.05

    def __init__(self, proc: subprocess.Popen[bytes], limit_s: float, abandon: threading.Event | None = None) -> None:
        self.proc = proc
        self.limit_s = limit_s
        self.abandon = abandon
        self.since: float | None = None
        self.stalled = False
        self.abandoned = False
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
        poll = min(1.0, self.limit_s / 4)
        if self.abandon is not None:
            poll = min(poll, self.ABANDON_POLL_S)
        while not self._done.wait(poll):
            if self.abandon is not None and self.abandon.is_set():
                self.abandoned = True
                self.proc.kill()
                return
            since = self.since
            if since is not None and time.monotonic() - since > self.limit_s:
                self.stalled = True
                self.proc.kill()
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


@functools.lru_cache(maxsize=8)
def silent_frame(bitrate_kbps: int) -> bytes:
    """One MP3 frame of digital silence that borrows nothing from the frames before it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "silence.mp3"
        encode_stream(iter([bytes(2 * FRAME * 16)]), path, bitrate_kbps, reservoir=False)
        frames = _frames_of(path)
    for frame in frames[4:-4]:
        if stands_alone(frame):
            return frame
    raise AudioError("ffmpeg did not produce a usable silent MP3 frame")


def _frames_of(path: Path) -> list[bytes]:
    """The frames ffmpeg wrote to ``path``, or an :class:`AudioError` saying it wrote something else."""
    try:
        return split_frames(path.read_bytes())
    except ValueError as e:
        raise AudioError(f"ffmpeg reported success but wrote damaged MP3 audio ({e})") from e


class EncodingMismatch(Exception):
    """The encoder did not produce the frame counts the sample-exact joins rely on."""


@dataclass(frozen=True)
class Part:
    begin: int
    end: int
    first: bool
    last: bool

    @property
    def input_span(self) -> tuple[int, int]:
        """Samples of the shortened stream this part's encoder is given."""
        return (self.begin if self.first else self.begin + DELAY, self.end if self.last else self.end - FRAME)


def plan_parts(cuts: list[Cut], length: int, jobs: int) -> list[Part]:
    """Split the shortened stream at cuts into about ``jobs`` parts of similar length."""
    bounds = [0]
    if jobs > 1 and cuts:
        for k in range(1, jobs):
            goal = length * k // jobs
            best = min(cuts, key=lambda c: abs(c.at - goal))
            if bounds[-1] < best.at and abs(best.at - goal) < length // (2 * jobs):
                bounds.append(best.at)
    bounds.append(length)
    return [Part(a, b, i == 0, i == len(bounds) - 2) for i, (a, b) in enumerate(itertools.pairwise(bounds))]


def encode_fast(
    span_chunks: Callable[[int, int], Iterator[bytes]],
    sounds: list[tuple[int, int]],
    total: int,
    path: Path,
    bitrate_kbps: int,
    jobs: int = 0,
    on_samples: Callable[[int], None] | None = None,
) -> None:
    """Encode the session into ``path``: gaps as silent frames, parts in parallel.

    ``span_chunks(a, b)`` yields the session's PCM from sample a to b. Falls back to one plain
    encoder pass if the encoder does not behave as the joins need.
    """
    cuts = plan_cuts(sounds, total)
    try:
        if not cuts:
            raise EncodingMismatch("nothing to cut")
        _encode_parts(span_chunks, cuts, total, path, bitrate_kbps, jobs or usable_cores(), on_samples)
    except EncodingMismatch:
        encode_stream(_counting(span_chunks(0, total), on_samples), path, bitrate_kbps, reservoir=True)


def _counting(chunks: Iterator[bytes], on_samples: Callable[[int], None] | None) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk
        if on_samples:
            on_samples(len(chunk) // 2)


def _encode_parts(
    span_chunks: Callable[[int, int], Iterator[bytes]],
    cuts: list[Cut],
    total: int,
    path: Path,
    bitrate_kbps: int,
    jobs: int,
    on_samples: Callable[[int], None] | None,
) -> None:
    ranges = kept_ranges(cuts, total)
    length = sum(b - a for a, b in ranges)
    parts = plan_parts(cuts, length, jobs)
    lock = threading.Lock()

    def counted(n: int) -> None:
        if on_samples:
            with lock:
                on_samples(n)

    def chunks(part: Part) -> Iterator[bytes]:
        a, b = part.input_span
        for lo, hi in shortened_span(ranges, a, b):
            for chunk in span_chunks(lo, hi):
                yield chunk
                counted(len(chunk) // 2)

    silence = silent_frame(bitrate_kbps)
    stop = threading.Event()  # set when any part fails or the run is interrupted: every part stops

    def stoppable(part: Part) -> Iterator[bytes]:
        for chunk in chunks(part):
            if stop.is_set():
                raise _Stopped
            yield chunk

    tmp: Path | None = None
    threads: list[threading.Thread] = []
    failures: list[BaseException] = []
    try:
        with stops_held():  # the folder and every thread writing into it are known to the clean-up
            tmp = make_temporary(path, directory=True)
            outputs = [tmp / f"part{i}.mp3" for i in range(len(parts))]

            def run(i: int) -> None:
                try:
                    encode_stream(stoppable(parts[i]), outputs[i], bitrate_kbps, reservoir=False, abandon=stop)
                except BaseException as e:  # reported on the main thread
                    failures.append(e)
                    stop.set()

            for i in range(1, len(parts)):
                thread = threading.Thread(target=run, args=(i,), daemon=True)
                thread.start()
                threads.append(thread)
        try:
            encode_stream(stoppable(parts[0]), outputs[0], bitrate_kbps, reservoir=False, abandon=stop)
            for t in threads:
                t.join()
        except _Stopped:
            if failures:
                raise failures[0] from None
            raise
        if failures:
            raise failures[0]
        _join(parts, outputs, cuts, silence, path)
    finally:
        with stops_held():  # a second Ctrl-C cannot cut the clean-up short
            stop.set()
            for t in threads:
                t.join()
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    # the silence put back, and what each join leaves to the encoders' delay and padding, count
    # as encoded too: progress ends at the session's length
    counted(total - sum(b - a for a, b in (part.input_span for part in parts)))


class _Stopped(Exception):
    """A part's encoding stopped because another part failed."""


def _join(parts: list[Part], outputs: list[Path], cuts: list[Cut], silence: bytes, path: Path) -> None:
    """Write the parts' frames with the silent runs between them, part by part, then the tag.

    Each part is read a block at a time and written in batches, so memory stays the same
    whatever the session's length (only the table of frame positions grows, 8 bytes a frame).
    """
    pending = iter(cuts)
    cut = next(pending, None)
    starts = array.array("Q")
    crc = padding = 0
    with open(path, "wb") as out:
        info: bytes | None = None
        position = 0
        batch: list[tuple[bytes, int]] = []

        def flush() -> None:
            nonlocal crc, position
            for frame, times in batch:
                for _ in range(times):
                    starts.append(position)
                    position += len(frame)
                out.write(frame * times)
            crc = crc16_of_run(batch, crc)
            batch.clear()

        for part, output in zip(parts, outputs):
            frames = read_frames(output)
            first = next(frames, None)
            tag = read_tag(first) if first is not None else None
            if first is None or tag is None:
                raise EncodingMismatch("no Info tag")
            a, b = part.input_span
            if not part.last and tag.frames * FRAME != (b - a) + DELAY + FRAME:
                raise EncodingMismatch("unexpected frame count")
            if info is None:
                info = first
                out.write(info)  # a placeholder until the totals are known
                position = len(info)
            # decoded frame j of a part starts at shortened-stream sample origin + j * 576
            origin = -DELAY if part.first else part.begin
            inserts: list[tuple[int, int]] = []  # (before frame j, silent frames)
            while cut is not None and cut.at <= part.end:
                j = (cut.at - origin) // FRAME
                if (cut.at - origin) % FRAME or not 0 <= j <= tag.frames:
                    raise EncodingMismatch("cut off a frame boundary")
                inserts.append((j, cut.frames))
                cut = next(pending, None)
            inserts.reverse()
            count = 0
            for frame in frames:
                while inserts and inserts[-1][0] == count:
                    if not stands_alone(frame):
                        raise EncodingMismatch("frame borrows from the reservoir")
                    batch.append((silence, inserts.pop()[1]))
                batch.append((frame, 1))
                count += 1
                if len(batch) >= 4096:
                    flush()
            while inserts and inserts[-1][0] == count:
                batch.append((silence, inserts.pop()[1]))
            if count != tag.frames or inserts:
                raise EncodingMismatch("unexpected frame count")
            flush()
            padding = tag.padding
        assert info is not None
        audio_size = out.tell() - len(info)
        out.seek(0)
        out.write(write_tag(info, starts, audio_size, padding, crc))
