"""One long-lived output stream for a whole session: each sound is mixed in at the sample it is due.

A player started per cue loses the start of a line while its stream opens, and a line that follows
another closely is never heard at all (measured through a PulseAudio null sink: 11 of cat-cow's 44
lines clipped or lost). Here one stream runs from the start of the session to its end, silence
between cues. A sound due at clock time ``d`` enters the stream in the block written at
``d + delay_s``, at the sample that matches ``d`` exactly, so the moment the scheduler hands it over
(within ``delay_s``) does not matter and every line is heard a constant latency after its deadline.

Two kinds of :class:`Output` carry the stream: a player process fed raw PCM on stdin, paced by the
clock (:class:`PipeOutput`: paplay, aplay), and a PortAudio stream that asks for blocks
(:class:`SoundDeviceOutput`).
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import os
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from voiceguide.live.sinks import BackendUnavailable, NoAudioDeviceError, Pcm, hint, last_line, named, probe_player
from voiceguide.voice.speech import SAMPLE_RATE

BLOCK = SAMPLE_RATE // 100
"""Samples per block written to a pipe (10 ms)."""
DELAY_S = 0.03
"""A sound due at ``d`` is written at ``d + DELAY_S``: room for a late hand-over and one block."""
PREFILL_S = 0.3
"""Silence written at once when a player starts: the cushion that keeps the stream from running
dry when the feeding thread is held up. On a busy two-core machine it was held up 40-170 ms now
and then; with a 60 ms cushion the stream ran dry and the starts of lines were lost. What is
written plays out after a pause or a skip (so the voice stops about this much later)."""
STREAM_LATENCY_S = 0.2
"""The latency asked of a PortAudio stream: "low" runs dry on a busy machine."""
ORIGIN_SMOOTHING = 0.05
"""How fast a PortAudio stream's timing estimate follows each new report (one report per block)."""

Fill = Callable[[Pcm, float], None]
"""Fills a block of samples (zeros on entry) with the sounds due from clock time ``t`` on."""


@dataclass
class _Placed:
    pcm: Pcm
    due: float
    """Clock time the first sample is due."""
    done: int = 0
    """Samples already mixed into the stream."""


class Mixer:
    """Sounds waiting to be heard, cut into the stream block by block at the sample they are due.

    A sound that arrives after its first sample's block was written starts at the next block,
    whole: a late line is better than a clipped one. Sounds that overlap are added.
    """

    def __init__(self, rate: int = SAMPLE_RATE) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._sounds: list[_Placed] = []

    def add(self, pcm: Pcm, due: float) -> None:
        with self._lock:
            self._sounds.append(_Placed(np.asarray(pcm, dtype=np.int16), due))

    def clear(self) -> None:
        with self._lock:
            self._sounds.clear()

    @property
    def idle(self) -> bool:
        with self._lock:
            return not self._sounds

    def fill(self, out: Pcm, t: float) -> None:
        """Mix into ``out`` every sound due in the block that starts at clock time ``t``."""
        n = len(out)
        with self._lock:
            if not self._sounds:
                return
            mixed: np.ndarray[Any, np.dtype[np.int32]] | None = None
            keep = []
            for s in self._sounds:
                at = 0 if s.done else max(0, round((s.due - t) * self.rate))
                if at >= n:
                    keep.append(s)
                    continue
                part = s.pcm[s.done : s.done + n - at]
                if mixed is None and not s.done and at == 0 and len(part) == n:
                    out[:] = part  # the common case: one sound covers the block
                else:
                    if mixed is None:
                        mixed = out.astype(np.int32)
                    mixed[at : at + len(part)] += part
                s.done += len(part)
                if s.done < len(s.pcm):
                    keep.append(s)
            self._sounds = keep
        if mixed is not None:
            out[:] = np.clip(mixed, -32768, 32767)


class Output(Protocol):
    """What carries a stream to the speakers: it asks ``fill`` for every block, from start to close."""

    name: str

    def start(self, fill: Fill) -> None: ...

    def latency_s(self) -> float | None:
        """Seconds from a block being written to being heard, as the backend reports it; None if unknown."""
        ...

    def failure(self) -> str | None:
        """What went wrong, once the stream has failed."""
        ...

    def close(self) -> None: ...


