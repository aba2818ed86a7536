"""The fast MP3 path: silent frames for gaps, each run of sound encoded once and kept, joined to the sample."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from voiceguide.sound import segments
from voiceguide.sound.crc16 import crc16, crc16_combine, crc16_of_run, crcs_of_runs, frame_crcs
from voiceguide.sound.ffmpeg import ffmpeg_path
from voiceguide.sound.frames import read_tag, split_frames
from voiceguide.sound.mp3 import DELAY, FRAME, encode_stream, silent_frame
from voiceguide.sound.segments import MARGIN, encode_fast, file_end, plan_segments

pytestmark = pytest.mark.ffmpeg
RATE = 22050


def synthetic_session(seed: int = 1) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Bursts of noisy tone separated by gaps of many lengths, as a session has."""
    rng = np.random.default_rng(seed)
    pieces, spans, cursor = [], [], 0
    for _ in range(40):
        gap = int(rng.choice([200, 3000, 9000, 30000, 90000]))
        burst = int(rng.integers(2000, 30000))
        t = np.arange(burst)
        sound = (np.sin(2 * np.pi * rng.uniform(200, 900) * t / RATE) * 8000 + rng.normal(0, 500, burst))
        pieces += [np.zeros(gap), sound]
        spans.append((cursor + gap, cursor + gap + burst))
        cursor += gap + burst
    pieces.append(np.zeros(12345))
    return np.concatenate(pieces).astype("<i2"), spans


def chunker(pcm: np.ndarray):  # type: ignore[no-untyped-def]
    def span_chunks(a: int, b: int) -> Iterator[bytes]:
        for i in range(a, b, RATE):
            yield pcm[i : min(b, i + RATE)].tobytes()

    return span_chunks


def decode(path: Path) -> np.ndarray:
    out = subprocess.run([ffmpeg_path(), "-v", "error", "-i", str(path), "-f", "s16le", "-"],
                         capture_output=True, check=True, timeout=300).stdout
    return np.frombuffer(out, dtype="<i2").astype(np.float64)


def snr_db(reference: np.ndarray, decoded: np.ndarray) -> float:
    error = decoded - reference
    return float(10 * np.log10((reference**2).sum() / (error**2).sum()))


def test_segments_fall_on_frame_boundaries_with_silence_around_every_sound() -> None:
    pcm, spans = synthetic_session()
    planned = plan_segments(spans, len(pcm))
    assert 10 < len(planned) < len(spans)  # sounds closer than two margins share a segment
    for segment in planned:
        assert (segment.begin + DELAY) % FRAME == 0 and (segment.end + DELAY) % FRAME == 0
        a, b = segment.input_span
        assert b - a + DELAY + FRAME == segment.frames * FRAME  # what one encoder makes of it, exactly
        # what its encoder's delay and padding stand in for is silence
        assert not np.any(pcm[max(0, segment.begin) : a]) and not np.any(pcm[b : segment.end])
    for before, after in itertools.pairwise(planned):
        assert before.end <= after.begin
    for start, end in spans:  # every sound lies inside a segment, a margin from its edges
        assert any(s.begin <= max(-DELAY, start - MARGIN) and end + MARGIN <= s.end for s in planned)
    assert (file_end(planned, len(pcm)) + DELAY) % FRAME == 0


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_fast_encoding_decodes_like_the_plain_encoder(tmp_path: Path, jobs: int) -> None:
    pcm, spans = synthetic_session()
    encode_fast(chunker(pcm), spans, len(pcm), tmp_path / "fast.mp3", 64, jobs)
    encode_stream(iter([pcm.tobytes()]), tmp_path / "plain.mp3", 64)
    fast, plain = decode(tmp_path / "fast.mp3"), decode(tmp_path / "plain.mp3")
    reference = pcm.astype(np.float64)
    assert len(fast) == len(pcm) == len(plain)
    assert snr_db(reference, fast) > snr_db(reference, plain) - 1.0
    assert snr_db(reference, fast) > 15
    # the long gaps decode to true silence
    for a, b in itertools.pairwise(spans):
        if b[0] - a[1] > 4 * MARGIN:
            assert np.abs(fast[a[1] + MARGIN : b[0] - MARGIN]).max() < 2


def test_the_rewritten_tag_describes_the_whole_file(tmp_path: Path) -> None:
    pcm, spans = synthetic_session(2)
    path = tmp_path / "fast.mp3"
    encode_fast(chunker(pcm), spans, len(pcm), path, 64, 2)
    frames = split_frames(path.read_bytes())
    tag = read_tag(frames[0])
    assert tag is not None
    assert tag.frames == len(frames) - 1
    assert tag.audio_crc == crc16(b"".join(frames[1:]))
    info = bytearray(frames[0])
    stored = int.from_bytes(info[13 + 154 : 13 + 156], "big")
    info[13 + 154 : 13 + 156] = b"\0\0"
    assert stored == crc16(bytes(info[:190]))
    size = int.from_bytes(info[13 + 12 : 13 + 16], "big")
    assert size == path.stat().st_size


