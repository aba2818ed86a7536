"""Timeline + clips -> one PCM stream -> MP3 with tags, chapters and podcast loudness.

:class:`SessionAudio` is the one streaming core: it takes each distinct clip once (leveled as it
was made), measures the whole session's loudness from the clips' K-weighted energy (no
pass over the audio), and yields any span of the session as PCM chunks in time order, with the
music bed mixed under it. The MP3 encoder consumes those spans; live playback takes the same
leveled sounds cue by cue.
"""

from __future__ import annotations

import bisect
import collections
import datetime
import functools
import hashlib
import json
import math
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voiceguide.errors import AudioError, BadOptionError
from voiceguide.fileio import make_temporary, not_a_regular_file, read_regular
from voiceguide.session.timeline import Cue, Timeline
from voiceguide.sound import dsp
from voiceguide.sound.ffmpeg import ffmpeg_identity, ffmpeg_path
from voiceguide.sound.mp3 import encode_stream, stall_timeout
from voiceguide.sound.segments import FrameStore, encode_fast, encode_plain
from voiceguide.voice import level
from voiceguide.voice.speech import SAMPLE_RATE, Clip

LIMIT_CEILING_DBTP = -2.0
"""Where the limiter holds true peaks: under the -1 dBTP promise, leaving room for the MP3 encoder's overshoot."""
TONE_PEAK_DBFS = -18.0
"""Tones sit well under the voice (before the session's loudness gain)."""
CHUNK_SAMPLES = SAMPLE_RATE
HELD_SAMPLES = 120 * SAMPLE_RATE
"""At most this much of the session's sounds (about 5 MB) is kept made at once; older ones are made again."""
_TONES = {
    "transition": (523.25, 784.0, 1046.5),
    "hold-start": (659.25, 1318.5),
    "hold-end": (440.0, 880.0),
}


@dataclass(frozen=True)
class AudioOptions:
    """How the session's audio is made."""

    bitrate_kbps: int = 64
    loudness_lufs: float = -16.0
    chimes: bool = True
    """Soft tones at transitions and at the start and end of holds; off leaves silence."""
    music: Path | None = None
    """A music bed looped under the whole session, ducked under speech."""

    def __post_init__(self) -> None:
        if not math.isfinite(self.loudness_lufs):  # NaN would pass any range check and make silence
            raise BadOptionError(f"--loudness: {self.loudness_lufs} is not a finite number")


MUSIC_BELOW_SPEECH_LU = 14.0
"""The bed's loudness under the speech target: quiet enough to sit below the meter's gate."""
MUSIC_PEAK_DBTP = -9.0
DUCK_DB = 15.0
DUCK_RAMP_S = 0.3
MUSIC_FADE_IN_S = 3.0
MUSIC_FADE_OUT_S = 5.0
MUSIC_MAX_S = 600.0
"""At most this much of a music file is used (and looped), so memory stays bounded."""


