"""Benchmark: peak resident memory of renders of different lengths, with the pyttsx3 voice.

Renders a 10-minute session (kneeling-back) and one 17-stretch routine at 30 and 90 minutes, each
in a process of its own with a warm clip cache (a first, cold run fills it), and reports each
render's peak RSS (the main process; the speech workers and ffmpeg are separate processes).
The same routine at 30 and 90 minutes shows whether memory grows with the session's length.
Run: .venv/bin/python scripts/bench_memory.py
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

LONG = ("cat-cow,kneeling-thoracic-rotation,childs-pose,knee-to-chest,knee-rolls,figure-four,pelvic-tilt,bridge,"
        "sphinx,cobra,seated-side-bend,side-neck-stretch,shoulder-rolls,arm-across-chest,horizontal-back-twist,"
        "seated-twist,bird-dog")
CASES = [("10 min, kneeling-back", "kneeling-back", 10), ("30 min, 17 stretches", LONG, 30),
         ("90 min, 17 stretches", LONG, 90)]

MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


def peak_mb(cmd: list[str], env: dict[str, str]) -> float:
    """Peak RSS in MB of one command, measured as the only child of a fresh process."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, env=env, check=True)
    rss_kb, code = out.stdout.split()
    if code != "0":
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return int(rss_kb) / 1024


def main() -> None:
    env = {**os.environ, "VOICEGUIDE_ENGINE": "pyttsx3"}  # the real voice the goal names
    print(f"engine pyttsx3; machine {platform.node()}, {len(os.sched_getaffinity(0))} usable cores; "
          f"load average {'/'.join(f'{x:.1f}' for x in os.getloadavg())} (memory does not depend on it)")
    with tempfile.TemporaryDirectory() as tmp:
        env["VOICEGUIDE_CACHE_DIR"] = str(Path(tmp) / "cache")
        for label, routine, minutes in CASES:
            cmd = [sys.executable, "-m", "voiceguide", "render", routine, "--minutes", str(minutes),
                   "-o", str(Path(tmp) / "s.mp3")]
            cold = peak_mb(cmd, env)
            warm = peak_mb(cmd, env)
            print(f"{label}: peak RSS {cold:.0f} MB cold, {warm:.0f} MB warm")


if __name__ == "__main__":
    main()
