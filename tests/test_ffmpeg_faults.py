"""A wedged ffmpeg and one that reports success but writes garbage (issue 10, item 3).

Stand-in ffmpeg scripts (tests/fixtures/ffmpeg/) take the place of the real one through
VOICEGUIDE_FFMPEG; the render runs as a real process group, so a child left behind is seen.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import FIXTURES
from .processes import group_ends, group_members, kill_started, needs_proc, start, wait_until

pytestmark = needs_proc


@pytest.fixture(autouse=True)
def no_process_left() -> Iterator[None]:
    """Whatever a test's processes leave running (when the code under test fails) is killed after it."""
    yield
    kill_started()
STAND_INS = FIXTURES / "ffmpeg"


def env(tmp_path: Path, ffmpeg: str, stall_s: str = "2") -> dict[str, str]:
    return {"VOICEGUIDE_ENGINE": "tone", "VOICEGUIDE_CACHE_DIR": str(tmp_path / "cache"),
            "VOICEGUIDE_FFMPEG": str(STAND_INS / ffmpeg), "VOICEGUIDE_FFMPEG_STALL_S": stall_s}


def test_a_wedged_ffmpeg_is_stopped_with_a_clear_error(tmp_path: Path) -> None:
    proc = start(["render", "cat-cow", "-o", "cc.mp3"], tmp_path, **env(tmp_path, "hangs"))
    try:  # the stand-in sleeps for a day: only the 2 s stall watch ends the render within the timeout
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1
    assert err.strip().splitlines() == ["Error: ffmpeg made no progress for 2 s and was stopped (is it wedged?)"]
    assert group_ends(proc.pid, 10) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_ctrl_c_during_a_wedged_encode_stops_the_ffmpeg_too(tmp_path: Path) -> None:
    proc = start(["render", "cat-cow", "-o", "cc.mp3"], tmp_path, **env(tmp_path, "hangs", "600"))
    try:
        assert wait_until(lambda: any("sleep" in m for m in group_members(proc.pid)), 60), "ffmpeg never started"
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and "Traceback" not in err
    assert group_ends(proc.pid, 10) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_ffmpeg_that_exits_0_with_garbage_is_a_clear_error(tmp_path: Path) -> None:
    proc = start(["render", "cat-cow", "-o", "cc.mp3"], tmp_path, **env(tmp_path, "writes-garbage"))
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 1
    assert err.strip().splitlines() == ["Error: ffmpeg reported success but did not write MP3 audio"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


@pytest.mark.ffmpeg
def test_garbage_in_an_encoded_part_is_named_not_a_value_error(tmp_path: Path) -> None:
    from voiceguide.errors import AudioError
    from voiceguide.sound import mp3

    damaged = tmp_path / "part.mp3"
    damaged.write_bytes(b"\xff\xf3\x44\xc4" + bytes(10) + b"rubbish")
    with pytest.raises(AudioError, match=r"ffmpeg reported success but wrote damaged MP3 audio \(not an MP3 frame"):
        mp3._frames_of(damaged)
