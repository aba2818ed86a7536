"""Benchmark the speech engines: pace, synthesis speed, load time, memory and reproducibility.

Figures, for Piper (``voiceguide[natural]``) and pyttsx3 (eSpeak NG):

- pace: words per voiced minute actually spoken at a ``--rate`` (default: the default rate), on
  the lines of ``voiceguide script cat-cow`` as the session speaks them: each line's words over
  its clip's length (the clip is trimmed of its own silence, so pauses between lines are left
  out and pauses inside a line count). Pooled over the session, and the median line.
- synthesis: wall seconds per second of speech for the lines of ``kneeling-back --minutes 10``
  with 1 and 2 workers, the workers' start-up left out (and with it, as a second figure), and the
  workers' CPU seconds per second of speech with the load average, since on a shared machine the
  wall figure says as much about the other work as about the engine.
- load: seconds to load the engine in a fresh process.
- render: cold (empty clip cache) and warm render of ``kneeling-back --minutes 10``, with the
  peak resident memory of the whole process tree (sampled from /proc every 20 ms).
- reproducible: two cold renders, with ``-j 1`` and ``-j 2``, are byte-identical.

Run: .venv/bin/python scripts/bench_voice.py [--engines piper,pyttsx3] [--only pace,synthesis,...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VOICEGUIDE = str(Path(sys.executable).parent / "voiceguide")
SECTIONS = ("pace", "synthesis", "load", "render", "reproducible")


def session_lines(routine: str, *extra: str) -> list[str]:
    """The spoken lines of a session, in order, as its timed script lists them."""
    out = subprocess.run(
        [VOICEGUIDE, "script", routine, *extra, "--format", "json"], capture_output=True, text=True, check=True
    )
    return [c["text"] for c in json.loads(out.stdout)["cues"] if c["kind"] == "speech"]


def words(text: str) -> int:
    return len(text.replace("-", " ").split())


def pace(engine: str, rate: int) -> dict[str, float]:
    """Words per voiced minute on cat-cow: pooled over the session's spoken lines, and the median line."""
    from voiceguide.voice.engines import ENGINES, VoiceSettings
    from voiceguide.voice.speech import Speech

    lines = session_lines("cat-cow")
    with Speech(ENGINES[engine], VoiceSettings(rate=rate), cache=None, jobs=2) as speech:
        speech.prepare(lines)
        seconds = [speech.length(t) for t in lines]
    per_line = [60 * words(t) / s for t, s in zip(lines, seconds)]
    return {
        "rate": rate,
        "pooled_wpm": round(60 * sum(map(words, lines)) / sum(seconds), 1),
        "median_line_wpm": round(statistics.median(per_line), 1),
    }


def synthesis(engine: str, workers: int) -> dict[str, float]:
    """Wall seconds per second of speech for the 10-minute session's distinct lines."""
    from voiceguide.voice.engines import ENGINES, VoiceSettings
    from voiceguide.voice.speech import Speech

    lines = list(dict.fromkeys(session_lines("kneeling-back", "--minutes", "10")))
    warm_up, rest = lines[: workers * 4], lines[workers * 4 :]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with Speech(ENGINES[engine], VoiceSettings(), cache=None, jobs=workers) as speech:
        start = time.perf_counter()
        speech.prepare(warm_up)  # starts every worker (a pool starts one per four lines, up to --jobs)
        started = time.perf_counter()
        speech.prepare(rest)
        end = time.perf_counter()
        audio_all = sum(speech.length(t) for t in lines)
        audio_rest = sum(speech.length(t) for t in rest)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers have ended: their CPU time is in
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    return {
        "workers": workers,
        "lines": len(lines),
        "speech_s": round(audio_all, 1),
        "wall_per_speech_s": round((end - started) / audio_rest, 4),
        "wall_per_speech_s_with_startup": round((end - start) / audio_all, 4),
        # CPU seconds the workers spent (start-up included) per second of speech: what the wall
        # figure would be on one otherwise idle core, whatever else the machine was running
        "worker_cpu_per_speech_s": round(cpu / audio_all, 4),
        "load_average": os.getloadavg()[0],
    }


LOAD = """
import time, sys
from voiceguide.voice.engines import ENGINES, VoiceSettings
start = time.perf_counter()
ENGINES[sys.argv[1]](VoiceSettings())
print(time.perf_counter() - start)
"""


def load(engine: str) -> float:
    """Seconds to start the engine (Piper: load the voice) in a fresh process; median of 3."""
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", LOAD, engine], capture_output=True, text=True, check=True)
        runs.append(float(out.stdout))
    return round(statistics.median(runs), 2)


def tree_rss_kb(root: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as f:
                rss[int(entry)] = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def timed_tree(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of the whole process tree of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kb(proc.pid))
        time.sleep(0.02)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.read() if proc.stderr else ''}")
    return wall, peak / 1024


def render_cmd(out: Path, jobs: int | None = None) -> list[str]:
    cmd = [VOICEGUIDE, "render", "kneeling-back", "--minutes", "10", "-o", str(out)]
    return cmd + (["-j", str(jobs)] if jobs else [])


def render(engine: str, work: Path) -> dict[str, float]:
    env = {**os.environ, "VOICEGUIDE_ENGINE": engine, "VOICEGUIDE_CACHE_DIR": str(work / f"cache-{engine}")}
    cold, cold_rss = timed_tree(render_cmd(work / f"{engine}.mp3"), env)
    warm, warm_rss = timed_tree(render_cmd(work / f"{engine}.mp3"), env)
    return {"cold_s": round(cold, 2), "warm_s": round(warm, 2),
            "cold_peak_tree_rss_mb": round(cold_rss), "warm_peak_tree_rss_mb": round(warm_rss)}


def reproducible(engine: str, work: Path) -> dict[str, object]:
    """Two cold renders (-j 1 and -j 2, each with an empty cache of its own): same bytes?"""
    digests = {}
    for jobs in (1, 2):
        env = {**os.environ, "VOICEGUIDE_ENGINE": engine, "VOICEGUIDE_CACHE_DIR": str(work / f"repro-{engine}-{jobs}")}
        out = work / f"repro-{engine}-{jobs}.mp3"
        subprocess.run(render_cmd(out, jobs), env=env, check=True, stdout=subprocess.DEVNULL)
        digests[jobs] = out.read_bytes()
    return {"identical": digests[1] == digests[2], "bytes": len(digests[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="piper,pyttsx3")
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--rate", type=int, default=None, help="--rate for the pace figure (default: the default)")
    args = parser.parse_args()
    from voiceguide.voice.settings import DEFAULT_RATE_WPM

    rate = args.rate or DEFAULT_RATE_WPM
    only = set(args.only.split(","))
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for engine in args.engines.split(","):
            r: dict[str, object] = {}
            results[engine] = r
            if "pace" in only:
                r["pace"] = pace(engine, rate)
                print(engine, "pace", r["pace"], flush=True)
            if "load" in only:
                r["load_s"] = load(engine)
                print(engine, "load", r["load_s"], "s", flush=True)
            if "synthesis" in only:
                r["synthesis"] = [synthesis(engine, n) for n in (1, 2)]
                print(engine, "synthesis", r["synthesis"], flush=True)
            if "render" in only:
                r["render"] = render(engine, work)
                print(engine, "render kneeling-back --minutes 10", r["render"], flush=True)
            if "reproducible" in only:
                r["reproducible"] = reproducible(engine, work)
                print(engine, "cold -j 1 vs cold -j 2", r["reproducible"], flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
