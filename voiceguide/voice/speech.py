"""Spoken lines -> trimmed PCM clips, through a content-addressed cache and worker processes.

The engines run in worker processes (:mod:`voiceguide.voice.pool`); here are the cache and the
facade the rest of the program asks for clips and their lengths.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import re
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from voiceguide.errors import NotACacheError, SpeechEngineError
from voiceguide.fileio import make_temporary, read_regular, remove_stale_temporaries
from voiceguide.voice.clip import SAMPLE_RATE as SAMPLE_RATE
from voiceguide.voice.clip import Clip as Clip
from voiceguide.voice.clip import clip_from_audio as clip_from_audio
from voiceguide.voice.clip import decode_audio as decode_audio
from voiceguide.voice.clip import is_silent as is_silent
from voiceguide.voice.clip import trim as trim
from voiceguide.voice.engines import EngineFactory, voices_of
from voiceguide.voice.pool import SynthesisPool
from voiceguide.voice.settings import VoiceInfo, VoiceSettings

CLIP_FORMAT_VERSION = 7
"""Bumped whenever trimming, decoding, leveling or the entry's layout changes, so old entries are not reused."""
_MAGIC = b"VGC4"
_HEADER = struct.Struct("<4sIIf16s")
"""Magic, sample count, energy-bin count, true peak, and a BLAKE2b digest of all the rest."""
MAX_CLIP_SAMPLES = 600 * SAMPLE_RATE
"""No spoken line lasts ten minutes: a longer entry is damaged."""
MAX_PEAK = 4.0
CACHE_TAG = "CACHEDIR.TAG"
CACHE_TAG_TEXT = ("Signature: 8a477f597d28d172789f06886806bc55\n"
                  "# This folder is voiceguide's speech clip cache; 'voiceguide cache clear' empties it.\n")
"""The Cache Directory Tagging mark (backup tools skip such folders), and this cache's own sign."""
_SHARD = re.compile(r"^[0-9a-f]{2}$")
_CLIP = re.compile(r"^[0-9a-f]{64}\.clip$")
_FRAMES = re.compile(r"^[0-9a-f]{64}\.frames$")
_PART = re.compile(r"^\.[0-9a-f]{64}\.(clip|frames)\.\d+-[A-Za-z0-9_]+\.part$")
_FRAMES_MAGIC = b"VGF1"
_FRAMES_HEADER = struct.Struct("<4sHH16s")
"""Magic, CRC-16 of the frames, unused, and a BLAKE2b digest of all the rest."""
MAX_FRAMES_BYTES = 64 << 20
"""No run of sound in a session encodes to this much: a longer entry is damaged."""
_GAIN_FILE = re.compile(r"^(\.)?encoder-gain-\d+\.json(\.\d+-[A-Za-z0-9_]+\.part)?$")


