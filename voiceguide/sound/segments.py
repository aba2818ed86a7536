"""Fast MP3 encoding of a session: silence is never encoded, each run of sound is encoded once
and kept, and the pieces are joined frame by frame.

A guided session is about half silence (holds, breath phases). Each run of sound, with a margin
of silence on either side, becomes a *segment* whose edges fall on the file's frame grid; ready-made
silent MP3 frames fill the runs between segments. Every segment is encoded as a stream of its own,
so its frames depend on its own samples and nothing else: they are kept in the clip cache under a
digest of those samples, and rendering the session again joins the kept frames without encoding
anything. The segments not kept yet are encoded by several ffmpeg processes at once, each cutting
its input into separate encoders with the ``asegment`` filter.

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
import hashlib
import itertools
import queue
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from voiceguide.fileio import make_temporary
from voiceguide.signals import stops_held
from voiceguide.sound.crc16 import crc16_combine, crc16_of_run
from voiceguide.sound.ffmpeg import ffmpeg_identity
from voiceguide.sound.frames import frame_size, read_tag, stands_alone, write_tag
from voiceguide.sound.mp3 import (
    DELAY,
    ENCODER_DELAY,
    FRAME,
    EncodingMismatch,
    Stopped,
    check_written,
    encode_stream,
    frames_of,
    mp3_output,
    pcm_input,
    run_encoder,
    silent_frames,
)
from voiceguide.voice.cores import usable_cores
from voiceguide.voice.speech import SAMPLE_RATE

MARGIN = 4 * FRAME
"""Silence kept on each side of a run of sound, so the frames at a segment's edges hear only silence."""
SEGMENTS_PER_ENCODER = 64
"""At most this many segments go through one ffmpeg process (each is an encoder of its own in it)."""
SEGMENT_FORMAT = 1
"""Bumped whenever what a kept segment's frames depend on changes, so old ones are not reused."""

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
        encode_stream(progress.counting(_padded(span_chunks, 0, total, total)), path, bitrate_kbps)
    progress.finish()


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
    h.update(f"{SEGMENT_FORMAT}:{ffmpeg_identity()}:{bitrate_kbps}:{frames}:".encode())
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
    def pcm(segment: Segment) -> Iterator[bytes]:
        return _padded(span_chunks, *segment.input_span, total)

    keys = [segment_key(pcm(s), s.frames, bitrate_kbps) for s in segments]
    kept = {k for k in set(keys) if store is not None and store.get_frames(k) is not None}
    firsts: dict[str, Segment] = {}  # each segment not kept, once however often it plays
    for segment, key in zip(segments, keys):
        if key not in kept:
            firsts.setdefault(key, segment)
    info, silence = silent_frames(bitrate_kbps)
    made: dict[str, tuple[int, Path]] = {}  # encoded now and not kept by the store: CRC and ffmpeg's file
    tmp: Path | None = None
    try:
        if firsts:
            with stops_held():  # the folder is known to the clean-up before anything is written in it
                tmp = make_temporary(path, directory=True)

            def keep(key: str, crc: int, frames: bytes, output: Path) -> None:
                if store is None or not store.put_frames(key, crc, frames):
                    made[key] = (crc, output)

            _encode_missing(list(firsts.values()), list(firsts), pcm, tmp, bitrate_kbps, jobs, progress, keep)

        def joined(segment: Segment, key: str) -> tuple[int, bytes]:
            if key in made:
                crc, output = made[key]
                data = output.read_bytes()
                return crc, data[frame_size(data[:4]) :]  # the frames after ffmpeg's Info frame
            found = store.get_frames(key) if store is not None else None
            if found is None:
                raise EncodingMismatch("a kept segment went missing")
            if key not in firsts:  # encoded now, it was counted as it was fed
                progress.add(segment.end - segment.begin)
            return found

        _join(segments, keys, joined, total, info, silence, path, progress)
    finally:
        if tmp is not None:
            with stops_held():  # a second Ctrl-C cannot cut the clean-up short
                shutil.rmtree(tmp, ignore_errors=True)


