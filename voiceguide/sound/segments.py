"""Fast MP3 encoding of a session: silence is never encoded, each run of sound is encoded once
and kept, and the pieces are joined frame by frame.

A guided session is about half silence (holds, breath phases). Each run of sound, with a margin
of silence on either side, becomes a *segment* whose edges fall on the file's frame grid; ready-made
silent MP3 frames fill the runs between segments. Every segment is encoded as a stream of its own,
so its frames depend on its own samples and nothing else: they are kept in the clip cache under a
digest of those samples, and rendering the session again joins the kept frames without encoding
anything. The segments not kept yet are encoded in this process by LAME (the ``lameenc`` package,
a fresh encoder per segment, on as many threads as there are jobs: it lets go of the GIL while it
encodes), which costs no process, pipe or file per segment.

The joins are exact to the sample. libmp3lame starts every stream with 1105 samples of delay and
ends it with padding, which the Info/LAME tag of the first frame tells decoders to drop. Decoded
frame k of the file covers session samples from ``k * 576 - 1105``; a segment from grid point b to
grid point e is given the samples from ``b + 1105`` (its own delay fills the silence before them)
to ``e - 576`` (its padding fills the silence after), which makes exactly ``(e - b) / 576`` frames.
The tag is then written for the whole file. If an encoder behaves otherwise, the session is
encoded the plain way instead.
"""

from __future__ import annotations

import array
import functools
import hashlib
import importlib.metadata
import queue
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from voiceguide.errors import AudioError
from voiceguide.fileio import make_temporary
from voiceguide.signals import stops_held
from voiceguide.sound.crc16 import crc16_combine, crc16_of_run, crcs_of_runs
from voiceguide.sound.frames import split_frames, stands_alone, write_tag
from voiceguide.sound.mp3 import DELAY, ENCODER_DELAY, FRAME, EncodingMismatch, encode_stream, silent_frames
from voiceguide.voice.cores import usable_cores
from voiceguide.voice.speech import SAMPLE_RATE

MARGIN = 4 * FRAME
"""Silence kept on each side of a run of sound, so the frames at a segment's edges hear only silence."""
CRC_BATCH = 16
"""Segments whose frames' checksums are computed together (numpy works best on many at once)."""
LAME_QUALITY = 3
"""LAME's own default (what ffmpeg's libmp3lame uses unless told otherwise)."""
SEGMENT_FORMAT = 1
"""Bumped whenever what a kept segment's frames depend on changes, so old ones are not reused."""


class _Stopped(Exception):
    """An encoding thread stopped because another failed or the run was interrupted."""


class FrameStore(Protocol):
    """Where encoded segments are kept between renders (the clip cache)."""

    def get_frames(self, key: str) -> tuple[int, bytes] | None:
        """The CRC-16 and frames kept under ``key``, or None (a damaged entry counts as none)."""

    def put_frames(self, key: str, crc: int, frames: bytes) -> bool:
        """Keep ``frames`` (whose CRC-16 is ``crc``) under ``key``; whether they were kept."""


def grid_floor(x: int) -> int:
    """The last frame boundary of the file at or before session sample ``x``."""
    return x - (x + DELAY) % FRAME


def grid_ceil(x: int) -> int:
    """The first frame boundary of the file at or after session sample ``x``."""
    return x + (-(x + DELAY)) % FRAME


@dataclass(frozen=True)
class Segment:
    """A run of sound with silence around it, encoded as a stream of its own."""

    begin: int
    """Session sample where its first frame starts (a frame boundary; -1105 is the file's first)."""
    end: int
    """Session sample where the frame after its last starts."""

    @property
    def frames(self) -> int:
        return (self.end - self.begin) // FRAME

    @property
    def input_span(self) -> tuple[int, int]:
        """Samples of the session its encoder is given."""
        return self.begin + DELAY, self.end - FRAME


def plan_segments(sounds: Iterable[tuple[int, int]], total: int) -> list[Segment]:
    """Segments covering every sound with :data:`MARGIN` of silence either side; sounds whose
    margins would meet share a segment.

    ``sounds`` are (start, end) sample spans of everything audible.
    """
    segments: list[Segment] = []
    for start, end in sorted(sounds):
        start, end = max(0, start), min(end, total)
        if end <= start:
            continue
        begin, finish = max(-DELAY, grid_floor(start - MARGIN)), grid_ceil(end + MARGIN)
        if segments and begin < segments[-1].end:
            segments[-1] = Segment(segments[-1].begin, max(finish, segments[-1].end))
        else:
            segments.append(Segment(begin, finish))
    return segments


