"""Players of prepared sound files, for platforms without a stream to write into (afplay, winsound).

Every sound becomes a WAV file before the session (:meth:`prepare`), so a cue costs starting a
player, not writing a file. These players start a little after their cue and cannot report when
they are heard; on Linux the stream backends (:mod:`~voiceguide.live.stream`) are used instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voiceguide.live.sinks import (
    BackendUnavailable,
    NoAudioDeviceError,
    Pcm,
    hint,
    last_line,
    named,
    probe_player,
    wav_bytes,
)
from voiceguide.voice.speech import SAMPLE_RATE

FILE_PLAYERS: dict[str, list[str]] = {"afplay": ["afplay"]}
"""System players that take a WAV file path."""


class _Files:
    """WAV files in a folder of their own, one per distinct sound."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="voiceguide-live-"))
        self._paths: dict[str, Path] = {}

    def path_for(self, pcm: Pcm) -> Path:
        data = wav_bytes(pcm)
        key = hashlib.blake2b(data, digest_size=12).hexdigest()
        if key not in self._paths:
            path = self.folder / f"{key}.wav"
            path.write_bytes(data)
            self._paths[key] = path
        return self._paths[key]

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class _FilePlayback:
    """What the players of prepared files share: every sound written as a WAV before the session."""

    _files: _Files

    def prepare(self, sounds: Sequence[Pcm]) -> None:
        """Write the WAV files ahead of time."""
        for pcm in sounds:
            self._files.path_for(pcm)

    def start(self) -> None:
        """Nothing to start: each sound starts its own player."""


class SubprocessSink(_FilePlayback):
    """A system player process per sound, given a WAV file written ahead of time.

    A player that fails is noted and reported by :meth:`check`; one killed by :meth:`stop` is not.
    """

    def __init__(self, name: str, command: Sequence[str], probe_timeout_s: float = 5.0) -> None:
        self.name = name
        self.command = list(command)
        self._lock = threading.Lock()
        self._playing: list[subprocess.Popen[bytes]] = []
        self._stopped: set[int] = set()
        self._failure: str | None = None
        self._closed = False
        self._reaped: queue.SimpleQueue[subprocess.Popen[bytes] | None] = queue.SimpleQueue()
        self._files = _Files()
        self._reaper: threading.Thread | None = None
        try:
            self._probe(probe_timeout_s)
            self._reaper = threading.Thread(target=self._reap, daemon=True, name=f"voiceguide-{name}-reaper")
            self._reaper.start()
        except BaseException:
            self.close()
            raise

    def _spawn(self, path: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command + [str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)

    def _probe(self, timeout_s: float) -> None:
        """Play 50 ms of silence: a player that cannot reach a device says so here, before the session."""
        silence = self._files.path_for(np.zeros(SAMPLE_RATE // 20, dtype=np.int16))
        probe_player(lambda: self._spawn(silence), timeout_s)

    def play(self, pcm: Pcm, at: float | None = None) -> float | None:
        proc = self._spawn(self._files.path_for(pcm))
        with self._lock:
            self._playing.append(proc)
        self._reaped.put(proc)
        return None

    def _reap(self) -> None:
        """Wait for players in turn (they end in the order they began) and note a failure."""
        while (proc := self._reaped.get()) is not None:
            err = b""
            if proc.stderr is not None:
                with contextlib.suppress(OSError, ValueError):
                    err = proc.stderr.read()
                    proc.stderr.close()
            code = proc.wait()
            with self._lock:
                self._playing.remove(proc)
                stopped = proc.pid in self._stopped
                self._stopped.discard(proc.pid)
                if code != 0 and not stopped and not self._closed and self._failure is None:
                    self._failure = named(self.name, last_line(err) or f"exit status {code}")

    def stop(self) -> None:
        with self._lock:
            for proc in self._playing:
                self._stopped.add(proc.pid)
                with contextlib.suppress(OSError):
                    proc.kill()

    def check(self) -> None:
        if self._failure is not None:
            raise NoAudioDeviceError(hint(f"audio playback failed ({self._failure})"))

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.stop()
        self._reaped.put(None)
        if self._reaper is not None:
            self._reaper.join(2)
        self._files.remove()


class WinsoundSink(_FilePlayback):
    """Windows' built-in player: asynchronous PlaySound of WAV files written ahead of time."""

    name = "winsound"

    def __init__(self) -> None:
        if os.name != "nt":
            raise BackendUnavailable("only on Windows")
        self._ws: Any = importlib.import_module("winsound")
        self._files = _Files()
        try:
            self._ws.PlaySound(str(self._files.path_for(np.zeros(SAMPLE_RATE // 20, dtype=np.int16))),
                               self._ws.SND_FILENAME | self._ws.SND_NODEFAULT)
        except RuntimeError as e:
            self.close()
            raise BackendUnavailable(str(e)) from None

    def play(self, pcm: Pcm, at: float | None = None) -> float | None:
        flags = self._ws.SND_FILENAME | self._ws.SND_ASYNC | self._ws.SND_NODEFAULT
        self._ws.PlaySound(str(self._files.path_for(pcm)), flags)
        return None

    def stop(self) -> None:
        self._ws.PlaySound(None, 0)

    def check(self) -> None:
        pass

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop()
        self._files.remove()
