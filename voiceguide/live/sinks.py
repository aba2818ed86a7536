"""Live narration: walk a timed script in real time, with sound, a display and keys.

Nothing here re-derives timing: the :class:`Scheduler` starts each cue of a
:class:`~voiceguide.session.timeline.Timeline` at ``t0 + cue.start_s / speed`` (plus any time spent
paused) on a monotonic clock. Deadlines are absolute, so a late wake-up delays one cue and is
never carried into the next one.

The parts are small and replaceable, so tests drive the scheduler with a fake clock and a fake
sink:

- a :class:`Clock`: :class:`MonotonicClock` (sleeps, then busy-waits the last 2 ms) or :class:`FakeClock`;
- an :class:`AudioSink`: a system player fed raw PCM (paplay, aplay) or WAV files (afplay),
  sounddevice, winsound, or :class:`NullSink`; :func:`open_sink` picks one for the platform;
- a :class:`Display`: rich Live on a terminal (:class:`RichDisplay`), plain lines otherwise
  (:class:`PlainDisplay`); both read a :class:`Guide`, which derives stretch, side, set, hold
  countdown and breath phase from the cues themselves;
- commands (pause, next, back, quit) posted by a :class:`KeyReader` thread or a signal handler.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import enum
import gc
import hashlib
import heapq
import importlib
import io
import itertools
import json
import math
import os
import queue
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal, Protocol

import click
import numpy as np
import numpy.typing as npt
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from voiceguide.errors import VoiceguideError
from voiceguide.fileio import atomic_path, check_output_path
from voiceguide.session.compose import number_words
from voiceguide.session.timeline import Cue, Timeline
from voiceguide.voice.speech import SAMPLE_RATE

Pcm = npt.NDArray[np.int16]
SoundFor = Callable[[Cue], Pcm | None]

POLL_S = 0.05
"""Longest single wait: how soon a command or Ctrl-C is noticed while a long silence runs."""
SPIN_S = 0.002
"""The last part of every wait is a busy-wait, because a sleeping thread wakes a little late."""
EPS = 1e-6
QUIET_S = 0.015
"""The display does not start drawing this close before a cue's deadline (drawing holds the interpreter lock)."""


class NoAudioDeviceError(VoiceguideError):
    """Raised when live narration cannot play sound: no player or audio library is installed,
    the forced --audio-backend is unavailable, no output device exists, or the player fails
    during the session."""


def _hint(detail: str) -> str:
    return f"{detail}; use --no-audio to follow the session as text, or 'voiceguide render' for an MP3"


# --------------------------------------------------------------------------- clocks


class Clock(Protocol):
    """Monotonic seconds and a way to wait that a command can cut short."""

    def now(self) -> float: ...

    def wait(self, seconds: float, wake: threading.Event) -> None:
        """Wait ``seconds``, or less if ``wake`` is set."""
        ...


class MonotonicClock:
    """The real clock: an interruptible sleep, then a short busy-wait to land on the deadline."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, seconds: float, wake: threading.Event) -> None:
        end = time.monotonic() + seconds
        coarse = seconds - SPIN_S
        if coarse > 0 and wake.wait(coarse):
            return
        while time.monotonic() < end and not wake.is_set():
            pass


class FakeClock:
    """A clock that moves only when waited on, for tests.

    ``at(t, action)`` runs ``action`` (usually posting a command) once the clock reaches ``t``;
    ``oversleep`` returns extra seconds each wait overshoots by, to model a late OS.
    """

    def __init__(self, start: float = 1000.0, oversleep: Callable[[], float] | None = None,
                 limit_s: float = 1e6) -> None:
        self.t = start
        self.oversleep = oversleep
        self.limit = start + limit_s
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._order), action))

    def wait(self, seconds: float, wake: threading.Event) -> None:
        if wake.is_set():
            return
        end = self.t + max(0.0, seconds)
        if self._timers and self._timers[0][0] <= end:
            when, _, action = heapq.heappop(self._timers)
            self.t = max(self.t, when)
            action()
            return
        self.t = end + (self.oversleep() if self.oversleep else 0.0)
        if self.t > self.limit:
            raise RuntimeError("FakeClock ran past its limit: nothing would ever wake the scheduler")


# --------------------------------------------------------------------------- audio sinks


class AudioSink(Protocol):
    """Where sounds go. ``play`` returns at once; sounds never need to overlap (cues do not)."""

    name: str

    def play(self, pcm: Pcm) -> None:
        """Start playing mono int16 samples at :data:`SAMPLE_RATE` now."""
        ...

    def stop(self) -> None:
        """Silence whatever is playing (pause, skip, quit)."""
        ...

    def check(self) -> None:
        """Raise :class:`NoAudioDeviceError` if playback has failed since the last check."""
        ...

    def close(self) -> None: ...


class NullSink:
    """No sound at all: --no-audio and silent previews."""

    name = "none"

    def play(self, pcm: Pcm) -> None:
        pass

    def stop(self) -> None:
        pass

    def check(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Unavailable(Exception):
    """A backend that cannot be used here, and why (collected into one NoAudioDeviceError)."""


def wav_bytes(pcm: Pcm) -> bytes:
    """Samples as a mono 16-bit WAV file, for players that read files."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
    return buf.getvalue()


PLAYERS: dict[str, tuple[list[str], bool]] = {
    "paplay": (["paplay", "--raw", "--format=s16le", f"--rate={SAMPLE_RATE}", "--channels=1"], True),
    "aplay": (["aplay", "-q", "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", str(SAMPLE_RATE)], True),
    "afplay": (["afplay"], False),
}
"""System players: the command and whether it reads raw PCM on stdin (else a WAV file path)."""


