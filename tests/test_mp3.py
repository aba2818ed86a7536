"""The fast MP3 path: silent frames for gaps, parts encoded in parallel, joined to the sample."""

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

from voiceguide.sound import mp3
from voiceguide.sound.crc16 import crc16, crc16_combine, crc16_of_run, frame_crcs
from voiceguide.sound.ffmpeg import ffmpeg_path
from voiceguide.sound.mp3 import (
    DELAY,
    FRAME,
    MARGIN,
    encode_fast,
    encode_stream,
    kept_ranges,
    plan_cuts,
    read_tag,
    shortened_span,
    silent_frame,
    split_frames,
)

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


def test_cuts_fall_on_frame_boundaries_inside_gaps() -> None:
    pcm, spans = synthetic_session()
    cuts = plan_cuts(spans, len(pcm))
    assert len(cuts) > 10
    removed = 0
    for cut in cuts:
        assert (cut.at + DELAY) % FRAME == 0
        assert cut.at == cut.source - removed
        end = cut.source + cut.frames * FRAME
        # the removed run and a margin on each side are silence
        assert not np.any(pcm[cut.source - MARGIN : end + MARGIN])
        removed += cut.frames * FRAME


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


def test_a_session_without_gaps_is_encoded_plainly(tmp_path: Path) -> None:
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
    cuts = plan_cuts(spans, len(pcm))
    counted: list[int] = []
    encode_fast(chunker(pcm), spans, len(pcm), tmp_path / "fast.mp3", 64, jobs, counted.append)
    frames = split_frames((tmp_path / "fast.mp3").read_bytes())
    silent = silent_frame(64)
    assert sum(f == silent for f in frames) >= sum(c.frames for c in cuts) > 0
    assert sum(counted) == len(pcm)


def test_the_shortened_stream_maps_back_to_the_session() -> None:
    """Every span of the shortened stream is made of the session's samples outside the cuts, in order."""
    pcm, spans = synthetic_session(4)
    session = np.arange(len(pcm))
    cuts = plan_cuts(spans, len(pcm))
    ranges = kept_ranges(cuts, len(pcm))
    shortened = np.concatenate([session[a:b] for a, b in ranges])
    assert len(shortened) == len(pcm) - sum(c.frames for c in cuts) * FRAME
    for cut in cuts:  # what each cut leaves out is not in the stream, and the stream resumes after it
        assert shortened[cut.at - 1] == cut.source - 1 and shortened[cut.at] == cut.source + cut.frames * FRAME
    rng = np.random.default_rng(4)
    for begin, end in [(0, len(shortened)), (0, 1), (len(shortened) - 1, len(shortened)),
                       *(sorted(rng.integers(0, len(shortened), 2)) for _ in range(200))]:
        got = [session[a:b] for a, b in shortened_span(ranges, int(begin), int(end))]
        joined = np.concatenate(got) if got else np.zeros(0, dtype=session.dtype)
        assert np.array_equal(joined, shortened[begin:end]), (begin, end)


def test_crc_helpers_agree_with_the_plain_computation() -> None:
    a, b, z = os.urandom(1000), os.urandom(333), os.urandom(209)
    assert crc16_combine(crc16(a), crc16(b), len(b)) == crc16(a + b)
    assert crc16_of_run([(a, 1), (z, 7), (b, 1)]) == crc16(a + z * 7 + b)
    assert frame_crcs([a, b, z, b]) == [crc16(a), crc16(b), crc16(z), crc16(b)]


@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_as_the_parts_folder_is_made_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupt landing between creating the parts' folder and noting it still has it removed
    (it used to be left beside the output when Ctrl-C came right as encoding began)."""
    real = mp3.make_temporary

    def then_interrupted(path: Path, directory: bool = False) -> Path:
        made = real(path, directory)
        signal.raise_signal(signal.SIGINT)  # delivered at once unless held back
        return made

    monkeypatch.setattr(mp3, "make_temporary", then_interrupted)
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

    monkeypatch.setattr(mp3.threading, "Thread", Interrupted)
    pcm, spans = synthetic_session(6)
    with pytest.raises(KeyboardInterrupt):
        encode_fast(chunker(pcm), spans, len(pcm), tmp_path / "out.mp3", 64, 3)
    assert started, "the parts were encoded in parallel"
    assert not any(t.is_alive() for t in started)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
