"""A user's own files are never deleted or replaced, whatever the command and however it fails.

Real files, devices, FIFOs and symlinks, and a real full filesystem (a small tmpfs mounted for the
test, unmounted after it).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from voiceguide.errors import PackBuildError, SpeechEngineError

from .fake_engines import BrokenStartEngine
from .test_pack import SMALL_PACK, build, write_pack

URL = "http://localhost:8000/"
needs_root = pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0,
                                reason="device nodes and mounts need root")


def run(args: list[str], cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(cwd / "cache"), "VOICEGUIDE_ENGINE": "tone", **env}
    return subprocess.run([sys.executable, "-m", "voiceguide", *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=timeout, check=False)


def temporaries(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if p.name.endswith((".part", ".parts")))


def one_clean_line(err: str) -> None:
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


@contextlib.contextmanager
def full_filesystem(where: Path) -> Iterator[Path]:
    """A tiny tmpfs mounted at ``where`` and filled to the last byte; unmounted afterwards."""
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)],
                          capture_output=True, check=False, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        (where / "old.txt").write_text("the user's old file\n")
        with contextlib.suppress(OSError), open(where / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False, timeout=30)


# --------------------------------------------------------------------------- 1: cache clear


def test_cache_clear_refuses_a_folder_of_the_users_own_files(tmp_path: Path) -> None:
    user = tmp_path / "mine"
    (user / "notes").mkdir(parents=True)
    (user / "notes" / "todo.txt").write_text("buy milk\n")
    (user / "settings.json").write_text("{}\n")
    out = run(["cache", "clear"], tmp_path, VOICEGUIDE_CACHE_DIR=str(user))
    assert out.returncode == 1
    assert "not a voiceguide clip cache" in out.stderr
    one_clean_line(out.stderr)
    assert (user / "notes" / "todo.txt").read_text() == "buy milk\n"
    assert (user / "settings.json").read_text() == "{}\n"


def test_a_cache_whose_first_file_is_the_encoder_measurement_is_still_tagged(tmp_path: Path) -> None:
    """A folder holding nothing but what the cache writes (here the encoder measurement) is still
    new: it is marked as the cache's own when the first clip arrives, and cleared; a folder of the
    user's own files never is."""
    import numpy as np

    from voiceguide.sound.audio import ENCODER_GAIN_FILE
    from voiceguide.voice.speech import CACHE_TAG, Clip, ClipCache

    clip = Clip(np.arange(-100, 100, dtype=np.int16), np.array([0.5], dtype=np.float32), 0.125)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ENCODER_GAIN_FILE).write_text("{}")
    assert ClipCache(cache).put("ab" * 32, clip)
    assert (cache / CACHE_TAG).is_file()
    ClipCache(cache).clear()
    assert [p.name for p in cache.rglob("*") if p.is_file()] == [CACHE_TAG]  # the clip and the measurement went
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine\n")
    ClipCache(theirs).put("cd" * 32, clip)
    assert not (theirs / CACHE_TAG).exists()  # a folder of the user's own is never claimed


