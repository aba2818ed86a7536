"""Measure what ``voiceguide play`` sounds like at the speaker, per backend, through a real PulseAudio server.

Starts PulseAudio with a null sink, runs ``voiceguide play ROUTINE --audio-backend B --events ...``
for real while ``parec`` records the sink's monitor, then finds every spoken line in the recording
by cross-correlation with the rendered audio of the same timeline (tests/heard.py) and reports:
lines heard whole, each line's distance from the stream's constant latency (max, p90), and drift.

    .venv/bin/python scripts/bench_heard.py                                  # cat-cow and desk-break, every backend
    .venv/bin/python scripts/bench_heard.py --routines cat-cow --backends paplay
    .venv/bin/python scripts/bench_heard.py --engine pyttsx3 --routines cat-cow

The tone engine is used unless ``--engine pyttsx3`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.heard import PulseServer, hear, judge, read_pcm, start_pulse  # noqa: E402
from voiceguide.session.timeline import Timeline  # noqa: E402
from voiceguide.sound.audio import AudioOptions, SessionAudio  # noqa: E402
from voiceguide.voice.engines import ENGINES, VoiceSettings  # noqa: E402
from voiceguide.voice.speech import ClipCache, Speech  # noqa: E402


def render_of(timeline: Timeline, engine: str, cache: Path) -> object:
    """The rendered audio of the timeline (what the MP3 is made of), from the same cached clips."""
    import numpy as np

    with Speech(ENGINES[engine], VoiceSettings(), cache=ClipCache(cache), jobs=1) as speech:
        audio = SessionAudio(timeline, speech.clip, AudioOptions())
        return np.frombuffer(b"".join(audio.span_chunks(0, audio.total_samples)), dtype="<i2").astype(np.float64)


def bench(server: PulseServer, routine: str, backend: str, engine: str, workdir: Path) -> str:
    cache = workdir / f"clips-{engine}"
    env = {**os.environ, **server.env, "VOICEGUIDE_CACHE_DIR": str(cache), "VOICEGUIDE_ENGINE": engine,
           "PYTHONPATH": str(REPO)}
    events, tl_path, rec = (workdir / f"{routine}-{backend}.{ext}" for ext in ("jsonl", "json", "pcm"))
    subprocess.run([sys.executable, "-m", "voiceguide", "play", routine, "--no-audio", "--speed", "100"],
                   env=env, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, check=True)
    with server.record(rec):
        proc = subprocess.run([sys.executable, "-m", "voiceguide", "play", routine, "--audio-backend", backend,
                               "--events", str(events), "--timeline", str(tl_path)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              text=True)
    if proc.returncode != 0:
        return f"{routine} via {backend}: exit {proc.returncode}: {proc.stderr.strip()[-300:]}"
    timeline = Timeline.from_dict(json.loads(tl_path.read_text(encoding="utf-8")))
    records = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    lines = [(c.text or "", c.start_s, c.end_s, r["scheduled_s"])
             for c, r in zip(timeline.cues, records) if c.kind == "speech"]
    verdict = judge(hear(read_pcm(rec), render_of(timeline, engine, cache), lines))  # type: ignore[arg-type]
    reported = [r["heard_s"] - r["scheduled_s"] for r in records if r.get("heard_s") is not None]
    said = (f"; events heard_s - scheduled_s {statistics.median(reported) * 1000:.0f} ms "
            f"(spread {(max(reported) - min(reported)) * 1000:.1f} ms)" if reported else "; events: no heard_s")
    text = f"{routine} via {backend} ({engine}): {verdict.summary()}{said}"
    for missing in verdict.not_whole:
        text += f"\n    not whole: {missing}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routines", default="cat-cow,desk-break")
    parser.add_argument("--backends", default="paplay,aplay,sounddevice")
    parser.add_argument("--engine", default="tone", choices=("tone", "pyttsx3"))
    parser.add_argument("--keep", type=Path, help="keep recordings and logs in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="voiceguide-heard-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        server = start_pulse(Path(tmp) / "pulse")
        try:
            for routine in args.routines.split(","):
                for backend in args.backends.split(","):
                    print(bench(server, routine, backend, args.engine, workdir), flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