class _Player:
    """One player process and the thread that feeds it, both started before they are needed."""

    def __init__(self, sink: SubprocessSink, proc: subprocess.Popen[bytes]) -> None:
        self.sink = sink
        self.proc = proc
        self.data = b""
        self.go = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"voiceguide-{sink.name}")
        self.thread.start()

    def start(self, data: bytes) -> None:
        """Hand over the samples: no process or thread is started on the caller's time."""
        self.data = data
        self.go.set()

    def _run(self) -> None:
        self.go.wait()
        self.sink._finish(self.proc, self.data, played=bool(self.data))


class SubprocessSink:
    """A system player process per sound.

    Players that read stdin are started one sound ahead, each with its feeding thread, and wait
    there for their samples, so a cue costs a pipe write rather than a process start. Players that
    need a file (afplay) get WAV files written ahead of time (:meth:`prepare`) and are started at
    the cue. A player that fails is noted and reported by :meth:`check`.
    """

    def __init__(self, name: str, command: Sequence[str], via_stdin: bool, probe_timeout_s: float = 5.0) -> None:
        self.name = name
        self.command = list(command)
        self.via_stdin = via_stdin
        self._lock = threading.Lock()
        self._playing: list[subprocess.Popen[bytes]] = []
        self._stopped: set[int] = set()
        self._ready: _Player | None = None
        self._failure: str | None = None
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._reaped: queue.SimpleQueue[subprocess.Popen[bytes] | None] = queue.SimpleQueue()
        self._tmp = Path(tempfile.mkdtemp(prefix="voiceguide-live-")) if not via_stdin else None
        self._files: dict[str, Path] = {}
        try:
            self._probe(probe_timeout_s)
            if via_stdin:
                self._replenish()
            else:
                reaper = threading.Thread(target=self._reap, daemon=True, name=f"voiceguide-{name}-reaper")
                self._threads.append(reaper)
                reaper.start()
        except BaseException:
            self.close()
            raise

    def _spawn(self, path: Path | None = None) -> subprocess.Popen[bytes]:
        args = self.command + ([str(path)] if path is not None else [])
        return subprocess.Popen(
            args, stdin=subprocess.PIPE if self.via_stdin else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )

    def _probe(self, timeout_s: float) -> None:
        """Play 50 ms of silence: a player that cannot reach a device says so here, before the session."""
        silence = np.zeros(SAMPLE_RATE // 20, dtype=np.int16)
        try:
            if self.via_stdin:
                proc = self._spawn()
                out = proc.communicate(silence.tobytes(), timeout=timeout_s)[1]
            else:
                proc = self._spawn(self._file_for(silence))
                out = proc.communicate(timeout=timeout_s)[1]
        except FileNotFoundError:
            raise _Unavailable("not installed") from None
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise _Unavailable(f"did not play a test sound within {timeout_s:g} s") from None
        if proc.returncode != 0:
            raise _Unavailable(_last_line(out) or f"exit status {proc.returncode}")

    def _file_for(self, pcm: Pcm) -> Path:
        data = wav_bytes(pcm)
        key = hashlib.blake2b(data, digest_size=12).hexdigest()
        if key not in self._files:
            assert self._tmp is not None
            path = self._tmp / f"{key}.wav"
            path.write_bytes(data)
            self._files[key] = path
        return self._files[key]

    def prepare(self, sounds: Sequence[Pcm]) -> None:
        """Write the WAV files of file-reading players ahead of time."""
        if not self.via_stdin:
            for pcm in sounds:
                self._file_for(pcm)

    def play(self, pcm: Pcm) -> None:
        if not self.via_stdin:
            proc = self._spawn(self._file_for(pcm))
            with self._lock:
                self._playing.append(proc)
            self._reaped.put(proc)
            return
        with self._lock:
            player, self._ready = self._ready, None
        if player is None:  # the previous sound was handed over moments ago: start one now
            player = _Player(self, self._spawn())
        with self._lock:
            self._playing.append(player.proc)
            self._threads = [t for t in self._threads if t.is_alive()] + [player.thread]
        # a waiting player that died (its device went away) is still used: its error gets reported
        player.start(np.asarray(pcm, dtype="<i2").tobytes())

    def _replenish(self) -> None:
        """Start the player for the next sound, unless one is waiting already."""
        with self._lock:
            if self._closed or self._ready is not None:
                return
        try:
            fresh = _Player(self, self._spawn())
        except OSError:
            return
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [fresh.thread]
            spare = fresh if self._closed or self._ready is not None else None
            if spare is None:
                self._ready = fresh
        if spare is not None:
            _discard(spare.proc)
            spare.start(b"")

    def _finish(self, proc: subprocess.Popen[bytes], data: bytes, played: bool) -> None:
        """On a feeding thread: start the next player, write the samples, wait, note a failure.

        ``played`` is False for a waiting player ended unused, whose exit status means nothing.
        """
        if self.via_stdin and played:
            self._replenish()
        if proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.write(data)
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.close()
        err = b""
        if proc.stderr is not None:
            with contextlib.suppress(OSError, ValueError):
                err = proc.stderr.read()
                proc.stderr.close()
        code = proc.wait()
        with self._lock:
            if proc in self._playing:
                self._playing.remove(proc)
            stopped = proc.pid in self._stopped
            self._stopped.discard(proc.pid)
            if code != 0 and played and not stopped and not self._closed and self._failure is None:
                self._failure = _named(self.name, _last_line(err) or f"exit status {code}")

    def _reap(self) -> None:
        """Wait for file players in turn (they end in the order they began)."""
        while (proc := self._reaped.get()) is not None:
            self._finish(proc, b"", played=True)

    def stop(self) -> None:
        with self._lock:
            for proc in self._playing:
                self._stopped.add(proc.pid)
                with contextlib.suppress(OSError):
                    proc.kill()

    def check(self) -> None:
        if self._failure is not None:
            raise NoAudioDeviceError(_hint(f"audio playback failed ({self._failure})"))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            ready, self._ready = self._ready, None
        self.stop()
        if ready is not None:
            _discard(ready.proc)
            ready.start(b"")
        self._reaped.put(None)
        for thread in self._threads:
            thread.join(2)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


def _discard(proc: subprocess.Popen[bytes]) -> None:
    """End a player that was never given anything to play."""
    with contextlib.suppress(OSError):
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _named(name: str, detail: str) -> str:
    """'aplay: detail', without doubling the name players put on their own messages."""
    return detail if detail.startswith(f"{name}:") else f"{name}: {detail}"


def _last_line(data: bytes) -> str:
    lines = [x.strip() for x in data.decode(errors="replace").splitlines() if x.strip()]
    return lines[-1] if lines else ""


class SoundDeviceSink:
    """PortAudio through the sounddevice package, used only when it imports and finds an output."""

    name = "sounddevice"

    def __init__(self) -> None:
        try:
            self._sd: Any = importlib.import_module("sounddevice")
        except ImportError:
            raise _Unavailable("not installed") from None
        except OSError as e:  # the package is there but the PortAudio library is not
            raise _Unavailable(f"PortAudio missing ({e})") from None
        try:
            self._sd.check_output_settings(samplerate=SAMPLE_RATE, channels=1, dtype="int16")
        except Exception as e:  # PortAudioError or ValueError when there is no output device
            raise _Unavailable(str(e) or "no output device") from None

    def play(self, pcm: Pcm) -> None:
        self._sd.play(np.asarray(pcm, dtype=np.int16), SAMPLE_RATE, blocking=False)

    def stop(self) -> None:
        self._sd.stop()

    def check(self) -> None:
        pass

    def close(self) -> None:
        self.stop()


class WinsoundSink:
    """Windows' built-in player: asynchronous PlaySound of WAV files written ahead of time."""

    name = "winsound"

    def __init__(self) -> None:
        if os.name != "nt":
            raise _Unavailable("only on Windows")
        self._ws: Any = importlib.import_module("winsound")
        self._tmp = Path(tempfile.mkdtemp(prefix="voiceguide-live-"))
        self._files: dict[str, Path] = {}
        try:
            self._ws.PlaySound(str(self._file_for(np.zeros(SAMPLE_RATE // 20, dtype=np.int16))),
                               self._ws.SND_FILENAME | self._ws.SND_NODEFAULT)
        except RuntimeError as e:
            self.close()
            raise _Unavailable(str(e)) from None

    def _file_for(self, pcm: Pcm) -> Path:
        data = wav_bytes(pcm)
        key = hashlib.blake2b(data, digest_size=12).hexdigest()
        if key not in self._files:
            path = self._tmp / f"{key}.wav"
            path.write_bytes(data)
            self._files[key] = path
        return self._files[key]

    def prepare(self, sounds: Sequence[Pcm]) -> None:
        for pcm in sounds:
            self._file_for(pcm)

    def play(self, pcm: Pcm) -> None:
        flags = self._ws.SND_FILENAME | self._ws.SND_ASYNC | self._ws.SND_NODEFAULT
        self._ws.PlaySound(str(self._file_for(pcm)), flags)

    def stop(self) -> None:
        self._ws.PlaySound(None, 0)

    def check(self) -> None:
        pass

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)


BACKENDS = ("auto", "sounddevice", "paplay", "aplay", "afplay", "winsound")


def platform_backends(platform: str | None = None) -> list[str]:
    """The backends ``auto`` tries, in order, on this platform."""
    platform = platform or sys.platform
    if platform == "win32":
        return ["sounddevice", "winsound"]
    if platform == "darwin":
        return ["sounddevice", "afplay"]
    return ["sounddevice", "paplay", "aplay"]


def _open_backend(name: str) -> AudioSink:
    if name == "sounddevice":
        return SoundDeviceSink()
    if name == "winsound":
        return WinsoundSink()
    command, via_stdin = PLAYERS[name]
    if shutil.which(command[0]) is None:
        raise _Unavailable("not installed")
    return SubprocessSink(name, command, via_stdin)


def open_sink(backend: str = "auto") -> AudioSink:
    """The first backend that can play here (or the one asked for).

    Raises :class:`NoAudioDeviceError`, naming what each backend lacked, when none can.
    """
    names = platform_backends() if backend == "auto" else [backend]
    reasons = []
    for name in names:
        try:
            return _open_backend(name)
        except _Unavailable as e:
            reasons.append(_named(name, str(e)))
    raise NoAudioDeviceError(_hint(f"no usable audio device ({'; '.join(reasons)})"))


# --------------------------------------------------------------------------- the guide: what the cues mean


_SIDE = re.compile(r"\b(?:Switch to|Start with) your (right|left) side\b", re.IGNORECASE)
_SET = re.compile(r"^(?:Round|Set) ([a-z -]+?) of ([a-z -]+?)\.$", re.IGNORECASE)
_WORDS = {number_words(n): n for n in range(0, 1000)}


def _number(word: str) -> int | None:
    return _WORDS.get(word.lower().strip())


def breath_phase(text: str | None) -> Literal["in", "out"] | None:
    """'in' or 'out' for a line that paces a breath ('Breathe in…', 'Exhale…'), else None."""
    low = (text or "").lower()
    if low.startswith(("breathe in", "inhale")):
        return "in"
    if low.startswith(("breathe out", "exhale")):
        return "out"
    return None


def _pace(timeline: Timeline) -> tuple[float, float]:
    """The breath pace the script was composed with (its JSON meta), or 4-6."""
    try:
        inhale, exhale = str(timeline.meta["options"]["breath"]).split("-")
        return float(inhale), float(exhale)
    except (KeyError, TypeError, ValueError):
        return 4.0, 6.0


@dataclass(frozen=True)
class Status:
    """Where a session is at one moment, for a display."""

    position_s: float
    duration_s: float
    chapter: int | None
    chapter_title: str | None
    chapter_count: int
    side: str | None
    set_of: tuple[int, int] | None
    rep_of: tuple[int, int | None] | None
    line: str | None
    speaking: bool
    hold_left_s: float | None
    hold_s: float | None
    breath: Literal["in", "out"] | None
    breath_left_s: float | None
    next_title: str | None
    next_line: str | None

    @property
    def remaining_s(self) -> float:
        return max(0.0, self.duration_s - self.position_s)


class Guide:
    """Derives what a person needs to see from the cues alone: no second plan of the session.

    - side: 'right'/'left' in a chapter that says 'Start with your right side.' or
      'Switch to your left side.' (setup lines are spoken for the right side);
    - set: 'Round two of three.' / 'Set one of two.'; repetition: 'One.', 'Two.' count lines;
    - hold: the span between the 'hold-start' and 'hold-end' tones;
    - breath: from lines that start 'Breathe in'/'Breathe out', lasting until the next line
      is spoken, and inside a hold paced on from the last spoken breath at the script's pace.
    """

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        cues = timeline.cues
        self.starts = [c.start_s for c in cues]
        self.pace = _pace(timeline)
        reps = {i: d.get("reps") for i, d in enumerate(timeline.meta.get("doses", []) or []) if isinstance(d, dict)}
        self.sides: list[str | None] = []
        self.sets: list[tuple[int, int] | None] = []
        self.reps: list[tuple[int, int | None] | None] = []
        self.last_line: list[int | None] = []
        sided = {c.chapter for c in cues if c.kind == "speech" and c.chapter is not None and _SIDE.search(c.text or "")}
        chapter: int | None = -1
        side: str | None = None
        set_of: tuple[int, int] | None = None
        rep: tuple[int, int | None] | None = None
        last: int | None = None
        for i, cue in enumerate(cues):
            if cue.chapter != chapter:
                chapter = cue.chapter
                side = "right" if chapter in sided else None
                set_of, rep = None, None
            text = cue.text or ""
            if cue.kind == "speech":
                last = i
                if match := _SIDE.search(text):
                    side = match[1].lower()
                if (match := _SET.match(text)) and _number(match[1]) and _number(match[2]):
                    set_of = (_number(match[1]) or 0, _number(match[2]) or 0)
                    rep = None
                if cue.role == "count" and (n := _number(text.rstrip("."))) is not None:
                    total = reps.get(chapter) if chapter is not None else None
                    rep = (n, total if isinstance(total, int) else None)
            self.sides.append(side)
            self.sets.append(set_of)
            self.reps.append(rep)
            self.last_line.append(last)
        self.holds = self._holds(cues)
        self._hold_starts = [h[0] for h in self.holds]
        self.breaths = self._breaths(cues)
        self._breath_starts = [b[0] for b in self.breaths]

    @staticmethod
    def _holds(cues: Sequence[Cue]) -> list[tuple[float, float]]:
        holds, opened = [], None
        for cue in cues:
            if cue.kind == "tone" and cue.role == "hold-start":
                opened = cue.end_s
            elif cue.kind == "tone" and cue.role == "hold-end" and opened is not None:
                holds.append((opened, cue.start_s))
                opened = None
        return holds

    def hold_at(self, t: float) -> tuple[float, float] | None:
        k = bisect.bisect_right(self._hold_starts, t + EPS) - 1
        if k >= 0 and self.holds[k][0] - EPS <= t < self.holds[k][1]:
            return self.holds[k]
        return None

    def _breaths(self, cues: Sequence[Cue]) -> list[tuple[float, float, Literal["in", "out"]]]:
        marks = [(i, p) for i, c in enumerate(cues) if c.kind == "speech" and (p := breath_phase(c.text))]
        speech_starts = [(c.start_s, i) for i, c in enumerate(cues) if c.kind == "speech"]

        def begins(i: int, phase: str) -> float:
            # the count said at the top of an inhale ('Three.' 'Breathe in.') belongs to the inhale
            prev = cues[i - 1] if i else None
            if (phase == "in" and prev and prev.kind == "speech" and prev.role == "count"
                    and abs(prev.end_s - cues[i].start_s) < 1e-3):
                return prev.start_s
            return cues[i].start_s

        result: list[tuple[float, float, Literal["in", "out"]]] = []
        for n, (i, phase) in enumerate(marks):
            start = begins(i, phase)
            hold = self.hold_at(cues[i].start_s)
            if hold is not None:
                following = marks[n + 1][0] if n + 1 < len(marks) else None
                if following is not None and cues[following].start_s < hold[1]:
                    result.append((start, cues[following].start_s, phase))
                    continue
                t, ph = start, phase  # the last spoken breath of a hold: keep pacing to its end
                while t < hold[1] - EPS:
                    step = self.pace[0] if ph == "in" else self.pace[1]
                    result.append((t, min(t + step, hold[1]), ph))
                    t, ph = t + step, ("out" if ph == "in" else "in")
                continue
            k = bisect.bisect_right(speech_starts, (cues[i].start_s, i))
            end = self.timeline.duration_s
            if k < len(speech_starts):
                j = speech_starts[k][1]
                end = begins(j, breath_phase(cues[j].text) or "")
            result.append((start, max(end, cues[i].end_s), phase))
        result.sort(key=lambda b: b[0])
        return result

    def chapter_at(self, t: float) -> int | None:
        for k, ch in enumerate(self.timeline.chapters):
            if ch.start_s - EPS <= t < ch.end_s - EPS:
                return k
        return None

    def status(self, t: float) -> Status:
        tl = self.timeline
        i = bisect.bisect_right(self.starts, t + EPS) - 1
        cue = tl.cues[i] if i >= 0 else None
        chapter = self.chapter_at(t)
        last = self.last_line[i] if i >= 0 else None
        speaking = cue is not None and cue.kind == "speech" and t < cue.end_s
        hold = self.hold_at(t)
        k = bisect.bisect_right(self._breath_starts, t + EPS) - 1
        breath = self.breaths[k] if k >= 0 and t < self.breaths[k][1] else None
        later = [ch for ch in tl.chapters if ch.start_s > t + EPS]
        upcoming = next((c.text for c in tl.cues[i + 1 :] if c.kind == "speech"), None)
        return Status(
            position_s=t,
            duration_s=tl.duration_s,
            chapter=chapter,
            chapter_title=tl.chapters[chapter].title if chapter is not None else None,
            chapter_count=len(tl.chapters),
            side=self.sides[i] if i >= 0 and chapter is not None else None,
            set_of=self.sets[i] if i >= 0 and chapter is not None else None,
            rep_of=self.reps[i] if i >= 0 and chapter is not None else None,
            line=tl.cues[last].text if last is not None else None,
            speaking=speaking,
            hold_left_s=hold[1] - t if hold else None,
            hold_s=hold[1] - hold[0] if hold else None,
            breath=breath[2] if breath else None,
            breath_left_s=breath[1] - t if breath else None,
            next_title=later[0].title if later else None,
            next_line=upcoming,
        )


# --------------------------------------------------------------------------- the scheduler


class Command(enum.Enum):
    """What a key (or a signal) asks of the scheduler."""

    PAUSE = "pause"
    """Pause, or resume when paused."""
    NEXT = "next"
    BACK = "back"
    QUIT = "quit"
    INTERRUPT = "interrupt"
    """Ctrl-C: stop like quit, but report it as an interruption."""


@dataclass(frozen=True)
class CueEvent:
    """One cue as it was started: when it was due and when it began, in wall seconds since playback began."""

    index: int
    cue: Cue
    scheduled_s: float
    actual_s: float

    @property
    def drift_s(self) -> float:
        return self.actual_s - self.scheduled_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "kind": self.cue.kind,
            "role": self.cue.role,
            "text": self.cue.text,
            "chapter": self.cue.chapter,
            "start_s": round(self.cue.start_s, 3),
            "scheduled_s": round(self.scheduled_s, 6),
            "actual_s": round(self.actual_s, 6),
        }


Ending = Literal["finished", "quit", "interrupted"]


@dataclass
class PlaybackResult:
    """How a session went: every cue started, where it stopped and why."""

    events: list[CueEvent]
    position_s: float
    wall_s: float
    ending: Ending

    @property
    def max_drift_s(self) -> float:
        return max((abs(e.drift_s) for e in self.events), default=0.0)


class Display(Protocol):
    """What the scheduler tells a display; the display may also poll the scheduler's position."""

    def open(self, view: Scheduler) -> None: ...

    def cue(self, event: CueEvent) -> None: ...

    def paused(self, paused: bool, position_s: float) -> None: ...

    def jumped(self, position_s: float) -> None: ...

    def close(self) -> None: ...


class NullDisplay:
    """Shows nothing (tests, benchmarks)."""

    def open(self, view: Scheduler) -> None:
        pass

    def cue(self, event: CueEvent) -> None:
        pass

    def paused(self, paused: bool, position_s: float) -> None:
        pass

    def jumped(self, position_s: float) -> None:
        pass

    def close(self) -> None:
        pass


class Scheduler:
    """Starts every cue of a timeline at ``origin + cue.start_s / speed`` on the clock.

    ``origin`` is the wall time of script position 0. It starts at the moment playback begins
    and moves only on a command: resuming shifts it by the time spent paused (nothing is
    skipped), a jump sets it so the target position is now. Commands come from other threads
    through :meth:`post`; :meth:`interrupt` is safe to call from a signal handler.

    Sound comes from ``sound_for(cue)`` into ``sink``; without either, the schedule runs silent.
    """

    def __init__(
        self,
        timeline: Timeline,
        *,
        clock: Clock | None = None,
        sink: AudioSink | None = None,
        sound_for: SoundFor | None = None,
        speed: float = 1.0,
        display: Display | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.timeline = timeline
        self.clock: Clock = clock or MonotonicClock()
        self.sink = sink
        self.sound_for = sound_for if sink is not None else None
        self.speed = speed
        self.display: Display = display or NullDisplay()
        self.guide = Guide(timeline)
        self.events: list[CueEvent] = []
        self._commands: collections.deque[Command] = collections.deque()
        self._wake = threading.Event()
        self._t0 = self._origin = self.clock.now()
        self._paused_at: float | None = None
        """The script position while paused, else None."""
        self._running = False
        self.next_deadline: float | None = None
        """Clock time of the next cue while playing, so a display can keep out of its way."""

    # -- commands

    def post(self, command: Command) -> None:
        self._commands.append(command)
        self._wake.set()

    def interrupt(self) -> None:
        """Ask to stop from a signal handler: a lock-free append, noticed within :data:`POLL_S`."""
        self._commands.append(Command.INTERRUPT)

    def _next_command(self) -> Command | None:
        try:
            return self._commands.popleft()
        except IndexError:
            self._wake.clear()
        try:  # a command posted between the first look and the clear
            return self._commands.popleft()
        except IndexError:
            return None

    # -- state a display reads

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def position(self) -> float:
        """Where in the script playback is now, in script seconds."""
        if self._paused_at is not None:
            return self._paused_at
        if not self._running:
            return 0.0
        return min(max(0.0, (self.clock.now() - self._origin) * self.speed), self.timeline.duration_s)

    # -- the loop

    def _wait_until(self, deadline: float) -> Command | None:
        """Wait for ``deadline`` or a command, whichever comes first."""
        while True:
            command = self._next_command()
            if command is not None:
                return command
            remaining = deadline - self.clock.now()
            if remaining <= 0:
                return None
            self.clock.wait(min(remaining, POLL_S), self._wake)

    def _wait_command(self) -> Command:
        while True:
            command = self._next_command()
            if command is not None:
                return command
            self.clock.wait(POLL_S, self._wake)

    def run(self) -> PlaybackResult:
        """Play the whole timeline (or until quit); return every cue's scheduled and actual start."""
        cues = self.timeline.cues
        speed = self.speed
        self._t0 = self._origin = self.clock.now()
        self._running = True
        i = 0
        ending: Ending = "finished"
        try:
            while True:
                command: Command | None
                if self._paused_at is not None:
                    command = self._wait_command()
                else:
                    target = cues[i].start_s if i < len(cues) else self.timeline.duration_s
                    deadline = self._origin + target / speed
                    self.next_deadline = deadline
                    command = self._wait_until(deadline)
                    self.next_deadline = None
                    if command is None:
                        if i >= len(cues):
                            break
                        self._start(i, deadline)
                        i += 1
                        continue
                if command in (Command.QUIT, Command.INTERRUPT):
                    ending = "quit" if command is Command.QUIT else "interrupted"
                    break
                if command is Command.PAUSE:
                    self._toggle_pause(i)
                else:
                    i = self._jump(command, i)
        finally:
            position = self.position()
            self._running = False
            self._paused_at = position
            if self.sink is not None:
                self.sink.stop()
        return PlaybackResult(self.events, position, self.clock.now() - self._t0, ending)

    def _start(self, i: int, deadline: float) -> None:
        cue = self.timeline.cues[i]
        if self.sound_for is not None and self.sink is not None:
            pcm = self.sound_for(cue)
            if pcm is not None and len(pcm):
                self.sink.play(pcm)
        actual = self.clock.now()
        event = CueEvent(i, cue, deadline - self._t0, actual - self._t0)
        self.events.append(event)
        self.display.cue(event)
        if self.sink is not None:
            self.sink.check()

    def _toggle_pause(self, i: int) -> None:
        now = self.clock.now()
        if self._paused_at is None:
            self._paused_at = self.position()
            if self.sink is not None:
                self.sink.stop()
            self.display.paused(True, self._paused_at)
            return
        position, self._paused_at = self._paused_at, None
        self._origin = now - position / self.speed
        self.display.paused(False, position)
        # the line cut off by the pause goes on from where it stopped
        if i > 0 and self.sound_for is not None and self.sink is not None:
            cue = self.timeline.cues[i - 1]
            if cue.start_s <= position < cue.end_s:
                pcm = self.sound_for(cue)
                offset = round((position - cue.start_s) * SAMPLE_RATE)
                if pcm is not None and offset < len(pcm):
                    self.sink.play(pcm[offset:])

    def jump_target(self, command: Command, position: float) -> float | None:
        """Script position of the next or previous stretch from ``position``, or None to stay.

        Next: the start of the next stretch; from the last stretch, the closing; from the
        closing, nothing. Back: the start of the stretch before the current one (the first
        stretch restarts itself); from the closing, the last stretch; from the welcome, the start.
        """
        chapters = self.timeline.chapters
        if command is Command.NEXT:
            later = [ch.start_s for ch in chapters if ch.start_s > position + EPS]
            if later:
                return later[0]
            if chapters and position < chapters[-1].end_s - EPS:
                return chapters[-1].end_s
            return None
        current = self.guide.chapter_at(position)
        if current is not None:
            return chapters[max(current - 1, 0)].start_s
        before = [ch.start_s for ch in chapters if ch.end_s <= position + EPS]
        return before[-1] if before else 0.0

    def _jump(self, command: Command, i: int) -> int:
        target = self.jump_target(command, self.position())
        if target is None:
            return i
        if self.sink is not None:
            self.sink.stop()
        if self._paused_at is not None:
            self._paused_at = target
        else:
            self._origin = self.clock.now() - target / self.speed
        self.display.jumped(target)
        return bisect.bisect_left(self.guide.starts, target - EPS)


# --------------------------------------------------------------------------- displays


def clock_text(seconds: float) -> str:
    m, s = divmod(int(max(0.0, seconds)), 60)
    return f"{m}:{s:02d}"


class _Writer:
    """Prints on a thread of its own, so a slow terminal or pipe never holds up a deadline."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="voiceguide-display")
        self._thread.start()

    def put(self, line: str) -> None:
        self._queue.put(line)

    def _run(self) -> None:
        while (line := self._queue.get()) is not None:
            with contextlib.suppress(OSError, ValueError):  # a closed pipe must not stop the session
                self.echo(line)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(5)
            self._thread = None


class PlainDisplay:
    """One line per spoken cue (and per stretch, pause and jump): for pipes, logs and captions."""

    def __init__(self, timeline: Timeline, echo: Callable[[str], None] | None = None) -> None:
        self.timeline = timeline
        self._writer = _Writer(echo or click.echo)
        self._chapter: int | None = None

    def open(self, view: Scheduler) -> None:
        self._writer.start()
        tl = self.timeline
        n = len(tl.chapters)
        self._writer.put(f"{tl.title}: {clock_text(tl.duration_s)}, {n} stretch{'es' if n != 1 else ''}")

    def cue(self, event: CueEvent) -> None:
        cue = event.cue
        if cue.chapter is not None and cue.chapter != self._chapter:
            ch = self.timeline.chapters[cue.chapter]
            self._writer.put(f"== Stretch {cue.chapter + 1} of {len(self.timeline.chapters)}: {ch.title}")
        self._chapter = cue.chapter
        if cue.kind == "speech" and cue.text:
            self._writer.put(f"{clock_text(cue.start_s):>6}  {cue.text}")

    def paused(self, paused: bool, position_s: float) -> None:
        self._writer.put(f"-- {'paused' if paused else 'resumed'} at {clock_text(position_s)}")

    def jumped(self, position_s: float) -> None:
        self._chapter = None
        self._writer.put(f"-- jumped to {clock_text(position_s)}")

    def close(self) -> None:
        self._writer.close()


class RichDisplay:
    """A live panel on a terminal: stretch, side and set, the line, hold and breath, time, what is next.

    With ``transcript``, every spoken line is also printed above the panel (for --no-audio).
    All drawing happens on the display's own thread; the scheduler only hands it lines.
    """

    def __init__(self, timeline: Timeline, console: Console | None = None, *, transcript: bool = False,
                 keys: bool = True, refresh_per_second: float = 8) -> None:
        self.timeline = timeline
        self.console = console or Console()
        self.transcript = transcript
        self.keys = keys
        self.guide = Guide(timeline)
        self.refresh_per_second = refresh_per_second
        self._view: Scheduler | None = None
        self._live: Live | None = None
        self._lines: collections.deque[Text] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self, view: Scheduler) -> None:
        self._view = view
        self._live = Live(console=self.console, get_renderable=self.render, auto_refresh=False,
                          transient=False, redirect_stdout=False, redirect_stderr=False)
        self._live.start(refresh=True)
        self._thread = threading.Thread(target=self._run, daemon=True, name="voiceguide-display")
        self._thread.start()

    def _flush(self) -> None:
        while self._lines:
            self.console.print(self._lines.popleft())

    def _keep_clear(self, max_defer_s: float = 0.25) -> None:
        """Wait while a cue is due within :data:`QUIET_S`: a frame drawn then could make it late."""
        view = self._view
        if view is None:
            return
        started = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - started < max_defer_s:
            deadline = view.next_deadline
            ahead = deadline - view.clock.now() if deadline is not None else None
            if ahead is None or ahead >= QUIET_S or ahead < -0.1:
                return
            time.sleep(max(0.0, ahead) + 0.003)

    def _run(self) -> None:
        assert self._live is not None
        while not self._stop.is_set():
            self._wake.wait(1 / self.refresh_per_second)
            self._wake.clear()
            self._keep_clear()
            with contextlib.suppress(OSError, ValueError):
                self._flush()
                self._live.refresh()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._live is not None:
            with contextlib.suppress(OSError, ValueError):
                self._flush()
                self._live.refresh()
            self._live.stop()
            self._live = None

    def cue(self, event: CueEvent) -> None:
        cue = event.cue
        if self.transcript and cue.kind == "speech" and cue.text:
            self._lines.append(Text.assemble((f"{clock_text(cue.start_s):>6}  ", "dim"), cue.text))
            self._wake.set()

    def paused(self, paused: bool, position_s: float) -> None:
        self._wake.set()

    def jumped(self, position_s: float) -> None:
        self._wake.set()

    def render(self) -> RenderableType:
        view = self._view
        position = view.position() if view is not None else 0.0
        paused = view.paused if view is not None else False
        return self.panel(self.guide.status(position), paused)

    def panel(self, s: Status, paused: bool = False) -> Panel:
        """The panel for one moment (public so tests can render it without a live terminal)."""
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
        where = Text()
        if s.chapter is not None:
            where.append(f"Stretch {s.chapter + 1} of {s.chapter_count}  ", "dim")
            where.append(s.chapter_title or "", "bold")
        else:
            where.append("Closing" if s.position_s > 0 and s.next_title is None else "Welcome", "bold")
        details = []
        if s.side:
            details.append(f"{s.side} side")
        if s.set_of:
            details.append(f"set {s.set_of[0]} of {s.set_of[1]}")
        if s.rep_of:
            details.append(f"rep {s.rep_of[0]}" + (f" of {s.rep_of[1]}" if s.rep_of[1] else ""))
        if details:
            where.append("  ·  " + "  ·  ".join(details), "cyan")
        if paused:
            where.append("   PAUSED", "bold yellow")
        grid.add_row("Now", where)
        grid.add_row("Voice", Text(s.line or "", style="bold" if s.speaking else "dim"))
        if s.hold_left_s is not None and s.hold_s:
            hold = Table.grid(padding=(0, 1))
            hold.add_row(ProgressBar(total=s.hold_s, completed=s.hold_s - s.hold_left_s, width=24),
                         Text(f"{math.ceil(s.hold_left_s - EPS):d} s left", "bold"))
            grid.add_row("Hold", hold)
        if s.breath is not None and s.breath_left_s is not None:
            arrow = "▲ in " if s.breath == "in" else "▼ out"
            grid.add_row("Breath", Text.assemble((arrow, "bold green" if s.breath == "in" else "bold blue"),
                                                 (f"  {math.ceil(s.breath_left_s - EPS):d}", "dim")))
        else:
            grid.add_row("Breath", Text("·", "dim"))
        time_row = Table.grid(padding=(0, 1))
        time_row.add_row(Text(f"{clock_text(s.position_s)} elapsed"),
                         ProgressBar(total=max(s.duration_s, EPS), completed=s.position_s, width=24),
                         Text(f"{clock_text(s.remaining_s)} left"))
        grid.add_row("Time", time_row)
        nxt = Text(s.next_title or "the end of the session")
        if s.next_line:
            nxt.append(f"   then: “{s.next_line}”", "dim")
        grid.add_row("Next", nxt)
        hint = "space pause · n next · p back · q quit" if self.keys else None
        return Panel(Group(grid), title=self.timeline.title, subtitle=hint, border_style="yellow" if paused else "blue")


# --------------------------------------------------------------------------- keys and signals


KEYS = {" ": Command.PAUSE, "n": Command.NEXT, "p": Command.BACK, "q": Command.QUIT}


class KeyReader:
    """Reads single keys from a terminal on a thread and posts them as commands.

    Active only when the stream is a terminal. On POSIX the terminal is put in cbreak mode
    (keys arrive at once, unechoed; Ctrl-C still signals) and restored on exit, whatever happens.
    """

    def __init__(self, post: Callable[[Command], None], stream: Any = None) -> None:
        self.post = post
        self.stream = stream if stream is not None else sys.stdin
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved: Any = None
        self._fd = -1

    @property
    def active(self) -> bool:
        return self._thread is not None

    def __enter__(self) -> KeyReader:
        try:
            is_tty = bool(self.stream.isatty())
            fd = self.stream.fileno()
        except (AttributeError, ValueError, OSError):
            return self
        if not is_tty:
            return self
        self._fd = fd
        if sys.platform == "win32":
            target: Callable[[], None] = self._run_windows
        else:
            import termios
            import tty

            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
            target = self._run_posix
        self._thread = threading.Thread(target=target, daemon=True, name="voiceguide-keys")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1)
            self._thread = None
        if self._saved is not None:
            import termios

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def _key(self, char: str) -> None:
        command = KEYS.get(char.lower() if char != " " else char)
        if command is not None:
            self.post(command)

    def _run_posix(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._fd], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(self._fd, 64)
            except (OSError, ValueError):
                return
            if not data:
                return
            for char in data.decode(errors="ignore"):
                self._key(char)

    def _run_windows(self) -> None:  # pragma: no cover - Windows only
        msvcrt: Any = importlib.import_module("msvcrt")
        while not self._stop.is_set():
            if msvcrt.kbhit():
                self._key(msvcrt.getwch())
            else:
                time.sleep(0.05)


@contextlib.contextmanager
def stop_on_signals(scheduler: Scheduler) -> Iterator[None]:
    """Ctrl-C (and SIGTERM) stop the session cleanly rather than raising mid-playback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: FrameType | None) -> None:
        scheduler.interrupt()

    wanted = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {sig: signal.signal(sig, handler) for sig in wanted}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the cycle collector off everything that existed before playback began.

    A full collection walks every object (catalog, numpy, rich: ~15 ms here) while holding the
    interpreter lock, which would make whichever cue is due that late; frozen, a collection only
    walks what playback itself allocated.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _switch_interval(seconds: float) -> Iterator[None]:
    """Hand the interpreter lock over sooner, so the display thread delays a deadline by less."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


# --------------------------------------------------------------------------- putting it together


def write_events(path: Path, events: Sequence[CueEvent]) -> None:
    """The JSONL event log, one cue per line, written whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in events), encoding="utf-8")


