"""A pack folder stays true to its files when a build fails part-way (issue 10, item 4)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from voiceguide.errors import PackBuildError
from voiceguide.voice.engines import ToneEngine

from .test_pack import SMALL_PACK, build, write_pack
from .test_signals import assert_pack_consistent

pytestmark = pytest.mark.ffmpeg

THREE: dict[str, Any] = {**copy.deepcopy(SMALL_PACK), "episodes": [
    {"title": "Neck", "routine": {"id": "neck", "title": "Neck", "stretches": ["neck-tilt"]}},
    {"title": "Sides", "routine": {"id": "sides", "title": "Sides", "stretches": ["seated-side-bend"]}},
    {"title": "Rolls", "routine": {"id": "rolls", "title": "Rolls", "stretches": ["shoulder-rolls"]}},
]}


class NoNeckEngine(ToneEngine):
    """A voice that fails on every line about the neck, so only the first episode fails."""

    def synthesize(self, text: str) -> bytes:
        if "neck" in text.lower():
            raise RuntimeError("no voice for necks")
        return super().synthesize(text)


@pytest.fixture(autouse=True)
def tone_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(tmp_path / "clips"))


@pytest.mark.parametrize("jobs", [1, 3])
def test_a_first_build_that_fails_leaves_a_consistent_folder(tmp_path: Path, jobs: int) -> None:
    pack_file = write_pack(tmp_path, THREE)
    folder = tmp_path / "out"
    with pytest.raises(PackBuildError, match=r"episode 01-neck: .*no voice for necks"):
        build(pack_file, folder, jobs=jobs, factory=NoNeckEngine)
    if jobs == 1:  # the first episode failed first: a first build that made no episode leaves nothing
        assert not folder.exists()
        folder.mkdir()
        (folder / "episodes").mkdir()
    else:
        assert_pack_consistent(folder)
    kept = sorted(p.name for p in (folder / "episodes").glob("*.mp3"))
    again = build(pack_file, folder, jobs=jobs)
    # what the failed build finished is kept and not rendered again
    assert sorted(again.skipped) == [name.removesuffix(".mp3") for name in kept]
    assert sorted(again.rendered + again.skipped) == ["01-neck", "02-sides", "03-rolls"]
    assert_pack_consistent(folder)


def test_a_failed_rebuild_keeps_the_old_whole_episode(tmp_path: Path) -> None:
    pack_file = write_pack(tmp_path, THREE)
    folder = tmp_path / "out"
    build(pack_file, folder, jobs=1)
    old = (folder / "episodes" / "01-neck.mp3").read_bytes()
    changed = copy.deepcopy(THREE)
    changed["episodes"][0]["routine"]["stretches"] = [{"id": "neck-tilt", "reps": 5}]
    write_pack(tmp_path, changed)
    with pytest.raises(PackBuildError):
        build(pack_file, folder, jobs=1, factory=NoNeckEngine, use_cache=False)
    assert (folder / "episodes" / "01-neck.mp3").read_bytes() == old
    assert_pack_consistent(folder)


def test_a_recorded_episode_whose_file_changed_is_dropped_not_published_wrong(tmp_path: Path) -> None:
    pack_file = write_pack(tmp_path, THREE)
    folder = tmp_path / "out"
    build(pack_file, folder, jobs=1)
    with open(folder / "episodes" / "02-sides.mp3", "ab") as f:
        f.write(b"\0" * 100)  # no longer the file the manifest describes
    changed = copy.deepcopy(THREE)
    changed["episodes"][0]["routine"]["stretches"] = [{"id": "neck-tilt", "reps": 5}]
    write_pack(tmp_path, changed)
    with pytest.raises(PackBuildError):
        build(pack_file, folder, jobs=1, factory=NoNeckEngine, use_cache=False)
    assert_pack_consistent(folder)
