"""Measure how closely ``voiceguide play`` keeps to its schedule over a whole routine.

Runs ``voiceguide play ROUTINE --no-audio --speed S --events FILE`` for real, once per speed,
and reports the drift of every cue: ``|actual_s - scheduled_s|`` from the events log.

    .venv/bin/python scripts/bench_live.py                       # desk-break at speeds 1 and 10
    .venv/bin/python scripts/bench_live.py --routine lower-back-relief --speeds 10
    .venv/bin/python scripts/bench_live.py --tty                 # with the rich display drawing
    .venv/bin/python scripts/bench_live.py --fake-player         # speed 1 with sound sent to a stand-in aplay

The tone engine is used unless ``--engine pyttsx3`` is given (the schedule is the same kind of
thing either way; the tone engine just makes the clips faster). ``--fake-player`` puts a stand-in
``aplay`` that swallows its samples first on PATH, so the audio path (levelled clips, a player
process per sound) is exercised on a machine without a sound device.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

FAKE_APLAY = """#!{python}
import sys
sys.stdin.buffer.read()
"""


def run_pty(argv: list[str], env: dict[str, str]) -> int:
    """Run a command in a pseudo-terminal (so the rich display draws), discarding its screen."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, env)
    while True:
        try:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready and not os.read(fd, 65536):
                break
        except OSError:
            break
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status)


def cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, to tell how loaded the machine was."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


def bench(routine: str, speed: float, *, engine: str, tty: bool, fake_player: bool, workdir: Path) -> dict[str, float]:
    events = workdir / f"events-{routine}-{speed:g}.jsonl"
    env = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(workdir / "clips"), "PYTHONPATH": str(REPO)}
    env["VOICEGUIDE_ENGINE"] = engine
    argv = [sys.executable, "-m", "voiceguide", "play", routine, "--speed", f"{speed:g}", "--events", str(events)]
    if fake_player:
        bin_dir = workdir / "bin"
        bin_dir.mkdir(exist_ok=True)
        player = bin_dir / "aplay"
        player.write_text(FAKE_APLAY.format(python=sys.executable), encoding="utf-8")
        player.chmod(0o755)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        argv += ["--audio-backend", "aplay"]
    else:
        argv.append("--no-audio")
    # make the clips first, so the timed run measures playback only
    subprocess.run([sys.executable, "-m", "voiceguide", "play", routine, "--no-audio", "--speed", "100"],
                   env=env, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, check=True)
    started = time.monotonic()
    cpu_before = cpu_times()
    if tty:
        code = run_pty(argv, env)
    else:
        code = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL).returncode
    wall = time.monotonic() - started
    cpu_after = cpu_times()
    busy = float("nan")
    if cpu_before and cpu_after and cpu_after[1] > cpu_before[1]:
        busy = 100 * (cpu_after[0] - cpu_before[0]) / (cpu_after[1] - cpu_before[1])
    if code != 0:
        raise SystemExit(f"voiceguide play exited with status {code}")
    records = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    drift = sorted(abs(r["actual_s"] - r["scheduled_s"]) for r in records)
    return {
        "cues": len(records),
        "session_s": records[-1]["start_s"] if records else 0.0,
        "wall_s": wall,
        "max_ms": drift[-1] * 1000,
        "p99_ms": drift[min(len(drift) - 1, int(0.99 * len(drift)))] * 1000,
        "mean_ms": statistics.fmean(drift) * 1000,
        "cpu_busy_pct": busy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routine", default="desk-break")
    parser.add_argument("--speeds", default="1,10", help="comma-separated speeds (default 1,10)")
    parser.add_argument("--engine", default="tone", choices=("tone", "pyttsx3"))
    parser.add_argument("--tty", action="store_true", help="run in a pseudo-terminal, with the rich display")
    parser.add_argument("--fake-player", action="store_true", help="play sound into a stand-in aplay (speed 1 only)")
    parser.add_argument("--keep", type=Path, help="keep the events logs in this folder")
    args = parser.parse_args()
    speeds = [float(s) for s in args.speeds.split(",")]
    with tempfile.TemporaryDirectory(prefix="voiceguide-bench-") as tmp:
        for speed in speeds:
            r = bench(args.routine, speed, engine=args.engine, tty=args.tty, fake_player=args.fake_player,
                      workdir=Path(tmp))
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                for log in Path(tmp).glob("events-*.jsonl"):
                    log.replace(args.keep / log.name)
            mode = ("tty" if args.tty else "pipe") + (", fake aplay" if args.fake_player else ", no audio")
            print(f"{args.routine} --speed {speed:g} ({mode}): {r['cues']:.0f} cues over {r['wall_s']:.1f} s wall; "
                  f"drift max {r['max_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, mean {r['mean_ms']:.3f} ms "
                  f"(all {os.cpu_count()} CPUs {r['cpu_busy_pct']:.0f}% busy meanwhile)", flush=True)


if __name__ == "__main__":
    main()
