"""Files that are not YAML files: pipes, devices, folders, symlink loops, huge files, raw NULs
(issue 10, items 9 and 12). Each is refused in one line with the real reason, without waiting
and without reading more than the size limit."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from voiceguide.cli import main

from .conftest import FIXTURES

HOSTILE = FIXTURES / "hostile"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"VOICEGUIDE_ENGINE": "tone"})
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def invoke_without_waiting_on(path: Path, *args: str) -> tuple[int, str]:
    """:func:`invoke`, failing (not hanging the suite) if the command blocks on ``path``.

    A pipe with no writer blocks whoever opens it to read; if the command does, the pipe is opened
    for writing and closed, which lets it go, and the test fails.
    """
    done: list[tuple[int, str]] = []
    thread = threading.Thread(target=lambda: done.append(invoke(*args)), daemon=True)
    thread.start()
    thread.join(120)  # only a command stuck on the path takes this long, however busy the machine
    if thread.is_alive():
        if stat.S_ISFIFO(os.lstat(path).st_mode):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(30)
        pytest.fail(f"{' '.join(args)} waited on {path.name} instead of refusing it")
    return done[0]


def hostile(tmp_path: Path, kind: str) -> Path:
    """A path of the given kind in ``tmp_path``, named like a YAML file."""
    path = tmp_path / f"{kind}.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "loop":
        os.symlink(tmp_path / "loop-b.yaml", path)
        os.symlink(path, tmp_path / "loop-b.yaml")
    elif kind == "huge":
        with open(path, "wb") as f:
            f.truncate(8 * 1024**3)  # sparse: 8 GB long, nothing on disk
    return path


REASONS = {
    "fifo": "is not a regular file (a pipe, device or socket); give a YAML file",
    "folder": "is a folder, not a YAML file",
    "loop": "cannot read file (a loop of symbolic links)",
    "huge": "file is larger than 1000 kB",
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX pipes and symlinks")
@pytest.mark.parametrize("command", [["check"], ["pack", "check"], ["script"], ["render"]])
@pytest.mark.parametrize("kind", sorted(REASONS))
def test_a_path_that_is_not_a_file_is_refused_with_the_reason(tmp_path: Path, kind: str,
                                                              command: list[str]) -> None:
    path = hostile(tmp_path, kind)
    code, output = invoke_without_waiting_on(path, *command, str(path))
    assert code == 1
    assert output.strip().splitlines() == [f"Error: {path}: {REASONS[kind]}"]


def test_dev_zero_is_refused_without_reading_it() -> None:
    # in a child with a memory cap: reading /dev/zero to the end would hit the cap and fail
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30));"
            "from voiceguide.cli import run; sys.argv = ['voiceguide', 'check', '/dev/zero']; run()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [f"Error: /dev/zero: {REASONS['fifo']}"]


@pytest.mark.parametrize("command", [["check"], ["script"]])
def test_a_raw_nul_in_yaml_is_one_line_with_its_line_number(command: list[str]) -> None:
    path = HOSTILE / "raw-nul.yaml"
    code, output = invoke(*command, str(path))
    assert code == 1
    assert output.strip().splitlines() == [
        f"Error: {path}:3: invalid YAML: the character U+0000 is not allowed (control characters are not allowed)"]


def test_a_missing_file_is_still_called_missing(tmp_path: Path) -> None:
    code, output = invoke("render", str(tmp_path / "nothing.yaml"))
    assert code == 1 and output.strip() == f"Error: {tmp_path / 'nothing.yaml'}: no such routine file"