def _encode_missing(
    segments: list[Segment],
    keys: list[str],
    pcm: Callable[[Segment], Iterator[bytes]],
    folder: Path,
    bitrate_kbps: int,
    jobs: int,
    progress: _Progress,
    keep: Callable[[str, int, bytes, Path], None],
) -> None:
    """Encode each segment as a stream of its own, in batches spread over up to ``jobs`` ffmpeg
    processes at once, and hand each one's key, CRC-16, frames and file to ``keep`` as its batch ends."""
    count = jobs * -(-len(segments) // (jobs * SEGMENTS_PER_ENCODER))  # a whole number of rounds of jobs
    batches = [b for b in (list(range(len(segments)))[i::count] for i in range(count)) if b]
    work: queue.SimpleQueue[int] = queue.SimpleQueue()
    for n in range(len(batches)):
        work.put(n)
    stop = threading.Event()  # set when any encoder fails or the run is interrupted: every one stops
    failures: list[BaseException] = []
    lock = threading.Lock()

    def chunks(batch: list[int]) -> Iterator[bytes]:
        for i in batch:
            for chunk in progress.counting(pcm(segments[i])):
                if stop.is_set():
                    raise Stopped
                yield chunk

    def encode(n: int) -> None:
        batch = batches[n]
        outputs = [folder / f"batch{n}-{j}.mp3" for j in range(len(batch))]
        lengths = [segments[i].input_span[1] - segments[i].input_span[0] for i in batch]
        run_encoder(_batch_command(lengths, outputs, bitrate_kbps), chunks(batch), stop)
        for i, output in zip(batch, outputs):
            crc, frames = _checked(output, segments[i])
            with lock:
                keep(keys[i], crc, frames, output)

    def run() -> None:
        while not stop.is_set():
            try:
                n = work.get_nowait()
            except queue.Empty:
                return
            try:
                encode(n)
            except BaseException as e:  # reported on the main thread
                failures.append(e)
                stop.set()
                return

    threads: list[threading.Thread] = []
    try:
        with stops_held():  # every thread writing into the folder is known to the clean-up
            for _ in range(min(jobs, len(batches)) - 1):
                thread = threading.Thread(target=run, daemon=True)
                thread.start()
                threads.append(thread)
        run()
        for t in threads:
            t.join()
    finally:
        with stops_held():
            stop.set()
            for t in threads:
                t.join()
    if failures:
        real = [e for e in failures if not isinstance(e, Stopped)]
        raise (real or failures)[0]


def _checked(output: Path, segment: Segment) -> tuple[int, bytes]:
    """The CRC-16 and audio frames of one encoded segment, once they are seen to fit its place."""
    check_written(output)
    frames = frames_of(output)
    tag = read_tag(frames[0])
    if tag is None or tag.frames != segment.frames or len(frames) - 1 != segment.frames:
        raise EncodingMismatch("unexpected frame count")
    if not stands_alone(frames[1]):
        raise EncodingMismatch("a segment's first frame borrows from before it")
    return crc16_of_run([(f, 1) for f in frames[1:]]), b"".join(frames[1:])


def _batch_command(lengths: list[int], outputs: list[Path], bitrate_kbps: int) -> list[str]:
    """One ffmpeg that cuts its input at ``lengths`` and encodes each piece as a file of its own."""
    cmd = pcm_input()
    if len(lengths) == 1:
        return [*cmd, "-map", "0:a", *mp3_output(outputs[0], bitrate_kbps)]
    points = "|".join(map(str, itertools.accumulate(lengths[:-1])))
    labels = [f"[s{j}]" for j in range(len(lengths))]
    cmd += ["-filter_complex", f"[0:a]asegment=samples={points}{''.join(labels)}"]
    for label, output in zip(labels, outputs):
        cmd += ["-map", label, *mp3_output(output, bitrate_kbps)]
    return cmd


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
            count, at = 0, 0
            while at < len(data):
                size = frame_size(data[at : at + 4])
                if size == 0:
                    raise EncodingMismatch("a segment's frames are damaged")
                starts.append(position + at)
                at += size
                count += 1
            if count != segment.frames or at != len(data) or not stands_alone(data[:8]):
                raise EncodingMismatch("a segment's frames do not fit its place")
            out.write(data)
            position += len(data)
            crc = crc16_combine(crc, seg_crc, len(data))
            cursor = segment.end
        quiet(end)
        padding = end + DELAY - ENCODER_DELAY - total
        if not 0 <= padding < 4096:
            raise EncodingMismatch("the end padding does not fit the tag")
        audio_size = position - len(info)
        out.seek(0)
        out.write(write_tag(info, starts, audio_size, padding, crc))
