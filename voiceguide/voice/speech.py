"""Spoken lines -> trimmed PCM clips, through a content-addressed cache and worker processes.

Every engine runs in a worker process of its own, a fresh interpreter (:mod:`voiceguide.voice.launch`),
so no engine ever crosses a fork.
A worker that hangs or returns an empty or silent clip is killed and the line retried in a fresh
worker, up to :data:`ATTEMPTS` tries in all; then the failure is reported as a :class:`SpeechEngineError`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import re
import socket
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voiceguide.errors import NotACacheError, SpeechEngineError
from voiceguide.fileio import make_temporary, read_regular, remove_stale_temporaries
from voiceguide.signals import children_start_deaf
from voiceguide.voice.clip import SAMPLE_RATE as SAMPLE_RATE
from voiceguide.voice.clip import Clip as Clip
from voiceguide.voice.clip import clip_from_audio as clip_from_audio
from voiceguide.voice.clip import decode_audio as decode_audio
from voiceguide.voice.clip import is_silent as is_silent
from voiceguide.voice.clip import trim as trim
from voiceguide.voice.cores import default_jobs
from voiceguide.voice.engines import EngineFactory, voices_of, worker_main
from voiceguide.voice.launch import start_worker
from voiceguide.voice.settings import VoiceInfo, VoiceSettings

CLIP_FORMAT_VERSION = 7
"""Bumped whenever trimming, decoding, leveling or the entry's layout changes, so old entries are not reused."""
ATTEMPTS = 3
"""Tries per line, each in a fresh worker, before speech is reported as failed."""
LEVELING_AHEAD = 3
"""Lines per leveling thread that may be spoken or wait to be leveled at once (see ``_Leveling``)."""
LOOKAHEAD_LINES = 16
"""How far down the queue a worker's next line is looked for (see ``SynthesisPool._next_for``)."""
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
        """Tag a new cache folder (empty, or holding only what this cache writes, such as the
        encoder measurement a render may store first) as this cache's own, the mark ``clear`` looks for."""
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


# --------------------------------------------------------------------------- workers


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: multiprocessing.connection.Connection
    lanes: int = 1
    """How many lines it synthesizes at once."""
    jobs: dict[int, tuple[str, float]] = field(default_factory=dict)
    """Index -> (line, when it was handed over) of the lines it is working on."""


