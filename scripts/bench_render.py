"""Benchmark: render 10- and 60-minute sessions cold and warm, against ffmpeg alone.

For each length it renders once with an empty clip cache (cold) and once more with the cache
filled (warm), each in its own process so peak memory (RSS) is that render's alone. Then it times
ffmpeg alone encoding the same session audio (decoded from the output to a WAV file first) to MP3
at the same bitrate, three times, and takes the median. Run: .venv/bin/python scripts/bench_render.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SESSIONS = {
    10: ("kneeling-back", 10),
    60: (
        "cat-cow,kneeling-thoracic-rotation,childs-pose,knee-to-chest,knee-rolls,figure-four,pelvic-tilt,"
        "bridge,sphinx,cobra,seated-side-bend,side-neck-stretch,shoulder-rolls,arm-across-chest,horizontal-back-twist",
        60,
    ),
}

MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - start
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command run in a process of its own."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, env=env, check=True)
    wall, rss_kb, code = out.stdout.split()
    if code != "0":
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return float(wall), int(rss_kb) / 1024


def ffmpeg_alone(ffmpeg: str, mp3: Path, bitrate: str, work: Path) -> float:
    wav = work / "session.wav"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(mp3), str(wav)], check=True)
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(
            [ffmpeg, "-v", "error", "-y", "-i", str(wav), "-c:a", "libmp3lame", "-b:a", bitrate, str(work / "a.mp3")],
            check=True,
        )
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bitrate", default="64k")
    parser.add_argument("--engine", default="pyttsx3", help="the speech engine (scripts/bench_voice.py compares them)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    from voiceguide.sound.ffmpeg import ffmpeg_path

    ffmpeg = ffmpeg_path()
    voiceguide = str(Path(sys.executable).parent / "voiceguide")
    results: dict[int, dict[str, float]] = {}
    print(f"engine {args.engine}; machine {platform.node()}, {len(os.sched_getaffinity(0))} usable cores; "
          f"load average {'/'.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for length, (routine, minutes) in SESSIONS.items():
            env = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(work / f"cache-{length}")}
            env["VOICEGUIDE_ENGINE"] = args.engine
            out = work / f"s{length}.mp3"
            cmd = [voiceguide, "render", routine, "--minutes", str(minutes), "--bitrate", args.bitrate, "-o", str(out)]
            cold, cold_rss = timed(cmd, env)
            warm, warm_rss = timed(cmd, env)
            alone = ffmpeg_alone(ffmpeg, out, args.bitrate, work)
            results[length] = {
                "cold_s": cold, "warm_s": warm, "ffmpeg_alone_s": alone,
                "cold_ratio": cold / alone, "warm_ratio": warm / alone,
                "cold_rss_mb": cold_rss, "warm_rss_mb": warm_rss,
            }
            print(
                f"{length:>2} min: cold {cold:6.2f} s ({cold / alone:4.2f}x ffmpeg alone), "
                f"warm {warm:6.2f} s ({warm / alone:4.2f}x), ffmpeg alone {alone:5.2f} s (median of 3), "
                f"peak RSS cold {cold_rss:5.0f} MB, warm {warm_rss:5.0f} MB"
            )
    r10, r60 = results[10], results[60]
    print(f"60 min / 10 min: cold {r60['cold_s'] / r10['cold_s']:.2f}x, warm {r60['warm_s'] / r10['warm_s']:.2f}x")
    print(f"load average at the end {'/'.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("targets: cold 10 min <= 1.0x, warm <= 0.7x, 60/10 min <= 6.5x, 60 min peak RSS <= 150 MB")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
