"""SIGTERM and SIGHUP stop voiceguide the way Ctrl-C does.

Without a handler they end the process on the spot: no ``finally`` runs, so temporaries stay,
children (pack workers, speech engines, ffmpeg) live on, and a pack's feed no longer matches its
files. Raising :class:`Terminated` (a ``KeyboardInterrupt``) instead runs the same clean-up as
Ctrl-C, and the command line reports it in one line.
"""

from __future__ import annotations

import signal
import threading
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