def test_a_session_without_gaps_is_one_segment(tmp_path: Path) -> None:
    pcm = (np.sin(np.arange(RATE * 3) / 9) * 9000).astype("<i2")
    counted: list[int] = []
    encode_fast(chunker(pcm), [(0, len(pcm))], len(pcm), tmp_path / "x.mp3", 64, 2, counted.append)
    assert len(decode(tmp_path / "x.mp3")) == len(pcm)
    assert sum(counted) == len(pcm) and all(n > 0 for n in counted)  # progress: every sample, once


@pytest.mark.parametrize("jobs", [1, 3])
def test_the_gaps_really_are_silent_frames_and_progress_counts_every_sample(tmp_path: Path, jobs: int) -> None:
    """The fast path is taken (a fallback to the plain encoder would decode just as well), and
    the progress it reports adds up to the session."""
    pcm, spans = synthetic_session(3)
    planned = plan_segments(spans, len(pcm))
    counted: list[int] = []
    encode_fast(chunker(pcm), spans, len(pcm), tmp_path / "fast.mp3", 64, jobs, counted.append)
    frames = split_frames((tmp_path / "fast.mp3").read_bytes())
    silent = silent_frame(64)
    gaps = (file_end(planned, len(pcm)) + DELAY) // FRAME - sum(s.frames for s in planned)
    assert sum(f == silent for f in frames) >= gaps > 0
    assert sum(counted) == len(pcm)


def test_crc_helpers_agree_with_the_plain_computation() -> None:
    a, b, z = os.urandom(1000), os.urandom(333), os.urandom(209)
    assert crc16_combine(crc16(a), crc16(b), len(b)) == crc16(a + b)
    assert crc16_of_run([(a, 1), (z, 7), (b, 1)]) == crc16(a + z * 7 + b)
    assert frame_crcs([a, b, z, b]) == [crc16(a), crc16(b), crc16(z), crc16(b)]
    assert crcs_of_runs([[a, z], [], [b, z, a]]) == [crc16(a + z), 0, crc16(b + z + a)]


@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_as_the_parts_folder_is_made_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupt landing between creating the parts' folder and noting it still has it removed
    (it used to be left beside the output when Ctrl-C came right as encoding began)."""
    real = segments.make_temporary

    def then_interrupted(path: Path, directory: bool = False) -> Path:
        made = real(path, directory)
        signal.raise_signal(signal.SIGINT)  # delivered at once unless held back
        return made

    monkeypatch.setattr(segments, "make_temporary", then_interrupted)
    pcm, spans = synthetic_session(5)
    before = threading.active_count()
    with pytest.raises(KeyboardInterrupt):
        encode_fast(chunker(pcm), spans, len(pcm), tmp_path / "out.mp3", 64, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert threading.active_count() == before


@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_as_each_part_starts_stops_every_part_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However the parts' threads are caught by an interrupt, each is stopped and joined, and the
    folder they wrote into goes."""
    started: list[threading.Thread] = []

    class Interrupted(threading.Thread):
        def start(self) -> None:
            super().start()
            started.append(self)
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(segments.threading, "Thread", Interrupted)
    pcm, spans = synthetic_session(6)
    with pytest.raises(KeyboardInterrupt):
        encode_fast(chunker(pcm), spans, len(pcm), tmp_path / "out.mp3", 64, 3)
    assert started, "the parts were encoded in parallel"
    assert not any(t.is_alive() for t in started)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


class DictStore:
    """A frame store in memory that notes what it was asked for."""

    def __init__(self) -> None:
        self.kept: dict[str, tuple[int, bytes]] = {}
        self.asked: list[str] = []

    def get_frames(self, key: str) -> tuple[int, bytes] | None:
        self.asked.append(key)
        return self.kept.get(key)

    def put_frames(self, key: str, crc: int, frames: bytes) -> bool:
        self.kept[key] = (crc, frames)
        return True


def no_encoding(*args: object, **kwargs: object) -> None:
    raise AssertionError("a segment was encoded")


def test_kept_segments_are_joined_without_encoding_into_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pcm, spans = synthetic_session(7)
    store = DictStore()
    encode_fast(chunker(pcm), spans, len(pcm), tmp_path / "cold.mp3", 64, 2, store=store)
    planned = plan_segments(spans, len(pcm))
    assert 0 < len(store.kept) <= len(planned)
    counted: list[int] = []
    monkeypatch.setattr(segments, "encode_segment", no_encoding)
    encode_fast(chunker(pcm), spans, len(pcm), tmp_path / "warm.mp3", 64, 2, counted.append, store=store)
    assert (tmp_path / "warm.mp3").read_bytes() == (tmp_path / "cold.mp3").read_bytes()
    assert sum(counted) == len(pcm)


