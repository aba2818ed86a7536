"""Single keys from a terminal, posted to the scheduler as commands (space, n, p, q)."""

from __future__ import annotations

import importlib
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from voiceguide.live.scheduler import Command

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
