"""SIGTERM and SIGHUP stop voiceguide the way Ctrl-C does.

Without a handler they end the process on the spot: no ``finally`` runs, so temporaries stay,
children (pack workers, speech engines, ffmpeg) live on, and a pack's feed no longer matches its
files. Raising :class:`Terminated` (a ``KeyboardInterrupt``) instead runs the same clean-up as
Ctrl-C, and the command line reports it in one line.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM or SIGHUP arrives; handled wherever Ctrl-C is."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated(signum)


def stop_like_ctrl_c() -> None:
    """Make SIGTERM and SIGHUP raise :class:`Terminated` in this process's main thread.

    A signal that was ignored when the process started (``nohup``) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _raise_terminated)


STOPPING = (signal.SIGINT, *STOP_SIGNALS)
"""Every signal that stops a command: Ctrl-C's and the stop signals."""


@contextlib.contextmanager
def stops_held() -> Iterator[None]:
    """Hold Ctrl-C and the stop signals back for a short block that must not be cut in two.

    Setting up or tearing down work that leaves something behind (a folder of temporaries and the
    threads writing into it) must happen whole: an interrupt between creating the folder and
    recording it, or between starting a thread and noting it, would leave the folder or the
    thread unknown to the clean-up. A signal that arrives meanwhile is delivered when the block
    ends. Outside the main thread (where no signal handler runs) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    handlers = {sig: signal.getsignal(sig) for sig in STOPPING}
    try:
        for sig, handler in handlers.items():
            if handler not in (signal.SIG_IGN, None):
                signal.signal(sig, lambda signum, frame: pending.append(signum))
        try:
            yield
        finally:
            for sig, handler in handlers.items():
                if handler is not None:
                    signal.signal(sig, handler)
    finally:
        if pending:
            signal.raise_signal(pending[0])


@contextlib.contextmanager
def children_start_deaf() -> Iterator[None]:
    """Start child processes with Ctrl-C and the stop signals held back, in them and in this process.

    A child started with them blocked (the mask survives ``exec``) keeps them pending until it has
    its own handlers and calls :func:`hear_signals`, so a Ctrl-C that lands while it is still
    importing cannot print a traceback or a ``Fatal Python error``. Here a signal that arrives
    meanwhile is kept and delivered when the block ends, so no process is left half-started.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    with stops_held():
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def hear_signals() -> None:
    """In a child started by :func:`children_start_deaf`, once its handlers are set: let the
    signals held back since its start arrive."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPPING)
