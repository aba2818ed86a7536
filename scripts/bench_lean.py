"""Benchmark: what a render costs next to the work it cannot avoid, and the memory it takes.

Every figure is measured in one run, with the compared runs interleaved (so a busy machine slows
both alike), repeated, and reported as medians; the load average is printed with each round.

- Piper: a cold render of ``kneeling-back --minutes 10`` (empty clip cache) against *Piper alone*:
  two processes, one onnxruntime thread each, each loading the voice once and synthesizing half of
  the session's distinct spoken lines (as the render's own timeline lists them) at the same length
  scale. The figure is the median of the per-round ratios cold render / Piper alone.
- pyttsx3: cold and warm renders of the same session against ffmpeg alone encoding the same audio
  (the render's output decoded to a WAV file first) to MP3 at the same bitrate.
- memory: the peak memory of each command's whole process tree (render, speech workers, ffmpeg),
  sampled from /proc every 20 ms, as resident memory (RSS, shared pages counted in every process)
  and as proportional memory (PSS, shared pages split between the processes that share them);
  with pyttsx3 also for a session of every stretch in the catalog (about 105 minutes), cold and warm.

``--tree DIR`` measures the voiceguide package found in DIR (a checkout, or ``git archive REV voiceguide
catalog`` unpacked) instead of this one, with this environment's packages; given more than once, the
trees are measured in turn within every round, so before and after see the same load.
Run: .venv/bin/python scripts/bench_lean.py [--rounds 3] [--tree DIR [--tree DIR]] [--skip long]
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
SESSION = ["kneeling-back", "--minutes", "10"]

PIPER_ALONE = """
import json, sys
import onnxruntime
from piper import PiperVoice
from piper.config import PiperConfig, SynthesisConfig
from voiceguide.voice.piper import length_scale, voice_files
from voiceguide.voice.settings import DEFAULT_RATE_WPM
files = voice_files(None)
options = onnxruntime.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
session = onnxruntime.InferenceSession(str(files.model), sess_options=options, providers=["CPUExecutionProvider"])
voice = PiperVoice(session=session, config=PiperConfig.from_dict(json.loads(files.config.read_text())))
config = SynthesisConfig(length_scale=length_scale(DEFAULT_RATE_WPM), noise_scale=0.0, noise_w_scale=0.0,
                         normalize_audio=False)
for line in json.loads(sys.argv[1]):
    for chunk in voice.synthesize(line, syn_config=config):
        pass
"""


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def tree_memory_kb(root: int) -> tuple[int, int]:
    """(RSS, PSS) in kB of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    rss = pss = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


def measured(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall seconds and peak tree RSS and PSS (MB) of one command, run in the tree it measures
    (``python -m`` looks in the working folder before ``PYTHONPATH``)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=env["PYTHONPATH"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_rss = peak_pss = 0
    while proc.poll() is None:
        rss, pss = tree_memory_kb(proc.pid)
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(0.02)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        detail = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"failed: {' '.join(cmd)}\n{detail}")
    return {"s": wall, "rss_mb": peak_rss / 1024, "pss_mb": peak_pss / 1024}


def piper_alone(lines: list[str], env: dict[str, str]) -> dict[str, float]:
    """Two processes, each synthesizing every other line: wall seconds and peak memory of both."""
    halves = [json.dumps(lines[0::2]), json.dumps(lines[1::2])]
    runner = f"import subprocess, sys\nps = [subprocess.Popen([sys.executable, '-c', {PIPER_ALONE!r}, a]) " \
             f"for a in sys.argv[1:]]\nsys.exit(max(p.wait() for p in ps))"
    return measured([sys.executable, "-c", runner, *halves], env)


def spoken_lines(timeline: Path) -> list[str]:
    cues = json.loads(timeline.read_text(encoding="utf-8"))["cues"]
    return list(dict.fromkeys(c["text"] for c in cues if c["kind"] == "speech"))


def ffmpeg_alone(ffmpeg: str, wav: Path, out: Path, bitrate: str) -> float:
    start = time.perf_counter()
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(wav), "-c:a", "libmp3lame", "-b:a", bitrate, str(out)],
                   check=True)  # fmt: skip
    return time.perf_counter() - start


def every_stretch(env: dict[str, str]) -> str:
    code = "from voiceguide.catalog.load import load_catalog; print(','.join(load_catalog().stretches))"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=env["PYTHONPATH"], capture_output=True, text=True,
                         check=True)  # fmt: skip
    return out.stdout.strip()