def test_the_bytes_do_not_depend_on_the_encoders_or_on_what_is_kept(tmp_path: Path) -> None:
    """Every segment is a stream of its own, so neither the number of encoders nor which segments
    another session already left in the store changes a byte."""
    pcm, spans = synthetic_session(8)
    store = DictStore()
    first_half = [s for s in spans if s[1] < len(pcm) // 2]
    encode_fast(chunker(pcm), first_half, len(pcm), tmp_path / "other.mp3", 64, 3, store=store)  # keeps some
    encode_fast(chunker(pcm), spans, len(pcm), tmp_path / "mixed.mp3", 64, 3, store=store)
    for jobs in (1, 3):
        encode_fast(chunker(pcm), spans, len(pcm), tmp_path / f"{jobs}.mp3", 64, jobs)
    made = {p: (tmp_path / p).read_bytes() for p in ("mixed.mp3", "1.mp3", "3.mp3")}
    assert made["mixed.mp3"] == made["1.mp3"] == made["3.mp3"]


def test_a_segment_the_store_lost_is_encoded_again(tmp_path: Path) -> None:
    pcm, spans = synthetic_session(9)
    store = DictStore()
    encode_fast(chunker(pcm), spans, len(pcm), tmp_path / "a.mp3", 64, 2, store=store)
    lost = sorted(store.kept)[0]
    del store.kept[lost]
    encode_fast(chunker(pcm), spans, len(pcm), tmp_path / "b.mp3", 64, 2, store=store)
    assert lost in store.kept
    assert (tmp_path / "b.mp3").read_bytes() == (tmp_path / "a.mp3").read_bytes()


def test_repeated_sounds_are_encoded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same samples at the same place on the frame grid make the same segment: one encoding."""
    burst = (np.sin(np.arange(8000) / 7) * 7000).astype("<i2")
    step = 34 * FRAME  # a whole number of frames, so every burst sits on the grid the same way
    pcm = np.zeros(6 * step, "<i2")
    spans = [(k * step + 10 * FRAME, k * step + 10 * FRAME + len(burst)) for k in range(5)]
    for start, end in spans:
        pcm[start:end] = burst
    encoded: list[int] = []
    real = segments.encode_segment

    def noted(chunks: Iterator[bytes], bitrate_kbps: int, stop: threading.Event | None = None) -> bytes:
        encoded.append(1)
        return real(chunks, bitrate_kbps, stop)

    monkeypatch.setattr(segments, "encode_segment", noted)
    encode_fast(chunker(pcm), spans, len(pcm), tmp_path / "r.mp3", 64, 2)
    assert len(plan_segments(spans, len(pcm))) == 5 and len(encoded) == 1
    decoded = decode(tmp_path / "r.mp3")
    assert len(decoded) == len(pcm) and snr_db(pcm.astype(np.float64), decoded) > 15


def test_a_store_that_cannot_keep_anything_changes_nothing(tmp_path: Path) -> None:
    """A full disk under the cache: every segment is joined from what ffmpeg wrote instead."""

    class Full(DictStore):
        def put_frames(self, key: str, crc: int, frames: bytes) -> bool:
            return False

    pcm, spans = synthetic_session(10)
    encode_fast(chunker(pcm), spans, len(pcm), tmp_path / "full.mp3", 64, 2, store=Full())
    encode_fast(chunker(pcm), spans, len(pcm), tmp_path / "none.mp3", 64, 2)
    assert (tmp_path / "full.mp3").read_bytes() == (tmp_path / "none.mp3").read_bytes()
    assert len(decode(tmp_path / "full.mp3")) == len(pcm)


def test_an_encoder_that_does_not_fit_the_joins_falls_back_to_one_plain_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def misfit(frames: bytes, segment: object, header: bytes) -> list[bytes]:
        raise segments.EncodingMismatch("unexpected frame count")

    monkeypatch.setattr(segments, "_checked", misfit)
    pcm, spans = synthetic_session(11)
    counted: list[int] = []
    encode_fast(chunker(pcm), spans, len(pcm), tmp_path / "f.mp3", 64, 2, counted.append, store=DictStore())
    frames = split_frames((tmp_path / "f.mp3").read_bytes())
    assert silent_frame(64) not in frames  # the plain encoder wrote it all
    decoded = decode(tmp_path / "f.mp3")
    assert len(decoded) == len(pcm) and snr_db(pcm.astype(np.float64), decoded) > 15
    assert sum(counted) == len(pcm) and not list(tmp_path.glob(".*"))
