"""SIGTERM, SIGHUP and SIGKILL sent to real voiceguide process groups (issue 10, items 1 and 2).

SIGTERM and SIGHUP must do what Ctrl-C does: stop every child (pack workers, speech engines,
ffmpeg, the resource tracker), remove temporaries, keep the pack folder true to its files and
exit non-zero with one line. What a SIGKILLed run leaves is removed by the next run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest
import yaml

from voiceguide.signals import stops_held

from .processes import group_ends, kill_started, needs_proc, start, temporaries, wait_until

pytestmark = [needs_proc, pytest.mark.ffmpeg]


@pytest.fixture(autouse=True)
def no_process_left() -> Iterator[None]:
    """Whatever a test's processes leave running (when the code under test fails) is killed after it."""
    yield
    kill_started()

LONG_PACK: dict[str, Any] = {
    "id": "long-pack", "title": "Long pack", "description": "Long sessions, to be interrupted.",
    "author": "Test Author", "language": "en", "start_date": "2025-03-01",
    "episodes": [
        {"title": f"Session {n}", "minutes": 20,
         "routine": {"id": f"session-{n}", "title": f"Session {n}",
                     "stretches": ["cat-cow", "childs-pose", "horizontal-back-twist", "knee-to-chest"]}}
        for n in range(1, 5)
    ],
}


def tone_env(tmp_path: Path) -> dict[str, str]:
    return {"VOICEGUIDE_ENGINE": "tone", "VOICEGUIDE_CACHE_DIR": str(tmp_path / "cache")}


def encoding(folder: Path) -> bool:
    """True once an encoder is writing audio somewhere under ``folder``."""
    return any(p.name.endswith(".parts") or (p.name.endswith(".part") and ".mp3." in p.name and p.stat().st_size)
               for p in folder.rglob(".*") if p.exists())


def started(proc: subprocess.Popen[str], folder: Path) -> None:
    """Wait until ``proc`` is encoding into ``folder``."""
    wait_until(lambda: encoding(folder) or proc.poll() is not None, 120)
    assert proc.poll() is None, proc.communicate()[1]
    assert encoding(folder), "it never started encoding"


def assert_pack_consistent(folder: Path) -> None:
    """The feed, the page and the manifest describe exactly the episode files present."""
    manifest = json.loads((folder / ".voiceguide-pack.json").read_text())
    recorded = {e["slug"]: e for e in manifest["episodes"]}
    files = {p.name for p in (folder / "episodes").iterdir()}
    assert files == {f"{slug}{ext}" for slug in recorded for ext in (".mp3", ".vtt", ".chapters.json")}
    for slug, e in recorded.items():
        assert (folder / "episodes" / f"{slug}.mp3").stat().st_size == e["size"]
    feed = feedparser.parse((folder / "feed.xml").read_bytes())
    assert sorted(x.enclosures[0].href.rsplit("/", 1)[1] for x in feed.entries) == sorted(
        f"{slug}.mp3" for slug in recorded)
    for entry in feed.entries:
        mp3 = folder / "episodes" / entry.enclosures[0].href.rsplit("/", 1)[1]
        assert int(entry.enclosures[0].length) == mp3.stat().st_size
    page = (folder / "index.html").read_text()
    assert (folder / "cover.png").is_file() and "cover.png" in page
    for slug in recorded:
        assert f"episodes/{slug}.mp3" in page


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_ends_a_parallel_pack_build_and_all_its_children(tmp_path: Path, sig: int) -> None:
    (tmp_path / "pack.yaml").write_text(yaml.safe_dump(LONG_PACK))
    proc = start(["pack", "build", "pack.yaml", "-o", "pk", "-j", "2"], tmp_path, **tone_env(tmp_path))
    try:
        started(proc, tmp_path / "pk")
        os.kill(proc.pid, sig)  # the main process only, as `kill PID` does
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"Stopped by {signal.Signals(sig).name}; nothing half-written was kept."
    assert group_ends(proc.pid, 30) == []
    if not (tmp_path / "pk" / ".voiceguide-pack.json").exists():
        # stopped before any episode was finished: a first build like that leaves nothing behind
        assert not (tmp_path / "pk").exists()
        return
    assert temporaries(tmp_path / "pk") == []
    assert_pack_consistent(tmp_path / "pk")
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "pk" / "episodes").iterdir()}
    time.sleep(2)  # nothing writes to the folder after the build stopped
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "pk" / "episodes").iterdir()} == before


def test_sigterm_while_encoding_a_render_leaves_nothing(tmp_path: Path) -> None:
    proc = start(["render", "lower-back-relief", "--minutes", "35", "-o", "long.mp3"], tmp_path, **tone_env(tmp_path))
    try:
        started(proc, tmp_path)
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines() == ["Stopped by SIGTERM; nothing half-written was kept."]
    assert group_ends(proc.pid, 30) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_what_a_killed_render_left_is_removed_by_the_next_run(tmp_path: Path) -> None:
    proc = start(["render", "lower-back-relief", "--minutes", "35", "-o", "long.mp3"], tmp_path, **tone_env(tmp_path))
    try:
        started(proc, tmp_path)
        os.killpg(proc.pid, signal.SIGKILL)  # no clean-up can run: power loss, the OOM killer
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert group_ends(proc.pid, 30) == []
    assert [p for p in temporaries(tmp_path) if not p.startswith("cache")], "the kill left nothing to clean"
    done = start(["render", "cat-cow", "-o", "short.mp3"], tmp_path, **tone_env(tmp_path))
    _, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "short.mp3"]


def test_what_a_killed_pack_build_left_is_removed_by_the_next_build(tmp_path: Path) -> None:
    (tmp_path / "pack.yaml").write_text(yaml.safe_dump(LONG_PACK))
    proc = start(["pack", "build", "pack.yaml", "-o", "pk", "-j", "2"], tmp_path, **tone_env(tmp_path))
    try:
        started(proc, tmp_path / "pk")
        os.kill(proc.pid, signal.SIGKILL)  # the main process only: its workers are orphaned
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert group_ends(proc.pid, 40) == [], "orphaned workers kept running"
    small = {**LONG_PACK, "episodes": [dict(e, minutes=6) for e in LONG_PACK["episodes"]]}
    (tmp_path / "pack.yaml").write_text(yaml.safe_dump(small))
    done = start(["pack", "build", "pack.yaml", "-o", "pk", "-j", "2"], tmp_path, **tone_env(tmp_path))
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    assert temporaries(tmp_path / "pk") == []
    assert_pack_consistent(tmp_path / "pk")


@pytest.mark.usefixtures("ctrl_c_raises")
def test_stops_held_delivers_a_signal_once_the_block_is_whole() -> None:
    """A Ctrl-C during a held block does not cut it in two; it arrives as the block ends, even when
    the block itself fails."""
    steps: list[str] = []
    with pytest.raises(KeyboardInterrupt), stops_held():
        signal.raise_signal(signal.SIGINT)
        steps.append("finished the block")
    assert steps == ["finished the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt), stops_held():
        signal.raise_signal(signal.SIGINT)
        raise ValueError("the block failed")
    with stops_held():
        steps.append("nothing pending")
    assert steps[-1] == "nothing pending"