class MusicBed:
    """A music file decoded once (its first ten minutes at most), leveled, and looped on demand."""

    def __init__(self, path: Path, target_lufs: float) -> None:
        problem = not_a_regular_file(path)
        if problem:
            raise AudioError(f"{path}: cannot read the music file ({problem})")
        try:
            out = subprocess.run(
                [ffmpeg_path(), "-v", "error", "-nostdin", "-i", str(path), "-t", str(MUSIC_MAX_S),
                 "-f", "s16le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"],
                capture_output=True, check=False, timeout=300,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as e:
            raise AudioError(f"{path}: cannot read the music file ({e})") from e
        samples = np.frombuffer(out.stdout, dtype="<i2").astype(np.float32) / 32768.0
        if out.returncode != 0 or len(samples) < SAMPLE_RATE:
            detail = out.stderr.decode(errors="replace").strip().splitlines()
            reason = detail[-1] if detail else "less than a second of audio"
            raise AudioError(f"{path}: not usable as music ({reason})")
        current = dsp.loudness(samples, SAMPLE_RATE)
        gain = 10 ** ((target_lufs - current) / 20) if math.isfinite(current) else 1.0
        peak = dsp.true_peak(samples) * gain
        ceiling = 10 ** (MUSIC_PEAK_DBTP / 20)
        if peak > ceiling:
            gain *= ceiling / peak
        self.samples = (samples * gain).astype(np.float32)

    def take(self, start: int, count: int) -> np.ndarray:
        """``count`` samples from session position ``start``, looping the music."""
        n = len(self.samples)
        index = (np.arange(start, start + count) % n).astype(np.intp)
        return np.asarray(self.samples[index])


def parse_bitrate(value: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*k?\s*", value.lower())
    rates = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
    if not match or int(match[1]) not in rates:
        raise BadOptionError(f"--bitrate: '{value}' is not an MP3 bitrate (one of {', '.join(map(str, rates))} k)")
    return int(match[1])


ENCODER_GAIN_FILE = "encoder-gain-2.json"
"""Where the measured encoder gains are kept in the cache folder (with a digest of their values)."""
MAX_ENCODER_GAIN_DB = 6.0
"""An encoder changes a tone's level by far less than this; a stored value beyond it is damaged."""


def encoder_gain_db(bitrate_kbps: int, cache_dir: Path | None = None) -> float:
    """:func:`measure_encoder_gain_db`, remembered in ``cache_dir`` per ffmpeg build and bitrate.

    The stored values carry a digest and are range-checked when read; anything damaged is
    measured again.
    """
    if cache_dir is None:
        return measure_encoder_gain_db(bitrate_kbps)
    stamp = f"{ffmpeg_identity()}:{bitrate_kbps}"
    store = cache_dir / ENCODER_GAIN_FILE
    known = _read_gains(store)
    if stamp not in known:
        known[stamp] = measure_encoder_gain_db(bitrate_kbps)
        _write_gains(store, known)
    return known[stamp]


def _gains_digest(gains: dict[str, float]) -> str:
    return hashlib.sha256(json.dumps(gains, sort_keys=True).encode()).hexdigest()


def _read_gains(store: Path) -> dict[str, float]:
    try:
        data = json.loads(read_regular(store, 1 << 20).decode("utf-8"))
        gains = data["gains"]
        if data["sha256"] != _gains_digest(gains):
            return {}
        return {k: float(v) for k, v in gains.items()
                if isinstance(v, float) and math.isfinite(v) and abs(v) <= MAX_ENCODER_GAIN_DB}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _write_gains(store: Path, gains: dict[str, float]) -> None:
    """Store the gains whole or not at all: a full disk leaves no temporary behind."""
    tmp: Path | None = None
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = make_temporary(store)
        tmp.write_text(json.dumps({"gains": gains, "sha256": _gains_digest(gains)}), encoding="utf-8")
        os.replace(tmp, store)
    except OSError:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


@functools.lru_cache(maxsize=8)
def measure_encoder_gain_db(bitrate_kbps: int) -> float:
    """How much louder or quieter the MP3 encoder leaves a signal (libmp3lame takes ~0.45 dB off).

    Measured once per process on a test tone, so the loudness target holds for whatever ffmpeg
    is in use rather than for one build's constant. The spoken runs of a session are encoded by
    lameenc's LAME (:mod:`voiceguide.sound.segments`), the same LAME 3.100 at the same quality:
    its gain on this tone is within 0.001 dB of ffmpeg's.
    """
    n = np.arange(SAMPLE_RATE)
    tone_pcm = (0.5 * np.sin(2 * np.pi * 1000 / SAMPLE_RATE * n) * 32767).astype("<i2")
    with tempfile.TemporaryDirectory() as tmp:
        mp3 = Path(tmp) / "probe.mp3"
        encode_stream(iter([tone_pcm.tobytes()]), mp3, bitrate_kbps, reservoir=False)
        try:
            decoded = subprocess.run(
                [ffmpeg_path(), "-v", "error", "-i", str(mp3), "-f", "s16le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"],
                capture_output=True, check=False, timeout=stall_timeout(),
            ).stdout  # fmt: skip
        except subprocess.TimeoutExpired as e:
            raise AudioError(f"ffmpeg did not decode a one-second test tone within {e.timeout:g} s") from e
    out = np.frombuffer(decoded, dtype="<i2").astype(np.float64)
    if len(out) < SAMPLE_RATE // 2:
        return 0.0
    inner = slice(SAMPLE_RATE // 8, -SAMPLE_RATE // 8)
    rms_in = np.sqrt(np.mean(tone_pcm.astype(np.float64)[inner] ** 2))
    rms_out = np.sqrt(np.mean(out[inner] ** 2))
    return float(20 * np.log10(rms_out / rms_in))


class SessionAudio:
    """The sound of one timeline at the loudness target, streamed as PCM chunks.

    Clips arrive leveled (each at the reference loudness, limited, with its energy per bin), so
    the session's loudness is measured by laying those energies where the clips play, and a
    single gain moves the whole to the target; only a clip whose peak that gain would push past
    the ceiling is limited again.
    """

    def __init__(
        self, timeline: Timeline, clip_for: Callable[[str], Clip], options: AudioOptions, encoder_gain: float = 0.0
    ) -> None:
        self.timeline = timeline
        self.options = options
        self.total_samples = round(timeline.duration_s * SAMPLE_RATE)
        self._clip_for = clip_for
        self._tones: dict[str, Clip] = {}
        energies: dict[str, np.ndarray] = {}
        peaks: dict[str, float] = {}
        self.lengths: dict[str, int] = {}
        """Samples of each sound, by key."""
        for cue in timeline.cues:
            key = self.key_of(cue)
            if key is not None and key not in energies:
                clip = clip_for(key) if cue.kind == "speech" else _tone_clip(cue.role, cue.duration_s)
                if cue.kind != "speech":
                    self._tones[key] = clip
                energies[key], peaks[key], self.lengths[key] = clip.energy, clip.peak, len(clip.pcm)
        self._placed: tuple[list[int], list[tuple[int, str]]] | None = None
        self._longest = max(self.lengths.values(), default=0)
        self.measured_lufs = self._measure(energies)
        target = options.loudness_lufs - encoder_gain
        self.gain = 10 ** ((target - self.measured_lufs) / 20) if math.isfinite(self.measured_lufs) else 1.0
        self._limited = {key for key, peak in peaks.items() if peak * self.gain > 10 ** (LIMIT_CEILING_DBTP / 20)}
        self._made: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()
        self._made_samples = 0
        self._kept: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.gain_db = 20 * math.log10(self.gain)
        self.music = MusicBed(options.music, options.loudness_lufs - MUSIC_BELOW_SPEECH_LU) if options.music else None
        self._ducks = self._duck_spans() if self.music else []

    def sound(self, key: str) -> np.ndarray:
        """The samples of one sound at the session's gain: made from its clip when first played and
        kept while recently used (at most :data:`HELD_SAMPLES` in all), so the session never holds
        every distinct line at once."""
        with self._lock:
            made = self._made.get(key)
            if made is not None:
                self._made.move_to_end(key)
                return made
            clip = self._tones.get(key) or self._clip_for(key)
            if key in self._limited:
                ceiling = 10 ** (LIMIT_CEILING_DBTP / 20)
                made = level.finish(clip.pcm.astype(np.float64) / 32768.0, ceiling, self.gain)[0]
            else:
                scaled = np.round(clip.pcm.astype(np.float32) * np.float32(self.gain))
                made = np.clip(scaled, -32768, 32767).astype("<i2")
            self._made[key] = made
            self._made_samples += len(made)
            while self._made_samples > HELD_SAMPLES and len(self._made) > 1:
                _, dropped = self._made.popitem(last=False)
                self._made_samples -= len(dropped)
            return made

    def key_of(self, cue: Cue) -> str | None:
        """Which sound a cue plays: its line's text, a tone's key, or None for silence."""
        if cue.kind == "speech" and cue.text is not None:
            return cue.text
        if cue.kind == "tone" and self.options.chimes:
            return f"\0tone:{cue.role}"
        return None

    def sound_for(self, cue: Cue) -> np.ndarray | None:
        """The int16 samples a cue plays (a spoken line or a tone), or None for silence."""
        key = self.key_of(cue)
        if key is None:
            return None
        if key not in self._kept:
            self._kept[key] = self.sound(key)  # live playback: a sound once played stays ready
        return self._kept[key]

    def placed(self) -> Iterator[tuple[int, str]]:
        """(start sample, sound key) of every cue that makes sound, in order."""
        for cue in self.timeline.cues:
            key = self.key_of(cue)
            if key is not None:
                yield round(cue.start_s * SAMPLE_RATE), key

    def _placed_index(self) -> tuple[list[int], list[tuple[int, str]]]:
        """:meth:`placed` as a list, with its start samples for bisecting (made once)."""
        if self._placed is None:
            placed = list(self.placed())
            self._placed = ([start for start, _ in placed], placed)
        return self._placed

    def _measure(self, energies: dict[str, np.ndarray]) -> float:
        """Integrated loudness of the session from each clip's energy bins where it plays.

        The bins are summed straight into 100 ms hops (the loudness blocks' step), so what this
        holds is one number per 100 ms of session, whatever the length.
        """
        hop = level.ENERGY_BIN * level.HOP_BINS
        longest = max((len(e) for e in energies.values()), default=0)
        hops = np.zeros(self.total_samples // hop + longest // level.HOP_BINS + 3)
        for start, key in self.placed():
            first, sums = level.hop_sums(energies[key], round(start / level.ENERGY_BIN))
            hops[first : first + len(sums)] += sums
        return level.loudness_of_hops(hops)

    def _duck_spans(self) -> list[tuple[int, int]]:
        """Where the music is held down: every spoken line, with gaps shorter than two ramps merged."""
        ramp = round(DUCK_RAMP_S * SAMPLE_RATE)
        spans: list[tuple[int, int]] = []
        for cue in self.timeline.speech():
            start, end = round(cue.start_s * SAMPLE_RATE), round(cue.end_s * SAMPLE_RATE)
            if spans and start - spans[-1][1] < 2 * ramp:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
        return spans

    def music_gain(self, start: int, count: int) -> np.ndarray:
        """The bed's gain for these samples: faded in and out, ducked with smooth ramps under speech."""
        t = np.arange(start, start + count, dtype=np.float64)
        ramp = DUCK_RAMP_S * SAMPLE_RATE
        duck = np.zeros(count)
        for a, b in self._ducks:
            if b + ramp < start or a - ramp > start + count:
                continue
            rise = np.clip((t - (a - ramp)) / ramp, 0.0, 1.0)
            fall = np.clip(((b + ramp) - t) / ramp, 0.0, 1.0)
            np.maximum(duck, np.minimum(rise, fall), out=duck)
        fade = np.clip(np.minimum(t / (MUSIC_FADE_IN_S * SAMPLE_RATE),
                                  (self.total_samples - t) / (MUSIC_FADE_OUT_S * SAMPLE_RATE)), 0.0, 1.0)  # fmt: skip
        return np.asarray(10 ** (-DUCK_DB * duck / 20) * fade)

    def span_chunks(self, begin: int, end: int) -> Iterator[bytes]:
        """The samples from ``begin`` to ``end`` as PCM chunks (for encoding a part of the session)."""
        if self.music is not None:
            yield from self._mixed_chunks(begin, end)
            return
        silence = bytes(2 * CHUNK_SAMPLES)
        cursor = begin

        def quiet(n: int) -> Iterator[bytes]:
            while n > 0:
                step = min(n, CHUNK_SAMPLES)
                yield silence[: 2 * step]
                n -= step

        starts, placed = self._placed_index()
        first = bisect.bisect_left(starts, begin - self._longest)
        for i in range(first, len(placed)):
            start, key = placed[i]
            if start + self.lengths[key] <= cursor:
                continue
            if start >= end:
                break
            pcm = self.sound(key)
            if start > cursor:
                yield from quiet(start - cursor)
                cursor = start
            piece = pcm[cursor - start : end - start]
            yield piece.tobytes()
            cursor += len(piece)
        yield from quiet(end - cursor)

    def _mixed_chunks(self, begin: int, end: int) -> Iterator[bytes]:
        """The session with the music bed under it, a second at a time."""
        assert self.music is not None
        placed = [(start, key) for start, key in self.placed()]
        first = 0
        for a in range(begin, end, CHUNK_SAMPLES):
            b = min(end, a + CHUNK_SAMPLES)
            mix = self.music.take(a, b - a) * self.music_gain(a, b - a) * 32767.0
            while first < len(placed) and placed[first][0] + self.lengths[placed[first][1]] <= a:
                first += 1
            for start, key in placed[first:]:
                if start >= b:
                    break
                pcm = self.sound(key)
                lo, hi = max(a, start), min(b, start + len(pcm))
                if lo < hi:
                    mix[lo - a : hi - a] += pcm[lo - start : hi - start]
            yield np.clip(np.round(mix), -32768, 32767).astype("<i2").tobytes()


@functools.lru_cache(maxsize=8)
def _tone_clip(role: str, seconds: float) -> Clip:
    x = dsp.tone(seconds, SAMPLE_RATE, frequencies=_TONES[role], level_db=TONE_PEAK_DBFS)
    return Clip(*level.finish(x, 1.0))


# --------------------------------------------------------------------------- MP3


def encode_session(
    session: SessionAudio,
    path: Path,
    bitrate_kbps: int,
    on_samples: Callable[[int], None] | None = None,
    jobs: int = 0,
    store: FrameStore | None = None,
) -> None:
    """Encode a session's audio to MP3 (see :mod:`voiceguide.sound.segments` for how silence is skipped
    and how encoded sounds are kept in ``store`` for the next render)."""
    if session.music is not None:  # the bed leaves no silence to skip, and is seldom the same twice
        encode_plain(session.span_chunks, session.total_samples, path, bitrate_kbps, on_samples)
        return
    spans = [(start, start + session.lengths[key]) for start, key in session.placed()]
    encode_fast(session.span_chunks, spans, session.total_samples, path, bitrate_kbps, jobs, on_samples, store)


@dataclass(frozen=True)
class Tags:
    """What the MP3's ID3 tag says."""

    title: str
    album: str
    artist: str = "voiceguide"
    genre: str = "Fitness"
    comment: str = ""
    track: int | None = None
    year: int = field(default_factory=lambda: datetime.date.today().year)


def write_tags(path: Path, tags: Tags, timeline: Timeline) -> None:
    """ID3v2.3 tags and one CHAP frame per stretch, under a top-level ordered CTOC."""
    from mutagen.id3 import CHAP, COMM, CTOC, ID3, TALB, TCON, TIT2, TPE1, TRCK, TYER, CTOCFlags

    id3 = ID3()
    id3.add(TIT2(encoding=1, text=[tags.title]))
    id3.add(TALB(encoding=1, text=[tags.album]))
    id3.add(TPE1(encoding=1, text=[tags.artist]))
    id3.add(TCON(encoding=1, text=[tags.genre]))
    id3.add(TYER(encoding=1, text=[str(tags.year)]))
    if tags.comment:
        id3.add(COMM(encoding=1, lang="eng", desc="", text=[tags.comment]))
    if tags.track is not None:
        id3.add(TRCK(encoding=1, text=[str(tags.track)]))
    ids = []
    for i, chapter in enumerate(timeline.chapters_covering()):  # welcome, each stretch where it starts, closing
        element = f"chp{i}"
        ids.append(element)
        start, end = round(chapter.start_s * 1000), round(chapter.end_s * 1000)
        id3.add(
            CHAP(
                element_id=element, start_time=start, end_time=end, sub_frames=[TIT2(encoding=1, text=[chapter.title])]
            )
        )
    if ids:
        id3.add(
            CTOC(
                element_id="toc",
                flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                child_element_ids=ids,
                sub_frames=[TIT2(encoding=1, text=["Stretches"])],
            )
        )
    id3.save(str(path), v2_version=3)
    _order_chapter_frames(path)


def _order_chapter_frames(path: Path) -> None:
    """Put CHAP frames in chapter order in the file.

    mutagen sorts frames by size when saving; readers that list chapters in file order (ffmpeg
    among them) would then show them shuffled. The tag is rewritten in place at the same size.
    """
    with open(path, "r+b") as f:
        header = f.read(10)
        if header[:3] != b"ID3" or header[3] != 3:
            return
        size = (header[6] << 21) | (header[7] << 14) | (header[8] << 7) | header[9]
        body = f.read(size)
        frames: list[bytes] = []
        pos = 0
        while pos + 10 <= len(body) and body[pos : pos + 4].strip(b"\0"):
            length = int.from_bytes(body[pos + 4 : pos + 8], "big")
            frames.append(body[pos : pos + 10 + length])
            pos += 10 + length
        padding = body[pos:]

        def chapter_number(frame: bytes) -> int:
            element = frame[10:].split(b"\0", 1)[0]
            return int(element[3:]) if element[3:].isdigit() else 0

        chapters = iter(sorted((fr for fr in frames if fr[:4] == b"CHAP"), key=chapter_number))
        ordered = [next(chapters) if fr[:4] == b"CHAP" else fr for fr in frames]
        f.seek(10)
        f.write(b"".join(ordered) + padding)
