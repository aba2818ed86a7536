"""Reading MP3 frames a block at a time, which keeps joining parts flat in memory (issue 10, item 19).

The memory figures themselves are measured by scripts/bench_memory.py, not asserted here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voiceguide.errors import AudioError
from voiceguide.sound import frames
from voiceguide.sound.mp3 import encode_stream
from voiceguide.voice.speech import SAMPLE_RATE

pytestmark = pytest.mark.ffmpeg


@pytest.fixture(scope="module")
def long_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 3 MB of MP3: several of the reader's blocks."""
    rng = np.random.default_rng(7)
    pcm = (rng.normal(0, 3000, SAMPLE_RATE * 200)).astype("<i2")
    path = tmp_path_factory.mktemp("frames") / "noise.mp3"
    encode_stream(iter([pcm.tobytes()]), path, 128, reservoir=False)
    assert path.stat().st_size > 2 * frames._BLOCK
    return path


def test_frames_read_block_by_block_are_the_frames_of_the_whole_file(long_mp3: Path) -> None:
    assert list(frames.read_frames(long_mp3)) == frames.split_frames(long_mp3.read_bytes())


def test_a_damaged_frame_past_the_first_block_is_named_with_its_offset(long_mp3: Path, tmp_path: Path) -> None:
    data = bytearray(long_mp3.read_bytes())
    whole = frames.split_frames(bytes(data))
    at = sum(len(f) for f in whole[: len(whole) * 3 // 4])  # a frame boundary in a later block
    data[at : at + 4] = b"junk"
    damaged = tmp_path / "damaged.mp3"
    damaged.write_bytes(bytes(data))
    with pytest.raises(AudioError, match=rf"damaged MP3 audio \(not an MP3 frame at byte {at}\)"):
        list(frames.read_frames(damaged))
