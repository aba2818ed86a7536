"""Atomic output: a file appears whole at its path, or not at all.

Temporaries are written beside their target under a name that holds the writing process's id
(``.NAME.PID-XXXX.part``), so what a killed run left behind is recognised, by a process id that
no longer runs, and removed by the next run that writes in that folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from voiceguide.errors import OutputPathError


def check_output_path(path: Path) -> Path:
    """Fail early, with a clear line, if ``path`` cannot be written."""
    if path.is_dir():
        raise OutputPathError(f"{path}: is a folder; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputPathError(f"{path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"{path}: the folder {parent} is not writable")
    return path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    On any exception (Ctrl-C included) the temporary file is removed and the target is untouched.
    """
    check_output_path(path)
    remove_stale_temporaries(path.parent)
    tmp: Path | None = None
    try:
        tmp = make_temporary(path)
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise OutputPathError(f"{path}: cannot write there ({e.strerror or e})") from e
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


_TEMPORARY = re.compile(r"^\..+\.(\d+)-[A-Za-z0-9_]+\.(part|parts)$")


def make_temporary(path: Path, directory: bool = False) -> Path:
    """Create an empty temporary file (or folder) beside ``path``, named for this process."""
    where = str(path.parent) if str(path.parent) else "."
    prefix, suffix = f".{path.name}.{os.getpid()}-", ".parts" if directory else ".part"
    if directory:
        return Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=where))
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=where)
    os.close(fd)
    return Path(name)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporaries in ``folder`` whose writing process is gone (a killed run's)."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder if str(folder) else "."))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None or process_alive(int(match[1])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def process_alive(pid: int) -> bool:
    """True if a process with this id runs (one of another user's counts as running)."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # pragma: no cover - no signal 0 there; leave the file to its owner
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
