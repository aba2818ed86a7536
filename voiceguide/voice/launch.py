"""Starting a speech worker process: a fresh interpreter that imports only what its engine needs.

``multiprocessing``'s spawn start method also starts a resource-tracker process and imports the
parent's main module (the whole command line) in every worker. A worker for eSpeak NG needs
neither: started here on POSIX as a plain child interpreter with one socket to its parent, it
holds about 25 MB instead of 40, starts sooner, and the lines it forks are as small. Elsewhere
(Windows) the spawn start method is used. Both speak the same ``multiprocessing.connection``
protocol, so :class:`voiceguide.voice.pool.SynthesisPool` sees no difference.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any, Protocol

CHILD_CODE = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[2]); "
    "from voiceguide.voice.launch import child_main; child_main(int(sys.argv[1]))"
)
"""What a worker interpreter runs: the parent's import path first, so the engine's module is found."""
SPAWN_ONLY = os.name != "posix"
"""Start workers with ``multiprocessing``'s spawn method (where a socket cannot be handed to a child)."""


class WorkerProcess(Protocol):
    """What the pool needs of a worker process (a ``multiprocessing.Process`` has all of it)."""

    @property
    def exitcode(self) -> int | None: ...

    def kill(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...

    def is_alive(self) -> bool: ...


class ChildProcess:
    """A worker interpreter started by :func:`start_worker`, with ``multiprocessing.Process``'s manners."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid = popen.pid

    @property
    def exitcode(self) -> int | None:
        """None while it runs; its exit status, or minus the signal that ended it."""
        return self._popen.poll()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self._popen.kill()

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout)

    def is_alive(self) -> bool:
        return self._popen.poll() is None


def start_worker(
    target: Callable[..., None], args: tuple[Any, ...]
) -> tuple[WorkerProcess, multiprocessing.connection.Connection]:
    """Start ``target(connection, *args)`` in a new process; return it and the parent's end of the connection.

    The caller holds the stop signals back meanwhile (see :func:`voiceguide.signals.children_start_deaf`):
    a child inherits the blocked mask and lets them through once its own handlers are set.
    """
    if SPAWN_ONLY:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(target=target, args=(child, *args), daemon=True)
        process.start()
        child.close()
        return process, parent
    ours, theirs = socket.socketpair()
    try:
        popen = subprocess.Popen(
            [sys.executable, *subprocess._args_from_interpreter_flags(), "-c", CHILD_CODE,  # type: ignore[attr-defined]
             str(theirs.fileno()), json.dumps(sys.path)],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    connection = multiprocessing.connection.Connection(ours.detach())
    connection.send((target, args))  # pickled by reference: the child imports their modules
    return ChildProcess(popen), connection


def child_main(fd: int) -> None:
    """A worker interpreter's whole life: learn what to run from the parent, then run it."""
    connection = multiprocessing.connection.Connection(fd)
    try:
        target, args = connection.recv()
    except (EOFError, OSError):  # the parent is gone before it said anything
        return
    except Exception as e:  # its engine's module cannot be imported here
        with contextlib.suppress(OSError):
            connection.send(("error", f"the speech worker cannot load its engine ({type(e).__name__}: {e})"))
        return
    target(connection, *args)
    # nothing is left to flush or finish: ending here spares the parent waiting while the
    # interpreter tears its modules down
    os._exit(0)
