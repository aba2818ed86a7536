"""Helpers for tests that run voiceguide as a real process group and signal it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists() or os.name != "posix",
                                reason="process groups are inspected through Linux /proc")


STARTED: list[int] = []
"""Process groups started by :func:`start`, for :func:`kill_started` to clear after each test."""


def default_signals(ignored: tuple[int, ...] = ()) -> Callable[[], None]:
    """For a child: Ctrl-C's and the stop signals at their defaults, whatever the test runner
    inherited (``nohup`` ignores SIGHUP, a shell's background job ignores SIGINT), except those
    asked to be ``ignored``."""
    def reset() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN if sig in ignored else signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())

    return reset


def start(args: list[str], cwd: Path, ignored: tuple[int, ...] = (), **env: str) -> subprocess.Popen[str]:
    """``voiceguide ARGS`` as the leader of a new process group (its children join the group),
    with the signals as a terminal would give them, not as the test runner got them."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "voiceguide", *args], cwd=cwd, env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=default_signals(ignored),
    )
    STARTED.append(proc.pid)
    return proc


def kill_started() -> None:
    """Kill whatever is left of the groups a test started (after its assertions, pass or fail)."""
    while STARTED:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(STARTED.pop(), signal.SIGKILL)


def group_members(pgid: int) -> list[str]:
    """The live (not zombie) processes of a process group, as 'pid command'."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name_end = stat.rindex(")")
        fields = stat[name_end + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(f"{entry.name} {stat[stat.index('(') + 1 : name_end]}")
    return members


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def group_ends(pgid: int, timeout: float = 30) -> list[str]:
    """Wait for every process of the group to end; return those still running after ``timeout``."""
    wait_until(lambda: not group_members(pgid), timeout, 0.1)
    return group_members(pgid)


def temporaries(folder: Path) -> list[str]:
    """Everything under ``folder`` a run writes only while it runs (temporary files and folders)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.name.endswith((".part", ".parts")) or p.name.startswith("tmp"))