class StreamSink:
    """An :class:`~voiceguide.live.sinks.AudioSink` over one stream: ``play`` places, the output pulls.

    ``stop`` drops what is not written yet; the last ``delay_s`` plus the output's own buffer
    still play out, which is the price of never clipping a start.
    """

    def __init__(self, output: Output, delay_s: float = DELAY_S) -> None:
        self.output = output
        self.name = output.name
        self.delay_s = delay_s
        self.mixer = Mixer()
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.output.start(self.mixer.fill)

    def play(self, pcm: Pcm, at: float | None = None) -> float | None:
        self.start()
        due = time.monotonic() if at is None else at
        self.mixer.add(pcm, due)
        latency = self.output.latency_s()
        return None if latency is None else due + self.delay_s + latency

    def stop(self) -> None:
        self.mixer.clear()

    def check(self) -> None:
        failure = self.output.failure()
        if failure is not None:
            raise NoAudioDeviceError(hint(f"audio playback failed ({failure})"))

    def drain(self, timeout_s: float = 5.0) -> None:
        """Wait until every sound handed over has been written, and its written part heard."""
        end = time.monotonic() + timeout_s
        while not self.mixer.idle and time.monotonic() < end and self.output.failure() is None:
            time.sleep(0.01)
        time.sleep(min(max(0.0, end - time.monotonic()), self.delay_s + (self.output.latency_s() or PREFILL_S)))

    def close(self) -> None:
        """Let what is handed over play out (nothing, after :meth:`stop`), then end the stream."""
        if self._started:
            self.drain()
        self.output.close()


# --------------------------------------------------------------------------- a player process fed on stdin


STREAM_PLAYERS: dict[str, list[str]] = {
    "paplay": ["paplay", "--raw", "--format=s16le", f"--rate={SAMPLE_RATE}", "--channels=1",
               "--latency-msec=600", "--client-name=voiceguide", "--verbose"],
    "aplay": ["aplay", "-q", "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", str(SAMPLE_RATE),
              "--buffer-time=600000", f"--start-delay={round(PREFILL_S * 1e6)}"],
}
"""Players that read raw mono PCM on stdin for as long as it flows. paplay --verbose reports its
stream's latency; aplay does not."""

_LATENCY = re.compile(rb"Latency: (-?\d+) usec")


def _raise_priority(*ids: int) -> None:
    """Ask for a little more of a busy CPU for the feeding thread and its player, where allowed
    (a held-up feeder lets the stream run dry); without the right to, they run as they are."""
    if hasattr(os, "setpriority"):
        for ident in ids:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, ident, -10)