def file_end(segments: list[Segment], total: int) -> int:
    """Where the file's last frame ends: past the session and past every segment."""
    return max(grid_ceil(total), segments[-1].end if segments else -DELAY)


def encode_fast(
    span_chunks: Callable[[int, int], Iterator[bytes]],
    sounds: list[tuple[int, int]],
    total: int,
    path: Path,
    bitrate_kbps: int,
    jobs: int = 0,
    on_samples: Callable[[int], None] | None = None,
    store: FrameStore | None = None,
) -> None:
    """Encode the session into ``path``: runs of silence as silent frames, each run of sound as a
    segment encoded once (and kept in ``store``), up to ``jobs`` encoders at once.

    ``span_chunks(a, b)`` yields the session's PCM from sample a to b. Falls back to one plain
    encoder pass if the encoder does not behave as the joins need.
    """
    progress = _Progress(on_samples, total)
    try:
        _encode_segments(span_chunks, plan_segments(sounds, total), total, path, bitrate_kbps,
                         jobs or usable_cores(), progress, store)  # fmt: skip
    except EncodingMismatch:
        progress.reset()
        _encode_plainly(span_chunks, total, path, bitrate_kbps, progress)
    progress.finish()


def encode_plain(
    span_chunks: Callable[[int, int], Iterator[bytes]],
    total: int,
    path: Path,
    bitrate_kbps: int,
    on_samples: Callable[[int], None] | None = None,
) -> None:
    """Encode the whole session in one ffmpeg pass: for audio with no silence to skip (a music bed)."""
    progress = _Progress(on_samples, total)
    _encode_plainly(span_chunks, total, path, bitrate_kbps, progress)
    progress.finish()


def _encode_plainly(
    span_chunks: Callable[[int, int], Iterator[bytes]], total: int, path: Path, bitrate_kbps: int, progress: _Progress
) -> None:
    encode_stream(progress.counting(_padded(span_chunks, 0, total, total)), path, bitrate_kbps)


