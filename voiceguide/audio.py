"""Timeline + clips -> one PCM stream -> MP3 with tags, chapters and podcast loudness.

:class:`SessionAudio` is the one streaming core: it levels each distinct clip once, measures the
whole session's loudness from the clips' K-weighted energy (no second pass over the audio), and
yields the session as PCM chunks in time order. The MP3 writer, and anything else that needs the
session's sound, consumes those chunks.
"""

from __future__ import annotations

import datetime
import functools
import math
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import dsp
from .errors import AudioError, BadOptionError
from .ffmpeg import ffmpeg_path
from .speech import SAMPLE_RATE, Clip
from .timeline import Cue, Timeline

LIMIT_CEILING_DBTP = -2.5
"""Where the limiter holds true peaks: under the -1 dBTP promise, leaving room for the MP3 encoder's overshoot."""
LOW_PASS_HZ = 7500.0
TONE_PEAK_DBFS = -18.0
"""Tones sit well under the voice (before the session's loudness gain)."""
CHUNK_SAMPLES = SAMPLE_RATE
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


def parse_bitrate(value: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*k?\s*", value.lower())
    rates = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
    if not match or int(match[1]) not in rates:
        raise BadOptionError(f"--bitrate: '{value}' is not an MP3 bitrate (one of {', '.join(map(str, rates))} k)")
    return int(match[1])


def _to_float(clip: Clip) -> np.ndarray:
    return np.asarray(clip.pcm, dtype=np.float64) / 32768.0


@functools.lru_cache(maxsize=8)
def encoder_gain_db(bitrate_kbps: int) -> float:
    """How much louder or quieter the MP3 encoder leaves a signal (libmp3lame takes ~0.45 dB off).

    Measured once per process on a test tone, so the loudness target holds for whatever ffmpeg
    is in use rather than for one build's constant.
    """
    n = np.arange(SAMPLE_RATE)
    tone_pcm = (0.5 * np.sin(2 * np.pi * 1000 / SAMPLE_RATE * n) * 32767).astype("<i2")
    with tempfile.TemporaryDirectory() as tmp:
        mp3 = Path(tmp) / "probe.mp3"
        encode_mp3(iter([tone_pcm.tobytes()]), mp3, bitrate_kbps)
        decoded = subprocess.run(
            [ffmpeg_path(), "-v", "error", "-i", str(mp3), "-f", "s16le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"],
            capture_output=True,
            check=False,
        ).stdout
    out = np.frombuffer(decoded, dtype="<i2").astype(np.float64)
    if len(out) < SAMPLE_RATE // 2:
        return 0.0
    inner = slice(SAMPLE_RATE // 8, -SAMPLE_RATE // 8)
    rms_in = np.sqrt(np.mean(tone_pcm.astype(np.float64)[inner] ** 2))
    rms_out = np.sqrt(np.mean(out[inner] ** 2))
    return float(20 * np.log10(rms_out / rms_in))


class SessionAudio:
    """The sound of one timeline, leveled to a loudness target, streamed as PCM chunks."""

    def __init__(
        self, timeline: Timeline, clip_for: Callable[[str], Clip], options: AudioOptions, encoder_gain: float = 0.0
    ) -> None:
        self.timeline = timeline
        self.options = options
        reference = options.loudness_lufs - encoder_gain
        sounds: dict[str, np.ndarray] = {}
        for cue in timeline.cues:
            if cue.kind == "speech" and cue.text is not None and cue.text not in sounds:
                sounds[cue.text] = _level(_to_float(clip_for(cue.text)), reference)
            elif cue.kind == "tone" and options.chimes and _tone_key(cue.role) not in sounds:
                sounds[_tone_key(cue.role)] = dsp.tone(
                    cue.duration_s, SAMPLE_RATE, frequencies=_TONES[cue.role], level_db=TONE_PEAK_DBFS
                )
        self.total_samples = round(timeline.duration_s * SAMPLE_RATE)
        self.measured_lufs = self._measure(sounds)
        # Gain to the target, then limit; limiting takes a little loudness off, so measure the
        # limited sounds once more and correct (the second limit barely moves anything).
        ceiling = 10 ** (LIMIT_CEILING_DBTP / 20)
        limiters = {key: dsp.Limiter(x, SAMPLE_RATE) for key, x in sounds.items()}
        gain, limited = 1.0, sounds
        for _ in range(2):
            measured = self._measure(limited)
            if not math.isfinite(measured):
                break
            gain *= 10 ** ((reference - measured) / 20)
            limited = {key: lim.apply(gain, ceiling) for key, lim in limiters.items()}
        limited = {key: lim.apply(gain, ceiling, verify=True) for key, lim in limiters.items()}
        self.output_lufs = self._measure(limited)
        self.sounds = {key: np.round(x * 32767).astype("<i2") for key, x in limited.items()}

    def sound_for(self, cue: Cue) -> np.ndarray | None:
        """The leveled int16 samples a cue plays (a spoken line or a tone), or None for silence."""
        if cue.kind == "speech" and cue.text is not None:
            return self.sounds[cue.text]
        if cue.kind == "tone" and self.options.chimes:
            return self.sounds[_tone_key(cue.role)]
        return None

    def _placed(self) -> Iterator[tuple[int, str]]:
        """(start sample, sound key) of every cue that makes sound, in order."""
        for cue in self.timeline.cues:
            if cue.kind == "speech" and cue.text is not None:
                yield round(cue.start_s * SAMPLE_RATE), cue.text
            elif cue.kind == "tone" and self.options.chimes:
                yield round(cue.start_s * SAMPLE_RATE), _tone_key(cue.role)

    def _measure(self, sounds: dict[str, np.ndarray]) -> float:
        """Integrated loudness of the session, from each sound's K-weighted energy where it is placed."""
        energy_sums = {
            key: np.concatenate(([0.0], np.cumsum(dsp.k_weighted(x, SAMPLE_RATE) ** 2))) for key, x in sounds.items()
        }
        block, hop = int(dsp.BLOCK_S * SAMPLE_RATE), int(dsp.HOP_S * SAMPLE_RATE)
        total = round(self.timeline.duration_s * SAMPLE_RATE)
        n_blocks = max(1, (total - block) // hop + 1)
        energy = np.zeros(n_blocks)
        for start, key in self._placed():
            cs = energy_sums[key]
            end = start + len(cs) - 1
            first = max(0, -(-(start - block + 1) // hop))
            last = min(n_blocks - 1, (end - 1) // hop)
            if last < first:
                continue
            b = np.arange(first, last + 1) * hop
            lo = np.clip(b - start, 0, len(cs) - 1)
            hi = np.clip(b + block - start, 0, len(cs) - 1)
            energy[first : last + 1] += cs[hi] - cs[lo]
        return dsp.integrated_loudness(energy / block)

    def chunks(self) -> Iterator[bytes]:
        """The session as little-endian int16 PCM, in pieces of about a second."""
        silence = bytes(2 * CHUNK_SAMPLES)
        cursor = 0

        def quiet(n: int) -> Iterator[bytes]:
            while n > 0:
                step = min(n, CHUNK_SAMPLES)
                yield silence[: 2 * step]
                n -= step

        for start, key in self._placed():
            pcm = self.sounds[key]
            if start > cursor:
                yield from quiet(start - cursor)
                cursor = start
            skip = cursor - start  # a sample of rounding overlap at most
            if skip < len(pcm):
                piece = pcm[skip:]
                yield piece.tobytes()
                cursor += len(piece)
        yield from quiet(self.total_samples - cursor)


def _tone_key(role: str) -> str:
    return f"\0tone:{role}"


def _level(x: np.ndarray, reference_lufs: float) -> np.ndarray:
    """Even out a clip: compress its loud moments, then bring it to the reference loudness."""
    if len(x) == 0:
        return x
    # Band-limit first: the encoder drops the top octave anyway, and removing it here keeps the
    # MP3's peaks and loudness where the limiter and the meter left them.
    x = dsp.low_pass(x, LOW_PASS_HZ, SAMPLE_RATE)
    current = dsp.loudness(x, SAMPLE_RATE)
    if not math.isfinite(current):
        return x
    compressed = dsp.compress(x, SAMPLE_RATE, threshold_db=current - 4.0, ratio=3.0)
    after = dsp.loudness(compressed, SAMPLE_RATE)
    return np.asarray(compressed * 10 ** ((reference_lufs - after) / 20))


# --------------------------------------------------------------------------- MP3


def encode_mp3(
    chunks: Iterator[bytes], path: Path, bitrate_kbps: int, on_samples: Callable[[int], None] | None = None
) -> None:
    """Stream PCM chunks through ffmpeg's libmp3lame into ``path`` (mono, CBR)."""
    cmd = [
        ffmpeg_path(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "s16le",
        "-ar",
        str(SAMPLE_RATE),
        "-ac",
        "1",
        "-i",
        "pipe:0",
        "-c:a",
        "libmp3lame",
        "-b:a",
        f"{bitrate_kbps}k",
        "-id3v2_version",
        "0",
        "-write_id3v1",
        "0",
        "-f",
        "mp3",
        str(path),
    ]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
        assert proc.stdin is not None
        try:
            for chunk in chunks:
                proc.stdin.write(chunk)
                if on_samples:
                    on_samples(len(chunk) // 2)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        code = proc.wait()
        if code != 0:
            errors.seek(0)
            detail = errors.read().decode(errors="replace").strip().splitlines()
            raise AudioError(f"ffmpeg failed to encode the MP3 ({detail[-1] if detail else f'exit {code}'})")


@dataclass(frozen=True)
class Tags:
    """What the MP3's ID3 tag says."""

    title: str
    album: str
    artist: str = "voiceguide"
    genre: str = "Fitness"
    comment: str = ""
    track: int | None = None
    year: int = datetime.date.today().year


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
    for i, chapter in enumerate(timeline.chapters):
        element = f"chp{i}"
        ids.append(element)
        # the first chapter starts at 0 so the welcome is not outside every chapter; the last runs to the end
        start = 0 if i == 0 else round(chapter.start_s * 1000)
        end = round((timeline.duration_s if i == len(timeline.chapters) - 1 else chapter.end_s) * 1000)
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


def mp3_size(path: Path) -> int:
    return os.path.getsize(path)
