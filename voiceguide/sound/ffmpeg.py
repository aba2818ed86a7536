"""Finding ffmpeg: the system's if there is one, else the one in the imageio-ffmpeg wheel."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from voiceguide.errors import FfmpegMissingError


@functools.lru_cache(maxsize=1)
def ffmpeg_path() -> str:
    """Path of a working ffmpeg with libmp3lame; ``VOICEGUIDE_FFMPEG`` names one explicitly."""
    candidates = []
    if os.environ.get("VOICEGUIDE_FFMPEG"):
        candidates.append(os.environ["VOICEGUIDE_FFMPEG"])
    else:
        system = shutil.which("ffmpeg")
        if system:
            candidates.append(system)
        try:
            import imageio_ffmpeg

            candidates.append(imageio_ffmpeg.get_ffmpeg_exe())
        except (ImportError, RuntimeError):
            pass
    for path in candidates:
        if _works(path):
            return path
    tried = ", ".join(candidates) or "none found"
    raise FfmpegMissingError(
        f"no usable ffmpeg with MP3 support (tried: {tried}); install the imageio-ffmpeg package "
        "(pip install imageio-ffmpeg) or your system's ffmpeg"
    )


@functools.lru_cache(maxsize=1)
def ffmpeg_identity() -> str:
    """Which ffmpeg build encodes (its path, size and time), for results kept between runs."""
    exe = Path(ffmpeg_path())
    info = exe.stat()
    return f"{exe}:{info.st_size}:{info.st_mtime_ns}"


def _works(path: str) -> bool:
    try:
        out = subprocess.run(
            [path, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "libmp3lame" in out.stdout


def configure_pydub() -> None:
    """Point pydub's converter at the ffmpeg found, so pydub works without a system ffmpeg."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pydub warns when no system ffmpeg exists
        from pydub import AudioSegment

    AudioSegment.converter = ffmpeg_path()