class _Progress:
    """Samples encoded, reported from any thread: never more than the session's length in all,
    and exactly that at the end."""

    def __init__(self, on_samples: Callable[[int], None] | None, total: int) -> None:
        self.on_samples = on_samples
        self.total = total
        self.done = 0
        """Samples encoded in this attempt."""
        self.reported = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
            news = min(self.done, self.total) - self.reported
            if news > 0:
                self.reported += news
                if self.on_samples:
                    self.on_samples(news)

    def counting(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            yield chunk
            self.add(len(chunk) // 2)

    def reset(self) -> None:
        """A fallback starts over: it is reported once it passes what already was."""
        with self._lock:
            self.done = 0

    def finish(self) -> None:
        """Report what is left of the session (the silence put back counts as encoded too)."""
        self.add(self.total)


def _padded(span_chunks: Callable[[int, int], Iterator[bytes]], a: int, b: int, total: int) -> Iterator[bytes]:
    """The session's samples from a to b, with silence for any part past its end."""
    if a < total:
        yield from span_chunks(a, min(b, total))
    rest = b - max(a, total)
    while rest > 0:
        step = min(rest, SAMPLE_RATE)
        yield bytes(2 * step)
        rest -= step


def segment_key(pcm: Iterable[bytes], frames: int, bitrate_kbps: int) -> str:
    """What a segment's frames are kept under: a digest of everything they depend on."""
    h = hashlib.blake2b(digest_size=32)
    h.update(f"{SEGMENT_FORMAT}:{encoder_identity()}:{bitrate_kbps}:{frames}:".encode())
    for chunk in pcm:
        h.update(chunk)
    return h.hexdigest()


def _encode_segments(
    span_chunks: Callable[[int, int], Iterator[bytes]],
    segments: list[Segment],
    total: int,
    path: Path,
    bitrate_kbps: int,
    jobs: int,
    progress: _Progress,
    store: FrameStore | None,
) -> None:
    info, silence = silent_frames(bitrate_kbps)
    keys: list[str] = []
    kept: set[str] = set()
    encoded: set[str] = set()  # each segment not kept is encoded once however often it plays
    made: dict[str, tuple[int, Path]] = {}  # encoded now and not kept by the store: CRC and a file
    tmp: Path | None = None
    try:
        with _Encoders(jobs, bitrate_kbps, silence[:4], progress) as encoders:
            for segment in segments:  # each segment's samples are made once: digested, then encoded if new
                data = b"".join(_padded(span_chunks, *segment.input_span, total))
                key = segment_key([data], segment.frames, bitrate_kbps)
                keys.append(key)
                if key in kept or key in encoded:
                    continue
                if store is not None and store.get_frames(key) is not None:
                    kept.add(key)
                    continue
                if tmp is None:
                    with stops_held():  # the folder is known to the clean-up before anything is written in it
                        tmp = make_temporary(path, directory=True)
                    encoders.keep = _keeper(store, tmp, made, path)
                encoded.add(key)
                encoders.submit(key, segment, data)

        def joined(segment: Segment, key: str) -> tuple[int, bytes]:
            if key in made:
                crc, held = made[key]
                return crc, held.read_bytes()
            found = store.get_frames(key) if store is not None else None
            if found is None:
                raise EncodingMismatch("a kept segment went missing")
            if key not in encoded:  # encoded now, it was counted then
                progress.add(segment.end - segment.begin)
            return found

        _join(segments, keys, joined, total, info, silence, path, progress)
    finally:
        if tmp is not None:
            with stops_held():  # a second Ctrl-C cannot cut the clean-up short
                shutil.rmtree(tmp, ignore_errors=True)


def _keeper(
    store: FrameStore | None, folder: Path, made: dict[str, tuple[int, Path]], path: Path
) -> Callable[[str, int, bytes], None]:
    """Where encoded segments go: the store, or ``folder`` where the store cannot keep them (no
    cache, a full disk), noted in ``made``."""

    def keep(key: str, crc: int, frames: bytes) -> None:
        if store is not None and store.put_frames(key, crc, frames):
            return
        held = folder / f"{len(made)}.frames"
        try:
            held.write_bytes(frames)
        except OSError as e:
            raise AudioError(f"cannot write the encoded audio beside {path.name} ({e.strerror or e})") from e
        made[key] = (crc, held)

    return keep


@functools.cache
def encoder_identity() -> str:
    """Which segment encoder is in use, for what is kept between runs."""
    return f"lameenc-{importlib.metadata.version('lameenc')}-q{LAME_QUALITY}"


def encode_segment(chunks: Iterable[bytes], bitrate_kbps: int, stop: threading.Event | None = None) -> bytes:
    """MP3 frames of one stream of PCM, from a fresh LAME encoder (mono, CBR, no tag).

    Raises :class:`_Stopped` once ``stop`` is set.
    """
    import lameenc

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_in_sample_rate(SAMPLE_RATE)
    encoder.set_out_sample_rate(SAMPLE_RATE)
    encoder.set_channels(1)
    encoder.set_quality(LAME_QUALITY)
    encoder.silence()
    out = bytearray()
    for chunk in chunks:
        if stop is not None and stop.is_set():
            raise _Stopped
        out += encoder.encode(chunk)
    out += encoder.flush()
    return bytes(out)


class _Encoders:
    """Threads that encode the segments handed to them (LAME lets go of the GIL, so they run while
    the caller makes the next segment's samples), a few queued at most, so memory stays flat.

    Leaving the ``with`` block waits for every segment handed over; an error in any thread, or an
    interrupt, stops them all, and the first real error is raised.
    """

    def __init__(self, jobs: int, bitrate_kbps: int, header: bytes, progress: _Progress) -> None:
        self.bitrate_kbps = bitrate_kbps
        self.progress = progress
        self.keep: Callable[[str, int, bytes], None] = lambda key, crc, frames: None
        self.header = header
        """The file's frame header (from its silent frame): every segment's frames must match it."""
        self.jobs = max(1, jobs)
        self.work: queue.Queue[tuple[str, Segment, bytes] | None] = queue.Queue(maxsize=2 * self.jobs)
        self.stop = threading.Event()  # set when any thread fails or the run is interrupted
        self.failures: list[BaseException] = []
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def __enter__(self) -> _Encoders:
        return self

    def submit(self, key: str, segment: Segment, data: bytes) -> None:
        if not self.threads:
            with stops_held():  # every thread is known to the clean-up
                for _ in range(self.jobs):
                    thread = threading.Thread(target=self._run, daemon=True)
                    thread.start()
                    self.threads.append(thread)
        while not self.stop.is_set():
            try:
                self.work.put((key, segment, data), timeout=0.1)
                return
            except queue.Full:
                continue
        self._raise()

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            if error is None:
                self._finish()  # every segment handed over is encoded (an interrupt still ends this)
        finally:
            with stops_held():  # a second Ctrl-C cannot cut the clean-up short
                self.stop.set()
                self._finish()
        if error is None:
            self._raise()

    def _finish(self) -> None:
        """Tell each thread there is no more work, and wait for them all."""
        for _ in self.threads:
            while any(t.is_alive() for t in self.threads):
                try:
                    self.work.put(None, timeout=0.1)
                    break
                except queue.Full:
                    continue
        for t in self.threads:
            t.join()

    def _raise(self) -> None:
        if self.failures:
            real = [e for e in self.failures if not isinstance(e, _Stopped)]
            raise (real or self.failures)[0]

    def _run(self) -> None:
        done: list[tuple[str, bytes, list[bytes]]] = []  # CRCs are computed for a few segments at once
        try:
            while not self.stop.is_set():
                item = self.work.get()
                if item is None:
                    break
                key, segment, data = item
                frames = encode_segment([data], self.bitrate_kbps, self.stop)
                done.append((key, frames, _checked(frames, segment, self.header)))
                self.progress.add(len(data) // 2)
                if len(done) >= CRC_BATCH:
                    self._hand_over(done)
            if not self.stop.is_set():
                self._hand_over(done)
        except BaseException as e:  # reported on the caller's thread
            self.failures.append(e)
            self.stop.set()

    def _hand_over(self, done: list[tuple[str, bytes, list[bytes]]]) -> None:
        for (key, frames, _), crc in zip(done, crcs_of_runs([run for _, _, run in done])):
            with self.lock:
                self.keep(key, crc, frames)
        done.clear()


def _checked(frames: bytes, segment: Segment, header: bytes) -> list[bytes]:
    """One encoded segment's frames, once they are seen to fit its place in the file: the right
    number, the file's format (``header``: version, layer, bitrate, rate, mode), the first
    borrowing nothing."""
    try:
        run = split_frames(frames)
    except ValueError as e:
        raise EncodingMismatch(f"the segment encoder wrote damaged MP3 audio ({e})") from e
    if any(f[1] != header[1] or f[2] & 0xFC != header[2] & 0xFC or f[3] >> 6 != header[3] >> 6 for f in run):
        raise EncodingMismatch("the segment encoder wrote another kind of MP3")
    if len(run) != segment.frames or not stands_alone(frames[:8]):
        raise EncodingMismatch("unexpected frame count")
    return run


def _join(
    segments: list[Segment],
    keys: list[str],
    source: Callable[[Segment, str], tuple[int, bytes]],
    total: int,
    info: bytes,
    silence: bytes,
    path: Path,
    progress: _Progress,
) -> None:
    """Write the silent runs and the segments' frames in order, then the tag for the whole file.

    One segment's frames are held at a time, so memory stays the same whatever the session's
    length (only the table of frame positions grows, 8 bytes a frame).
    """
    starts = array.array("Q")
    crc = 0
    end = file_end(segments, total)
    with open(path, "wb") as out:
        out.write(info)  # a placeholder until the totals are known
        position = len(info)
        cursor = -DELAY

        def quiet(until: int) -> None:
            nonlocal crc, position, cursor
            count = (until - cursor) // FRAME
            if count > 0:
                starts.extend(range(position, position + count * len(silence), len(silence)))
                out.write(silence * count)
                position += count * len(silence)
                crc = crc16_of_run([(silence, count)], crc)
                progress.add(count * FRAME)
            cursor = until

        for segment, key in zip(segments, keys):
            quiet(segment.begin)
            seg_crc, data = source(segment, key)
            try:
                run = split_frames(data)
            except ValueError as e:
                raise EncodingMismatch("a segment's frames are damaged") from e
            if len(run) != segment.frames or not stands_alone(data[:8]):
                raise EncodingMismatch("a segment's frames do not fit its place")
            for frame in run:
                starts.append(position)
                position += len(frame)
            out.write(data)
            crc = crc16_combine(crc, seg_crc, len(data))
            cursor = segment.end
        quiet(end)
        padding = end + DELAY - ENCODER_DELAY - total
        if not 0 <= padding < 4096:
            raise EncodingMismatch("the end padding does not fit the tag")
        audio_size = position - len(info)
        out.seek(0)
        out.write(write_tag(info, starts, audio_size, padding, crc))
