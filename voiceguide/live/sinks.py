"""Where live sound goes: system players, sounddevice, winsound, or nowhere.

:func:`open_sink` picks the first backend that can play here (or the one asked for) and
names what each one lacked when none can.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from voiceguide.errors import VoiceguideError
from voiceguide.voice.speech import SAMPLE_RATE

Pcm = npt.NDArray[np.int16]


class NoAudioDeviceError(VoiceguideError):
    """Raised when live narration cannot play sound: no player or audio library is installed,
    the forced --audio-backend is unavailable, no output device exists, or the player fails
    during the session."""


def _hint(detail: str) -> str:
    return f"{detail}; use --no-audio to follow the session as text, or 'voiceguide render' for an MP3"


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