def test_cache_clear_removes_only_what_the_cache_wrote(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert run(["render", "cat-cow", "-o", "x.mp3"], tmp_path).returncode == 0
    assert list(cache.glob("*/*.clip"))
    (cache / "mine.txt").write_text("keep me\n")
    shard = next(cache.glob("[0-9a-f][0-9a-f]"))
    (shard / "photo.jpg").write_bytes(b"\xff\xd8")
    (shard / "deadbeef.clip").write_bytes(b"not a name the cache uses")
    out = run(["cache", "clear"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert not list(cache.glob("*/" + "[0-9a-f]" * 64 + ".clip"))
    assert (cache / "mine.txt").read_text() == "keep me\n"
    assert (shard / "photo.jpg").read_bytes() == b"\xff\xd8"
    assert (shard / "deadbeef.clip").exists()


# --------------------------------------------------------------------------- 2: a manifest's slugs


@pytest.mark.parametrize("slug", ["../../victim", "/tmp/victim", "01-a/../../../victim"])
def test_a_manifest_cannot_reach_outside_its_pack(tmp_path: Path, slug: str) -> None:
    data = dict(SMALL_PACK, episodes=SMALL_PACK["episodes"][:1])
    write_pack(tmp_path, data)
    assert run(["pack", "build", "pack.yaml", "-o", "a/b/pk", "-j", "1", "--base-url", URL], tmp_path).returncode == 0
    manifest = tmp_path / "a/b/pk/.voiceguide-pack.json"
    record = json.loads(manifest.read_text())
    record["episodes"].append({**record["episodes"][0], "slug": slug, "guid": "other", "number": 9})
    manifest.write_text(json.dumps(record))
    victim = (tmp_path / "a/b/pk/episodes" / slug).with_suffix(".mp3") if not slug.startswith("/") else None
    victim = tmp_path / "a/victim.mp3" if victim is None else victim
    victim.parent.mkdir(parents=True, exist_ok=True)
    victim.write_bytes(b"the user's own mp3")
    before = sorted(p.name for p in (tmp_path / "a/b/pk").rglob("*"))
    out = run(["pack", "build", "pack.yaml", "-o", "a/b/pk", "-j", "1", "--base-url", URL], tmp_path)
    assert out.returncode == 1
    assert ".voiceguide-pack.json" in out.stderr and "slug" in out.stderr
    one_clean_line(out.stderr)
    assert victim.read_bytes() == b"the user's own mp3"
    assert sorted(p.name for p in (tmp_path / "a/b/pk").rglob("*")) == before


@pytest.mark.parametrize(("field", "value"), [("duration_s", "long"), ("size", True), ("chapters", 3),
                                              ("extra", 1), ("number", -4)])
def test_a_manifest_with_wrong_values_is_reported_not_a_traceback(tmp_path: Path, field: str, value: object) -> None:
    write_pack(tmp_path, dict(SMALL_PACK, episodes=SMALL_PACK["episodes"][:1]))
    assert run(["pack", "build", "pack.yaml", "-o", "pk", "-j", "1", "--base-url", URL], tmp_path).returncode == 0
    manifest = tmp_path / "pk/.voiceguide-pack.json"
    record = json.loads(manifest.read_text())
    record["episodes"][0][field] = value
    manifest.write_text(json.dumps(record))
    out = run(["pack", "build", "pack.yaml", "-o", "pk", "-j", "1", "--force", "--base-url", URL], tmp_path)
    assert out.returncode == 1
    assert f"episodes[0].{field}" in out.stderr
    one_clean_line(out.stderr)


# --------------------------------------------------------------------------- 3: -o onto what is not a file

WRITERS = {
    "render": ["render", "cat-cow", "-o"],
    "script": ["script", "cat-cow", "-o"],
    "make": ["make", "--focus", "neck", "--minutes", "5", "--seed", "1", "-o"],
}


@needs_root
@pytest.mark.parametrize("command", sorted(WRITERS))
def test_a_device_is_written_into_or_refused_never_replaced(tmp_path: Path, command: str) -> None:
    node = tmp_path / "full.mp3"
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # /dev/full's own node
    out = run([*WRITERS[command], str(node)], tmp_path)
    assert out.returncode == 1
    assert "No space left on device" in out.stderr
    one_clean_line(out.stderr)
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert temporaries(tmp_path) == []


def read_fifo(fifo: Path, into: list[bytes]) -> threading.Thread:
    def reader() -> None:
        with open(fifo, "rb") as f:
            into.append(f.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_a_fifo_is_written_into_never_replaced(tmp_path: Path, command: str) -> None:
    fifo = tmp_path / "pipe.mp3"
    os.mkfifo(fifo)
    got: list[bytes] = []
    thread = read_fifo(fifo, got)
    try:
        out = run([*WRITERS[command], str(fifo)], tmp_path)
    finally:
        if thread.is_alive():  # release a reader still waiting (the test fails below)
            with contextlib.suppress(OSError), open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "wb"):
                pass
        thread.join(timeout=30)
    assert out.returncode == 0, out.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got and len(got[0]) > 100
    assert got[0].startswith(b"ID3") if command == "render" else b"cat" in got[0].lower() or b"neck" in got[0].lower()


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_a_fifo_nobody_reads_is_refused_without_waiting(tmp_path: Path, command: str) -> None:
    fifo = tmp_path / "pipe.mp3"
    os.mkfifo(fifo)
    out = run([*WRITERS[command], str(fifo)], tmp_path, timeout=120)
    assert out.returncode == 1
    assert "nobody is reading" in out.stderr
    one_clean_line(out.stderr)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_a_symlink_to_standard_output_stays_a_symlink(tmp_path: Path, command: str) -> None:
    link = tmp_path / "out.mp3"
    link.symlink_to("/proc/self/fd/1")
    full = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(tmp_path / "cache"), "VOICEGUIDE_ENGINE": "tone"}
    done = subprocess.run([sys.executable, "-m", "voiceguide", *WRITERS[command], str(link)], cwd=tmp_path,
                          env=full, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert os.readlink(link) == "/proc/self/fd/1"
    assert len(done.stdout) > 100
    assert done.stdout.startswith(b"ID3") if command == "render" else b"\n" in done.stdout


def test_a_symlink_to_a_file_keeps_the_link_and_replaces_the_file(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "cat-cow.txt"
    target.write_text("old")
    (tmp_path / "link.txt").symlink_to(target)
    assert run(["script", "cat-cow", "-o", "link.txt"], tmp_path).returncode == 0
    assert (tmp_path / "link.txt").is_symlink()
    assert "Cat-Cow" in target.read_text()


@pytest.mark.parametrize("command", ["render", "script"])
def test_dash_means_standard_output(tmp_path: Path, command: str) -> None:
    full = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(tmp_path / "cache"), "VOICEGUIDE_ENGINE": "tone"}
    done = subprocess.run([sys.executable, "-m", "voiceguide", *WRITERS[command], "-"], cwd=tmp_path,
                          env=full, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "-").exists()
    assert done.stdout.startswith(b"ID3") if command == "render" else done.stdout.startswith(b"Cat-Cow")


# --------------------------------------------------------------------------- 4: all outputs or none


@needs_root
@pytest.mark.parametrize("which", ["--timeline", "--captions"])
def test_a_render_that_cannot_write_one_output_keeps_the_old_mp3(tmp_path: Path, which: str) -> None:
    (tmp_path / "old.mp3").write_bytes(b"the good old session")
    with full_filesystem(tmp_path / "full") as full:
        extra = full / ("t.json" if which == "--timeline" else "c.vtt")
        out = run(["render", "cat-cow", "-o", "old.mp3", which, str(extra)], tmp_path)
        assert out.returncode == 1
        assert "No space left on device" in out.stderr
        one_clean_line(out.stderr)
        assert not extra.exists()
        assert temporaries(full) == []
    assert (tmp_path / "old.mp3").read_bytes() == b"the good old session"
    assert temporaries(tmp_path) == []


def test_every_target_is_checked_before_the_work_starts(tmp_path: Path) -> None:
    (tmp_path / "old.mp3").write_bytes(b"the good old session")
    out = run(["render", "cat-cow", "-o", "old.mp3", "--captions", "nowhere/c.vtt"], tmp_path)
    assert out.returncode == 1 and "does not exist" in out.stderr
    assert not (tmp_path / "cache").exists()  # refused before a line was spoken
    assert (tmp_path / "old.mp3").read_bytes() == b"the good old session"


def test_one_file_named_for_two_outputs_is_refused(tmp_path: Path) -> None:
    out = run(["render", "cat-cow", "-o", "x.mp3", "--timeline", "x.json", "--captions", "x.vtt"], tmp_path)
    assert out.returncode == 0, out.stderr
    (tmp_path / "y.json").symlink_to("x.json")
    (tmp_path / "z.vtt").symlink_to("x.json")
    out = run(["render", "cat-cow", "-o", "x.mp3", "--timeline", "y.json", "--captions", "z.vtt"], tmp_path)
    assert out.returncode == 1 and "named for two outputs" in out.stderr


@needs_root
@pytest.mark.parametrize("command", ["script", "make"])
def test_a_full_disk_keeps_the_old_file(tmp_path: Path, command: str) -> None:
    with full_filesystem(tmp_path / "full") as full:
        out = run([*WRITERS[command], str(full / "old.txt")], tmp_path)
        assert out.returncode == 1
        assert "No space left on device" in out.stderr
        one_clean_line(out.stderr)
        assert (full / "old.txt").read_text() == "the user's old file\n"
        assert temporaries(full) == []


@needs_root
def test_a_pack_build_on_a_full_disk_leaves_nothing(tmp_path: Path) -> None:
    write_pack(tmp_path, dict(SMALL_PACK, episodes=SMALL_PACK["episodes"][:1]))
    with full_filesystem(tmp_path / "full") as full:
        out = run(["pack", "build", "pack.yaml", "-o", str(full / "pk"), "-j", "1"], tmp_path)
        assert out.returncode == 1
        assert "Traceback" not in out.stderr
        assert not (full / "pk").exists()
        assert sorted(p.name for p in full.iterdir()) == ["filler", "old.txt"]


# --------------------------------------------------------------------------- 5: a failed first pack build


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_first_pack_build_whose_voice_cannot_load_leaves_nothing(tmp_path: Path, jobs: int,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(tmp_path / "clips"))
    pack_file = write_pack(tmp_path, SMALL_PACK)
    folder = tmp_path / "pk"
    with pytest.raises((PackBuildError, SpeechEngineError)):
        build(pack_file, folder, jobs=jobs, factory=BrokenStartEngine)
    assert not folder.exists()


def test_a_failed_build_into_an_existing_folder_keeps_the_users_files(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(tmp_path / "clips"))
    pack_file = write_pack(tmp_path, SMALL_PACK)
    folder = tmp_path / "pk"
    folder.mkdir()
    (folder / "readme.txt").write_text("mine")
    with pytest.raises((PackBuildError, SpeechEngineError)):
        build(pack_file, folder, jobs=1, factory=BrokenStartEngine)
    assert sorted(p.name for p in folder.iterdir()) == ["readme.txt"]
