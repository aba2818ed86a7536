"""Signals during a parallel pack build: the parent's one line is the only message.

Its workers (and their speech engines) end quietly whenever the parent is interrupted or killed:
no tracebacks, no broken-pipe floods, no leaked-semaphore warning, no temporaries left.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .processes import group_ends, group_members, kill_started, needs_proc, start, temporaries, wait_until
from .test_signals import LONG_PACK, started, tone_env

pytestmark = [needs_proc, pytest.mark.ffmpeg]
URL = "http://localhost:8000/"


@pytest.fixture(autouse=True)
def _no_survivors() -> Iterator[None]:
    yield
    kill_started()


def signalled(tmp_path: Path, moment: str, sig: int, whole_group: bool,
              ignored: tuple[int, ...] = ()) -> tuple[subprocess.Popen[str], str]:
    (tmp_path / "pack.yaml").write_text(yaml.safe_dump(LONG_PACK))
    proc = start(["pack", "build", "pack.yaml", "-o", "pk", "-j", "2", "--base-url", URL], tmp_path, ignored,
                 **tone_env(tmp_path))
    if moment == "starting":  # as soon as a worker process exists: most likely still importing
        assert wait_until(lambda: len(group_members(proc.pid)) >= 3 or proc.poll() is not None, 120)
    else:
        started(proc, tmp_path / "pk")
    if whole_group:
        os.killpg(proc.pid, sig)  # what Ctrl-C in a terminal does
    else:
        os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    return proc, err


CASES = [
    ("SIGINT", True), ("SIGTERM", False), ("SIGHUP", False), ("SIGTERM", True), ("SIGKILL", False),
]


@pytest.mark.parametrize("moment", ["starting", "encoding"])
@pytest.mark.parametrize(("name", "whole_group"), CASES)
def test_a_signalled_pack_build_ends_quietly_and_cleanly(tmp_path: Path, moment: str, name: str,
                                                         whole_group: bool) -> None:
    sig = getattr(signal, name)
    proc, err = signalled(tmp_path, moment, sig, whole_group)
    assert proc.returncode != 0
    assert group_ends(proc.pid, 60) == []
    lines = [line for line in err.splitlines() if line.strip()]
    if sig == signal.SIGKILL:
        assert lines == [], err  # the workers have nobody to tell; they clean up and leave
    elif sig == signal.SIGINT:
        assert lines == ["Aborted!"]
    else:
        assert lines == [f"Stopped by {name}; nothing half-written was kept."]
    assert temporaries(tmp_path / "pk") == [] if (tmp_path / "pk").exists() else True


def test_a_build_started_with_sighup_ignored_keeps_ignoring_it(tmp_path: Path) -> None:
    """As under ``nohup``: a hang-up does not stop the build; SIGTERM still does."""
    (tmp_path / "pack.yaml").write_text(yaml.safe_dump(LONG_PACK))
    proc = start(["pack", "build", "pack.yaml", "-o", "pk", "-j", "2", "--base-url", URL], tmp_path, (signal.SIGHUP,),
                 **tone_env(tmp_path))
    started(proc, tmp_path / "pk")
    os.killpg(proc.pid, signal.SIGHUP)
    assert not wait_until(lambda: proc.poll() is not None, 2)  # still building
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines()[-1] == "Stopped by SIGTERM; nothing half-written was kept."
    assert "Traceback" not in err
    assert group_ends(proc.pid, 60) == []