# --------------------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    """``VOICEGUIDE_CACHE_DIR``, or the user's cache directory."""
    env = os.environ.get("VOICEGUIDE_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("voiceguide")) / "clips"


class ClipCache:
    """Clips on disk, addressed by a hash of everything that shapes their sound.

    Entries are written to a temporary file and renamed, so concurrent renders sharing the cache
    never see half a clip.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._swept: set[Path] = set()
        self._marked = False

    @staticmethod
    def key(text: str, settings: VoiceSettings, identity: str) -> str:
        blob = json.dumps(
            [text, settings.voice, settings.rate, settings.volume, identity, CLIP_FORMAT_VERSION],
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def _path(self, key: str, suffix: str = ".clip") -> Path:
        """Where the entry for ``key`` lives: a clip, or the frames of an encoded run of sound (``.frames``)."""
        return self.root / key[:2] / f"{key}{suffix}"

    def get(self, key: str) -> Clip | None:
        """The clip stored under ``key``, or None; a damaged entry is removed (to be made again)."""
        path = self._path(key)
        try:  # an entry that is not a regular file (a FIFO) is refused, never waited on
            data = read_regular(path, _HEADER.size + 2 * MAX_CLIP_SAMPLES + 4 * MAX_CLIP_SAMPLES + 1)
        except OSError:
            return None
        clip = _decode_entry(data)
        if clip is None:
            with contextlib.suppress(OSError):
                path.unlink()
        return clip

    def get_frames(self, key: str) -> tuple[int, bytes] | None:
        """The CRC-16 and MP3 frames of an encoded run of sound kept under ``key``, or None; a
        damaged entry is removed (to be encoded again)."""
        path = self._path(key, ".frames")
        try:
            data = read_regular(path, _FRAMES_HEADER.size + MAX_FRAMES_BYTES + 1)
        except OSError:
            return None
        if len(data) > _FRAMES_HEADER.size and data[:4] == _FRAMES_MAGIC:
            _, crc, _, digest = _FRAMES_HEADER.unpack_from(data)
            body = memoryview(data)[_FRAMES_HEADER.size :]
            if _digest(struct.pack("<H", crc), body) == digest:
                return crc, bytes(body)
        with contextlib.suppress(OSError):
            path.unlink()
        return None

    def put_frames(self, key: str, crc: int, frames: bytes) -> bool:
        """Keep the MP3 frames of an encoded run of sound (whose CRC-16 is ``crc``) under ``key``,
        whole or not at all; whether they were kept."""
        header = _FRAMES_HEADER.pack(_FRAMES_MAGIC, crc, 0, _digest(struct.pack("<H", crc), frames))
        return self._store(self._path(key, ".frames"), header + frames)

    def put(self, key: str, clip: Clip) -> bool:
        """Store ``clip`` under ``key``, whole or not at all (a full disk leaves nothing behind);
        whether it was stored."""
        return self._store(self._path(key), _encode_entry(clip))

    def _store(self, path: Path, data: bytes) -> bool:
        """Write an entry to a temporary and rename it into place; whether it was stored."""
        tmp: Path | None = None
        try:
            self._mark()
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.parent not in self._swept:
                self._swept.add(path.parent)
                remove_stale_temporaries(path.parent)
            tmp = make_temporary(path)
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            return False
        except BaseException:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            raise
        return True

    def _mark(self) -> None:
        """Tag a new cache folder (empty, or holding nothing but what this cache writes, such as the
        encoder measurement) as this cache's own, the mark ``clear`` looks for."""
        if self._marked:
            return
        self._marked = True
        if (self.root / CACHE_TAG).is_file():
            return
        if not self.root.exists() or (self.root.is_dir() and not self.entries()[1]):
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = make_temporary(self.root / CACHE_TAG)
            try:  # whole or not at all, like every entry
                tmp.write_text(CACHE_TAG_TEXT, encoding="utf-8")
                os.replace(tmp, self.root / CACHE_TAG)
            finally:
                tmp.unlink(missing_ok=True)

    def entries(self) -> tuple[list[Path], list[Path]]:
        """The files this cache wrote (clips, encoded sounds, temporaries, the encoder measurement) and everything
        else in its folder, judged by name and layout alone."""
        ours: list[Path] = []
        other: list[Path] = []
        for entry in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if entry.name == CACHE_TAG:
                continue
            if _GAIN_FILE.match(entry.name) and entry.is_file():
                ours.append(entry)
            elif _SHARD.match(entry.name) and entry.is_dir() and not entry.is_symlink():
                for item in sorted(entry.iterdir()):
                    named = _CLIP.match(item.name) or _FRAMES.match(item.name)
                    mine = (named is not None and item.name.startswith(entry.name)) or _PART.match(item.name)
                    (ours if mine and item.is_file() and not item.is_symlink() else other).append(item)
            else:
                other.append(entry)
        return ours, other

    def info(self) -> dict[str, Any]:
        ours, _ = self.entries()
        files = [f for f in ours if f.suffix == ".clip"]
        encoded = [f for f in ours if f.suffix == ".frames"]
        size = sum(f.stat().st_size for f in files + encoded)
        return {"path": str(self.root), "clips": len(files), "encoded": len(encoded), "bytes": size}

    def clear(self) -> int:
        """Delete every cached clip (with the encoded sounds and the encoder measurement); return how many clips went.

        Only what the cache itself wrote goes, by its own names and layout; a folder that holds
        anything else and is not tagged as this cache is refused whole.
        """
        if not self.root.exists():
            return 0
        if not self.root.is_dir():
            raise NotACacheError(f"{self.root}: is not a folder, so not a voiceguide clip cache; nothing removed")
        ours, other = self.entries()
        if other and not (self.root / CACHE_TAG).is_file():
            raise NotACacheError(
                f"{self.root}: is not a voiceguide clip cache (it holds {other[0].name} and has no {CACHE_TAG}); "
                "nothing removed")
        for f in ours:
            with contextlib.suppress(OSError):
                f.unlink()
        for d in {f.parent for f in ours} - {self.root}:
            with contextlib.suppress(OSError):
                d.rmdir()
        return sum(1 for f in ours if f.suffix == ".clip")


def _digest(fields: bytes, body: bytes | memoryview) -> bytes:
    return hashlib.blake2b(fields + bytes(body), digest_size=16).digest()


def _encode_entry(clip: Clip) -> bytes:
    """A cache entry: header (with a digest of everything else) and the clip's samples and energy."""
    body = clip.pcm.astype("<i2").tobytes() + clip.energy.astype("<f4").tobytes()
    fields = struct.pack("<IIf", len(clip.pcm), len(clip.energy), clip.peak)
    return _HEADER.pack(_MAGIC, len(clip.pcm), len(clip.energy), clip.peak, _digest(fields, body)) + body


def _decode_entry(data: bytes) -> Clip | None:
    """The clip in a cache entry, or None if it is torn, foreign, damaged or out of range."""
    if len(data) < _HEADER.size or data[:4] != _MAGIC:
        return None
    _, samples, bins, peak, digest = _HEADER.unpack_from(data)
    body = memoryview(data)[_HEADER.size :]
    if not 0 < samples <= MAX_CLIP_SAMPLES or len(body) != 2 * samples + 4 * bins:
        return None
    if _digest(struct.pack("<IIf", samples, bins, peak), body) != digest:
        return None
    pcm = np.frombuffer(data, dtype="<i2", count=samples, offset=_HEADER.size)
    # a copy: a view would keep the whole entry (the samples too) alive for as long as the energy
    # is held, which a session does for every line it speaks
    energy = np.frombuffer(data, dtype="<f4", count=bins, offset=_HEADER.size + 2 * samples).copy()
    if not (math.isfinite(peak) and 0 < peak <= MAX_PEAK) or not bool(np.all(np.isfinite(energy) & (energy >= 0))):
        return None
    return Clip(pcm, energy, peak)


# --------------------------------------------------------------------------- the facade


class Speech:
    """Clips and their lengths for one voice, from the cache or freshly synthesized.

    With a cache, only each line's length is held: a clip is read back from the cache when it is
    asked for, so memory does not grow with the number of distinct lines. A clip the cache could
    not store (or every clip, without a cache) is held in memory.
    """

    def __init__(
        self,
        factory: EngineFactory,
        settings: VoiceSettings,
        *,
        cache: ClipCache | None,
        jobs: int = 0,
        label: str | None = None,
    ) -> None:
        self.factory = factory
        self.label = label or getattr(factory, "__name__", "speech")
        """Which engine and voice speak, for summary lines."""
        self.settings = settings
        self.cache = cache
        self.jobs = jobs
        self._clips: dict[str, Clip] = {}
        self._lengths: dict[str, float] = {}
        self._identity: str | None = None
        self._pool: SynthesisPool | None = None
        self.synthesized = 0

    @property
    def identity(self) -> str:
        """The engine's identity, known without starting an engine where possible."""
        if self._identity is None:
            self._identity = engine_identity(self.factory, self.settings)
        return self._identity

    def _key(self, text: str) -> str:
        return ClipCache.key(text, self.settings, self.identity)

    def prepare(self, texts: Iterable[str], progress: Any = None) -> None:
        """Make sure every line has a clip, synthesizing the missing ones in parallel."""
        missing: list[str] = []
        for text in dict.fromkeys(texts):
            if text in self._lengths:
                continue
            cached = self.cache.get(self._key(text)) if self.cache else None
            if cached is not None:
                self._lengths[text] = cached.seconds
            else:
                missing.append(text)
        if progress is not None:
            progress(0, len(missing))
        if not missing:
            return
        if self._pool is None:
            self._pool = SynthesisPool(self.factory, self.settings, self.jobs)
        for done, (text, clip) in enumerate(self._pool.run(missing), start=1):
            self._lengths[text] = clip.seconds
            self.synthesized += 1
            if not (self.cache and self.cache.put(self._key(text), clip)):
                self._clips[text] = clip
            if progress is not None:
                progress(done, len(missing))

    def clip(self, text: str) -> Clip:
        found = self._held(text)
        if found is None:
            self._lengths.pop(text, None)  # not held, or gone from the cache since: make it again
            self.prepare([text])
            found = self._held(text)
        if found is None:
            raise SpeechEngineError(f"the clip for {text[:60]!r} could not be kept")
        return found

    def _held(self, text: str) -> Clip | None:
        if text in self._clips:
            return self._clips[text]
        if text in self._lengths and self.cache is not None:
            return self.cache.get(self._key(text))
        return None

    def release(self) -> None:
        """Let go of the clips held in memory once the caller has its own copies (a render's scaled
        sounds), so a render does not hold every line twice; a later use reads or makes it again."""
        for text in self._clips:
            self._lengths.pop(text, None)
        self._clips.clear()

    def length(self, text: str) -> float:
        """Seconds of ``text`` as spoken: the composer's speech-length function."""
        if text not in self._lengths:
            self.prepare([text])
        return self._lengths[text]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Speech:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def engine_identity(factory: EngineFactory, settings: VoiceSettings | None = None) -> str:
    """Identity of an engine for cache keys (for Piper: the voice files' hash), computed without
    starting or synthesizing anything."""
    describe = getattr(factory, "describe", None)
    if callable(describe):
        return str(describe(settings or VoiceSettings()))
    return getattr(factory, "__qualname__", repr(factory))


def list_voices(factory: EngineFactory) -> list[VoiceInfo]:
    """The installed voices, asked of an engine in a worker process."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(voices_of, (factory,))