def med(values: list[float], digits: int = 2) -> float:
    return round(statistics.median(values), digits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", type=Path, action="append",
                        help="a checkout whose voiceguide is measured (repeat to compare, interleaved)")  # fmt: skip
    parser.add_argument("--skip", default="", help="comma-separated: piper, pyttsx3, long")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    from voiceguide.sound.ffmpeg import ffmpeg_path

    ffmpeg = ffmpeg_path()
    trees = [t.resolve() for t in args.tree or [REPO]]
    names = [f"{t.name}:" if len(trees) > 1 else "" for t in trees]
    render = [sys.executable, "-m", "voiceguide", "render"]
    print(f"machine: {platform.node()}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
          f"{platform.machine()}; trees {', '.join(map(str, trees))}; load average {load_average()}", flush=True)
    rows: dict[str, list[float]] = {}

    def note(key: str, value: float) -> None:
        rows.setdefault(key, []).append(value)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wav = work / "session.wav"
        for r in range(args.rounds):
            print(f"round {r + 1}: load average {load_average()}", flush=True)
            alone: dict[tuple[str, ...], dict[str, float]] = {}  # Piper alone, once a round per set of lines
            for tree, name in zip(trees, names):
                base_env = {**os.environ, "PYTHONPATH": str(tree)}
                if "piper" not in skip:
                    cache = work / f"{tree.name}-piper-{r}"
                    env = {**base_env, "VOICEGUIDE_ENGINE": "piper", "VOICEGUIDE_CACHE_DIR": str(cache)}
                    timeline = work / "piper.json"
                    cmd = [*render, *SESSION, "-o", str(work / "piper.mp3"), "--timeline", str(timeline)]
                    cold = measured(cmd, env)
                    lines = tuple(spoken_lines(timeline))
                    if lines not in alone:
                        alone[lines] = piper_alone(list(lines), base_env)
                    a = alone[lines]
                    note(f"{name}piper cold s", cold["s"])
                    note(f"{name}piper alone s ({len(lines)} lines)", a["s"])
                    note(f"{name}piper cold / alone", cold["s"] / a["s"])
                    for k in ("rss_mb", "pss_mb"):
                        note(f"{name}piper cold peak {k}", cold[k])
                        note(f"{name}piper alone peak {k}", a[k])
                    print(f"  {name}piper: cold {cold['s']:.2f} s, alone {a['s']:.2f} s, ratio "
                          f"{cold['s'] / a['s']:.2f}; peak RSS {cold['rss_mb']:.0f} MB (alone {a['rss_mb']:.0f}), "
                          f"PSS {cold['pss_mb']:.0f} MB (alone {a['pss_mb']:.0f})", flush=True)
                if "pyttsx3" not in skip:
                    cache = work / f"{tree.name}-tts-{r}"
                    env = {**base_env, "VOICEGUIDE_ENGINE": "pyttsx3", "VOICEGUIDE_CACHE_DIR": str(cache)}
                    out = work / "tts.mp3"
                    cold = measured([*render, *SESSION, "-o", str(out)], env)
                    warm = measured([*render, *SESSION, "-o", str(out)], env)
                    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(out), str(wav)], check=True)
                    alone_s = ffmpeg_alone(ffmpeg, wav, work / "alone.mp3", "64k")
                    note(f"{name}pyttsx3 cold / ffmpeg", cold["s"] / alone_s)
                    note(f"{name}pyttsx3 warm / ffmpeg", warm["s"] / alone_s)
                    note(f"{name}pyttsx3 cold s", cold["s"])
                    note(f"{name}pyttsx3 warm s", warm["s"])
                    note(f"{name}ffmpeg alone s", alone_s)
                    for k in ("rss_mb", "pss_mb"):
                        note(f"{name}pyttsx3 cold peak {k}", cold[k])
                        note(f"{name}pyttsx3 warm peak {k}", warm[k])
                    print(f"  {name}pyttsx3: cold {cold['s']:.2f} s, warm {warm['s']:.2f} s, ffmpeg alone "
                          f"{alone_s:.2f} s; peak RSS cold {cold['rss_mb']:.0f} MB, warm {warm['rss_mb']:.0f} MB",
                          flush=True)  # fmt: skip
                if "long" not in skip and r == 0:  # memory does not depend on the load: one round is enough
                    cache = work / f"{tree.name}-long"
                    env = {**base_env, "VOICEGUIDE_ENGINE": "pyttsx3", "VOICEGUIDE_CACHE_DIR": str(cache)}
                    cmd = [*render, every_stretch(base_env), "-o", str(work / "long.mp3")]
                    for kind in ("cold", "warm"):
                        m = measured(cmd, env)
                        for k in ("rss_mb", "pss_mb"):
                            note(f"{name}pyttsx3 every stretch {kind} peak {k}", m[k])
                        print(f"  {name}pyttsx3, every stretch, {kind}: {m['s']:.1f} s, peak RSS "
                              f"{m['rss_mb']:.0f} MB, PSS {m['pss_mb']:.0f} MB", flush=True)  # fmt: skip
    print(f"medians of {args.rounds} rounds (load average now {load_average()}):")
    for key, values in rows.items():
        print(f"  {key:58s} {med(values):8.2f}")


if __name__ == "__main__":
    main()