def make_display(timeline: Timeline, *, transcript: bool, keys: bool, stdout: Any = None) -> Display:
    """Rich Live when stdout is a terminal, plain lines otherwise."""
    stream = stdout if stdout is not None else sys.stdout
    try:
        is_tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        is_tty = False
    if is_tty:
        return RichDisplay(timeline, Console(file=stream), transcript=transcript, keys=keys)
    return PlainDisplay(timeline)


@dataclass
class LiveSession:
    """Everything one live playback needs; :meth:`run` plays it with keys, signals and display."""

    timeline: Timeline
    sink: AudioSink | None = None
    sound_for: SoundFor | None = None
    speed: float = 1.0
    display: Display | None = None
    clock: Clock | None = None
    keys: bool = True
    key_stream: Any = None
    events_path: Path | None = None
    handle_signals: bool = True
    scheduler: Scheduler | None = field(default=None, init=False)

    def run(self) -> PlaybackResult:
        if self.events_path is not None:
            check_output_path(self.events_path)
        scheduler = self.scheduler = Scheduler(self.timeline, clock=self.clock, sink=self.sink,
                                               sound_for=self.sound_for, speed=self.speed, display=self.display)
        with contextlib.ExitStack() as stack:
            if self.handle_signals:
                stack.enter_context(stop_on_signals(scheduler))
            stack.enter_context(_switch_interval(0.001))
            stack.enter_context(_frozen_heap())
            if self.keys:  # keys are live before anything is shown
                stack.enter_context(KeyReader(scheduler.post, self.key_stream))
            scheduler.display.open(scheduler)
            stack.callback(scheduler.display.close)
            result = scheduler.run()
        if self.events_path is not None:
            write_events(self.events_path, result.events)
        return result
