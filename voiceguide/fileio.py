"""Atomic output: a file appears whole at its path, or not at all.

Temporaries are written beside their target under a name that holds the writing process's id
(``.NAME.PID-XXXX.part``), so what a killed run left behind is recognised, by a process id that
no longer runs, and removed by the next run that writes in that folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from voiceguide.errors import OutputPathError
from voiceguide.signals import stops_held

STDOUT = "-"
"""The output name that means standard output."""


def is_stdout(path: Path | str) -> bool:
    """True for ``-``, the name that means standard output."""
    return str(path) == STDOUT


def is_special(path: Path) -> bool:
    """True when ``path`` is (or links to) something written into rather than replaced: standard
    output (``-``), a FIFO, a device or a socket."""
    if is_stdout(path):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_output_path(path: Path) -> Path:
    """Fail early, with a clear line, if ``path`` cannot be written."""
    if is_stdout(path):
        return path
    try:
        mode: int | None = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as e:
        raise OutputPathError(f"{_short(path)}: cannot write there ({e.strerror or e})") from e
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputPathError(f"{path}: is a folder; give a file name")
    if mode is not None and not stat.S_ISREG(mode):
        if not os.access(path, os.W_OK):
            raise OutputPathError(f"{path}: cannot write there (not writable)")
        return path
    target = _target(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise OutputPathError(f"{path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"{path}: the folder {parent} is not writable")
    if len(target.name.encode()) + _TEMPORARY_EXTRA > _name_max(parent):
        raise OutputPathError(f"{_short(path)}: the file name is too long")
    return path


_TEMPORARY_EXTRA = 32
"""What a temporary's name adds to its target's: a dot, the process id, a random part, '.part'."""


def _short(path: Path) -> str:
    """A path as said in a message: a very long one is shortened to keep the message one line."""
    text = str(path)
    return text if len(text) <= 80 else f"{text[:60]}...{text[-17:]}"


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _target(path: Path) -> Path:
    """The file a regular output really replaces: the end of its symlinks (the links stay links)."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


@contextlib.contextmanager
def staged_outputs(paths: Sequence[Path]) -> Iterator[list[Path]]:
    """Yield one temporary path per output; move them all into place only if the block succeeds.

    Every target is checked before the block runs. Temporaries of regular files are written beside
    their targets and renamed in together at the end; standard output, FIFOs and devices are
    written into (first, so a refusal there leaves every other target untouched), never replaced.
    On any exception (Ctrl-C included) every temporary is removed and every target is untouched.
    """
    for path in paths:
        check_output_path(path)
    targets = [os.path.realpath(path) for path in paths if not is_stdout(path)]
    if len(set(targets)) < len(targets):
        raise OutputPathError(f"{', '.join(map(str, paths))}: one file is named for two outputs; give each its own")
    temps: list[Path] = []
    private: Path | None = None
    try:
        try:
            for path in paths:
                with stops_held():  # each temporary is noted for the clean-up as it is made
                    if is_special(path):
                        private = private or Path(tempfile.mkdtemp(prefix="voiceguide-"))
                        temps.append(private / f"{len(temps)}.part")
                        temps[-1].touch()
                    else:
                        remove_stale_temporaries(_target(path).parent)
                        temps.append(make_temporary(_target(path)))
            yield temps
            for tmp, path in zip(temps, paths, strict=True):
                if is_special(path):
                    _write_into(path, tmp)
            with stops_held():  # the renames are quick; an interrupt must not land between two of them
                _rename_all([(tmp, path) for tmp, path in zip(temps, paths, strict=True) if not is_special(path)])
        except OSError as e:
            failed = e.filename if isinstance(e.filename, str) and not e.filename.endswith(".part") else None
            raise OutputPathError(f"{_short(Path(failed)) if failed else ', '.join(map(str, paths))}: "
                                  f"cannot write there ({e.strerror or e})") from e
    finally:
        for tmp in temps:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; put it in place only if the block succeeds
    (see :func:`staged_outputs`)."""
    with staged_outputs([path]) as (tmp,):
        yield tmp


def _rename_all(moves: list[tuple[Path, Path]]) -> None:
    """Rename each temporary over its target; if one rename fails, put back the ones already done."""
    done: list[tuple[Path, Path | None]] = []
    try:
        for tmp, path in moves:
            target = _target(path)
            keep: Path | None = None
            if len(moves) > 1 and os.path.isfile(target):
                keep = make_temporary(target)
                keep.unlink()
                os.link(target, keep)  # the old file, to put back if a later rename fails
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
            done.append((target, keep))
    except OSError:
        for target, keep in reversed(done):
            with contextlib.suppress(OSError):
                if keep is not None:
                    os.replace(keep, target)
                else:
                    os.unlink(target)
        raise
    finally:
        for _, keep in done:
            if keep is not None:
                with contextlib.suppress(OSError):
                    os.unlink(keep)


def _write_into(path: Path, source: Path) -> None:
    """Copy ``source`` into standard output, a FIFO or a device, without replacing it.

    A FIFO is opened without waiting: one that nobody reads is refused, not waited on.
    """
    if is_stdout(path):
        stream = sys.stdout.buffer
        with open(source, "rb") as f:
            while chunk := f.read(1 << 16):
                stream.write(chunk)
        stream.flush()
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise OutputPathError(f"{path}: is a FIFO that nobody is reading; start its reader first") from e
        raise
    try:
        os.set_blocking(fd, True)
        with open(source, "rb") as f:
            while chunk := f.read(1 << 16):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
    finally:
        os.close(fd)


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


def not_a_regular_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file (a FIFO would block, a device never ends), or None."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        return e.strerror or str(e)
    if stat.S_ISREG(mode):
        return None
    kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
    return f"it is {kind}, not a file"


def read_regular(path: Path, limit: int = -1) -> bytes:
    """The bytes of a regular file (at most ``limit``); anything else (a FIFO, a device) raises
    OSError at once instead of blocking or reading forever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        # asking for the whole limit would allocate it (80 MB for a clip) on every read: ask for
        # the file's size and one byte more, and for the rest only if it grew meanwhile
        want = limit if limit < 0 else min(limit, info.st_size + 1)
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(want)
            if 0 <= want < limit and len(data) == want:
                data += f.read(limit - want)
            return data
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