class PipeOutput:
    """One player process for the whole session, fed a block every 10 ms by a thread on the clock.

    The first :data:`PREFILL_S` of silence go at once; after that block ``k`` is written at
    ``start + k * BLOCK / rate``, so the player's buffer holds a steady cushion and every sample
    is heard a constant time after it is written.
    """

    def __init__(self, name: str, command: Sequence[str], probe_timeout_s: float = 5.0) -> None:
        self.name = name
        self.command = list(command)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._latency: float | None = None
        self._failure: str | None = None
        self._err_tail = b""
        self._probe(probe_timeout_s)

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)

    def _probe(self, timeout_s: float) -> None:
        """Play 50 ms of silence: a player that cannot reach a device says so here, before the session."""
        probe_player(self._spawn, timeout_s, bytes(2 * (SAMPLE_RATE // 10)), _message)

    def start(self, fill: Fill) -> None:
        try:
            self._proc = self._spawn()
        except OSError as e:
            self._failure = named(self.name, str(e))
            return
        for target, label in ((lambda: self._feed(fill), "feed"), (self._read_errors, "errors")):
            thread = threading.Thread(target=target, daemon=True, name=f"voiceguide-{self.name}-{label}")
            self._threads.append(thread)
            thread.start()
        if "--verbose" in self.command:  # paplay: its first latency report, so the first cue's is known
            end = time.monotonic() + 1.0
            while self._latency is None and self._failure is None and time.monotonic() < end:
                time.sleep(0.005)

    def _feed(self, fill: Fill) -> None:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        _raise_priority(threading.get_native_id(), proc.pid)
        rate = SAMPLE_RATE
        block = np.zeros(BLOCK, dtype=np.int16)
        try:
            start = time.monotonic()
            prefill = round(PREFILL_S * rate) // BLOCK
            for k in range(prefill):  # silence, but a sound due this early still lands in place
                block[:] = 0
                fill(block, start + (k - prefill) * BLOCK / rate - DELAY_S)
                proc.stdin.write(block.tobytes())
            proc.stdin.flush()
            k = 0
            while not self._stop.is_set():
                written_at = start + k * BLOCK / rate
                ahead = written_at - time.monotonic()
                if ahead > 0 and self._stop.wait(ahead):
                    break
                block[:] = 0
                fill(block, written_at - DELAY_S)
                proc.stdin.write(block.tobytes())
                proc.stdin.flush()
                k += 1
        except (OSError, ValueError):
            if not self._stop.is_set():
                proc.wait()
                self._threads[1].join(2)  # its last words
                self._failure = named(self.name, _message(self._err_tail) or f"exit status {proc.returncode}")

    def _read_errors(self) -> None:
        """Keep the player's last messages, and the stream latency paplay --verbose reports."""
        proc = self._proc
        assert proc is not None and proc.stderr is not None
        fd = proc.stderr.fileno()
        reports: collections.deque[float] = collections.deque(maxlen=21)
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            reports.extend(x for m in _LATENCY.finditer(chunk) if (x := int(m[1]) / 1e6) > 0)  # 0: not started
            if reports:  # each report catches the buffer somewhere between two writes: take the middle
                self._latency = statistics.median(reports)
            self._err_tail = (self._err_tail + chunk)[-4096:]

    def latency_s(self) -> float | None:
        return self._latency

    def failure(self) -> str | None:
        return self._failure

    def close(self) -> None:
        self._stop.set()
        proc = self._proc
        for thread in self._threads[:1]:
            thread.join(2)
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError, ValueError):
                    proc.stdin.close()
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for thread in self._threads[1:]:
            thread.join(2)
        if proc is not None and proc.stderr is not None:
            with contextlib.suppress(OSError):
                proc.stderr.close()


_CHATTER = re.compile(rb"Latency: |^(Opening|Connection established|Stream (successfully|started|underrun)|"
                      rb"Buffer metrics|Using sample|Connected to|Playback stream drained|Draining connection|"
                      rb"Got EOF)")


def _message(err: bytes) -> str:
    """The player's last line that is not one of paplay's --verbose progress reports."""
    lines = [x for x in err.replace(b"\r", b"\n").splitlines() if x.strip() and not _CHATTER.search(x.strip())]
    return last_line(b"\n".join(lines)).replace("\x1b[K", "")


# --------------------------------------------------------------------------- PortAudio


class SoundDeviceOutput:
    """A PortAudio output stream (the sounddevice package) that asks for each block itself.

    The device plays its samples at a steady rate, so sample ``n`` is heard at ``origin + n / rate``.
    ``origin`` comes from what PortAudio says with each block (when it will be heard, less its
    position), taken as the median while the stream warms up and then followed slowly, which
    smooths out the jitter of single reports and follows a device clock that runs a little fast
    or slow. The latency is measured while warming up: the most any block was asked for ahead of
    being heard, plus a block, so a block is only filled once every sound due in it is handed
    over. A sound due at ``d`` is heard at ``d + DELAY_S + latency``. Through the ALSA pulse plugin
    the first callbacks come at once and the next ones over a second later: :meth:`start`
    returns once the stream runs steadily.
    """

    name = "sounddevice"

    def __init__(self, warmup_s: float = 0.5, timeout_s: float = 5.0) -> None:
        try:
            self._sd: Any = importlib.import_module("sounddevice")
        except ImportError:
            raise BackendUnavailable("not installed") from None
        except OSError as e:  # the package is there but the PortAudio library is not
            raise BackendUnavailable(f"PortAudio missing ({e})") from None
        try:
            self._sd.check_output_settings(samplerate=SAMPLE_RATE, channels=1, dtype="int16")
        except Exception as e:  # PortAudioError or ValueError when there is no output device
            raise BackendUnavailable(str(e) or "no output device") from None
        self.warmup_s = warmup_s
        self.timeout_s = timeout_s
        self._stream: Any = None
        self._latency: float | None = None
        self._failure: str | None = None
        self._samples = 0
        self._reports: collections.deque[tuple[float, float]] = collections.deque(maxlen=32)
        """The last (origin estimate, time ahead) PortAudio reported while the stream warms up."""
        self._origin: float | None = None

    def _callback(self, fill: Fill, outdata: Any, frames: int, when: Any) -> None:
        now = time.monotonic()
        nominal = float(self._stream.latency) if self._stream is not None else 0.0
        ahead = when.outputBufferDacTime - when.currentTime if when.outputBufferDacTime else nominal
        if not 0 <= ahead < 2:
            ahead = nominal
        estimate = now + ahead - self._samples / SAMPLE_RATE
        block = outdata[:, 0]
        block[:] = 0
        if self._origin is None or self._latency is None:
            self._reports.append((estimate, ahead))
        else:
            self._origin += ORIGIN_SMOOTHING * (estimate - self._origin)
            fill(block, self._origin + self._samples / SAMPLE_RATE - self._latency - DELAY_S)
        self._samples += frames

    def start(self, fill: Fill) -> None:
        try:
            self._stream = self._sd.OutputStream(
                samplerate=SAMPLE_RATE, channels=1, dtype="int16", latency=STREAM_LATENCY_S, blocksize=2 * BLOCK,
                callback=lambda outdata, frames, when, status: self._callback(fill, outdata, frames, when))
            self._stream.start()
        except Exception as e:  # PortAudioError: the device went away between the check and now
            self._failure = named(self.name, str(e) or "could not open an output stream")
            return
        # wait until the device has played warmup_s past its first buffer, then forget the start-up
        needed = round((STREAM_LATENCY_S + self.warmup_s) * SAMPLE_RATE)
        end = time.monotonic() + self.timeout_s
        while self._samples < needed and time.monotonic() < end:
            time.sleep(0.01)
        reports = list(self._reports)
        self._origin = statistics.median(r[0] for r in reports) if reports else time.monotonic()
        self._latency = max((r[1] for r in reports), default=STREAM_LATENCY_S) + 2 * BLOCK / SAMPLE_RATE

    def latency_s(self) -> float | None:
        return self._latency

    def failure(self) -> str | None:
        return self._failure

    def close(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.stop()
                self._stream.close()
            self._stream = None