@dataclass
class SynthesisPool:
    """Worker processes, each with its own engine, that turn lines into audio file bytes."""

    factory: EngineFactory
    settings: VoiceSettings
    jobs: int = 0
    timeout_s: float = 20.0
    """How long one line may take (plus 50 ms per character) before its worker is replaced."""
    start_timeout_s: float = 90.0
    """How long a worker may take to start its engine (a Piper voice loads in about a second, far
    longer on a machine busy with other work)."""
    _workers: list[_Worker] = field(default_factory=list)

    def _spawn(self, count: int = 1, lanes: int = 1) -> list[_Worker]:
        """Start ``count`` workers at once (their start-ups overlap), then wait until each is ready."""
        started = []
        with children_start_deaf():  # a Ctrl-C during their start-up reaches them once they can take it
            for _ in range(count):
                process, parent = start_worker(worker_main, (self.factory, self.settings, lanes))
                started.append(_Worker(process, parent, lanes))
        problem = None
        for worker in started:
            if not worker.conn.poll(self.start_timeout_s):
                message = ("error", f"the speech engine did not start within {self.start_timeout_s:g} s")
            else:
                try:
                    message = worker.conn.recv()
                except EOFError:
                    message = ("error", f"the speech engine process exited with status {worker.process.exitcode}")
            if message[0] == "error":
                problem = problem or message[1]
        if problem is not None:
            for worker in started:
                worker.process.kill()
                worker.process.join(1)
                worker.conn.close()
            raise SpeechEngineError(problem)
        return started

    def _kill(self, worker: _Worker) -> None:
        worker.process.kill()
        worker.process.join(2)
        worker.conn.close()
        self._workers.remove(worker)

    def close(self) -> None:
        for w in self._workers:  # all are told first, so they end side by side
            with contextlib.suppress(OSError, BrokenPipeError):
                w.conn.send(None)
        for w in list(self._workers):
            w.process.join(1)
            if w.process.is_alive():
                w.process.kill()
            w.conn.close()
        self._workers.clear()

    def run(self, texts: list[str]) -> Iterator[tuple[str, Clip]]:
        """Synthesize every line, yielding ``(text, clip)`` as each finishes, in any order.

        An engine that may synthesize on several threads at once gets one worker with a lane per
        job, holding the voice once; any other engine a worker per job.
        """
        if not texts:
            return
        shared = bool(getattr(self.factory, "thread_safe", False))
        want = self.jobs or default_jobs(getattr(self.factory, "lane_memory_mb", 0.0), shared)
        want = max(1, min(want, (len(texts) + 3) // 4))
        lanes = want if shared else 1
        if sum(w.lanes for w in self._workers) < want:
            self._workers += self._spawn(-(-(want - sum(w.lanes for w in self._workers)) // lanes), lanes)
        queue = list(enumerate(texts))[::-1]
        attempts: dict[int, int] = {}
        pending = len(texts)
        with _Leveling(want) as leveling:
            while pending:
                for w in self._workers:
                    while len(w.jobs) < w.lanes and queue and leveling.has_room(self._workers):
                        chosen = self._next_for(w, queue)
                        if chosen is None:
                            break
                        index, text = queue.pop(chosen)
                        w.jobs[index] = (text, time.monotonic())
                        w.conn.send((index, text))
                busy = [w for w in self._workers if w.jobs]
                waited: list[Any] = [w.conn for w in busy] + leveling.bell()
                ready = multiprocessing.connection.wait(waited, timeout=0.5)
                for worker, index, text, clip in leveling.finished():
                    if clip is not None:
                        pending -= 1
                        yield text, clip
                    else:
                        self._retry(worker, {index: text}, "the engine produced an empty or silent clip", queue,
                                    attempts)  # fmt: skip
                now = time.monotonic()
                for w in busy:
                    if w not in self._workers:  # replaced above
                        continue
                    failure: str | None = None
                    if w.conn in ready:
                        try:
                            message = w.conn.recv()
                        except EOFError:
                            message = ("failed", None, "the speech worker exited")
                        if message[0] == "audio" and message[1] not in w.jobs:
                            continue
                        if message[0] == "audio":
                            text, _ = w.jobs.pop(message[1])
                            leveling.submit(w, message[1], text, message[2])
                            continue
                        failure = message[2]
                        failed = [message[1]] if message[1] in w.jobs else list(w.jobs)
                    else:
                        # a line may wait for the other lines its worker is making: each lane extends the limit
                        failed = [i for i, (text, started) in w.jobs.items()
                                  if now - started > (self.timeout_s + 0.05 * len(text)) * w.lanes]  # fmt: skip
                        if not failed:
                            continue
                        failure = f"the engine did not finish within {self.timeout_s:g} s"
                    self._retry(w, {i: w.jobs[i][0] for i in failed}, failure, queue, attempts)

    def _next_for(self, worker: _Worker, queue: list[tuple[int, str]]) -> int | None:
        """Where in ``queue`` the next line for ``worker`` is (the queue is taken from its end), or
        None to wait for one of its lanes to finish first.

        An engine that says what each line costs its worker (``run_cost``) and what the lines in
        flight may cost together (``run_budget``: Piper's long sentences take turns, so two never
        double the memory peak) gets, among the next few lines, the first that fits beside those
        in flight: a long line then runs beside short ones rather than waiting for another long one.
        """
        cost = getattr(self.factory, "run_cost", None)
        budget = getattr(self.factory, "run_budget", None)
        if not worker.jobs or cost is None or budget is None:
            return len(queue) - 1
        spent = sum(cost(text) for text, _ in worker.jobs.values())
        for i in range(len(queue) - 1, max(-1, len(queue) - 1 - LOOKAHEAD_LINES), -1):
            if spent + cost(queue[i][1]) <= budget:
                return i
        return None

    def _retry(
        self, worker: _Worker, failed: dict[int, str], failure: str, queue: list[tuple[int, str]],
        attempts: dict[int, int],
    ) -> None:
        """Count a failed try of each line in ``failed`` and queue it again, unless it has had all
        its tries; replace ``worker``, which is never used again after a failure (its engine may be
        wedged), queueing the other lines it was making."""
        for index, text in failed.items():
            attempts[index] = attempts.get(index, 0) + 1
            if attempts[index] >= ATTEMPTS:
                self.close()
                raise SpeechEngineError(f"speech failed {ATTEMPTS} times for {text[:60]!r}: {failure}")
        if worker in self._workers:
            others = [(i, text) for i, (text, _) in worker.jobs.items() if i not in failed]
            self._kill(worker)
            self._workers += self._spawn(1, worker.lanes)
            queue.extend(others)
        queue.extend(failed.items())


class _Leveling:
    """The workers' raw audio made into clips on threads of this process.

    Leveling here rather than in the workers keeps numpy out of a worker whose engine does not
    need it (eSpeak NG's is then 25 MB, and so is every line it forks), and lets leveling run
    whenever a core is free, such as while a Piper worker loads its voice or runs a long sentence
    alone. Each finished clip rings a bell the pool waits on beside the workers' connections. No
    more lines are handed to workers while :data:`LEVELING_AHEAD` per thread are being spoken or
    wait here, so the raw audio held stays bounded however many lines a session has.
    """

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._pool = concurrent.futures.ThreadPoolExecutor(self.threads)
        self._running: dict[concurrent.futures.Future[Clip | None], tuple[_Worker, int, str]] = {}
        self._bell = socket.socketpair()
        for end in self._bell:
            end.setblocking(False)

    def __enter__(self) -> _Leveling:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for end in self._bell:
            end.close()

    def has_room(self, workers: list[_Worker]) -> bool:
        """Whether another line may be handed out (the lines ``workers`` are making count as waiting)."""
        return len(self._running) + sum(len(w.jobs) for w in workers) < LEVELING_AHEAD * self.threads

    def bell(self) -> list[socket.socket]:
        """What to wait on for the next finished clip (nothing while none is being made)."""
        return [self._bell[0]] if self._running else []

    def submit(self, worker: _Worker, index: int, text: str, audio: bytes) -> None:
        future = self._pool.submit(clip_from_audio, audio)
        self._running[future] = (worker, index, text)
        future.add_done_callback(self._ring)

    def _ring(self, _: object) -> None:
        with contextlib.suppress(OSError):  # a full bell has rung enough
            self._bell[1].send(b"!")

    def finished(self) -> list[tuple[_Worker, int, str, Clip | None]]:
        """The clips made since last asked, each with the worker, index and line it came from."""
        with contextlib.suppress(OSError):
            while self._bell[0].recv(4096):
                pass
        done = [f for f in self._running if f.done()]
        return [(*self._running.pop(f), f.result()) for f in done]


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
