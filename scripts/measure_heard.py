"""Measure how rendered sessions sound: pauses between lines, runs of speech, breath, repeats, props, length.

Renders each session with ``voiceguide render ... --timeline FILE.json`` (every bundled routine,
``morning-mobility --avoid knees`` and three ``make`` sessions unless ``--session`` names others),
decodes the MP3 with the project's ffmpeg and measures the audio; the timeline (the JSON contract)
only says roughly where each spoken line is, which lines are chimes, and where the first stretch starts.

    .venv/bin/python scripts/measure_heard.py                       # every session, the default voice (Piper)
    .venv/bin/python scripts/measure_heard.py --engine tone         # a fast dry run
    .venv/bin/python scripts/measure_heard.py --session desk-break --session "morning-mobility --avoid knees"
    .venv/bin/python scripts/measure_heard.py --session "make --focus hips --minutes 10 --seed 4" --json

Silence is a 20 ms window (windows 5 ms apart) whose RMS is more than ``SILENCE_BELOW_DB`` (35 dB)
under the session's speech level (the median window inside its spoken lines, about -16 dBFS):
Piper's breathy tails fall through that level within a few tens of milliseconds, so a line that
trails off counts as ended, while the soft sounds inside a line stay above it. A silence is the
union of its silent windows; with the MP3's coding noise beside onsets it reads up to about 10 ms
short (a timeline gap of 0.3 s measures 0.294 s), and the targets allow for those 10 ms.

Exits 1 when any target fails (no boundary under 0.3 s, no run over 10 s without a 0.6 s pause, no
breath under 2.5 s, no repeat within 15 s, every prop named first, within 2 s of the minutes), so it
can serve as a gate.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RATE = 22050
"""The rate the MP3 is decoded at (the rate the sessions are rendered at, so nothing is resampled)."""
WINDOW_S = 0.02
HOP_S = 0.005
RESOLUTION_S = 0.01
"""How far short of the truth a silence may be measured (a hop of the windows, and the MP3's coding
noise spread next to an onset); the targets allow for it."""
SILENCE_BELOW_DB = 35.0
"""A window this far under the session's speech level is silence."""
BOUNDARY_SLACK_S = 0.1
"""How far from the timeline's boundary the silence between two lines may lie."""

MIN_GAP_S = 0.3
"""Target: every boundary between two spoken lines has at least this much silence."""
PAUSE_S = 0.6
"""A pause at least this long ends a run of speech."""
MAX_RUN_S = 10.0
MIN_BREATH_S = 2.5
"""Target: a "breathe in" line's onset at least this long before its "breathe out" line's."""
REPEAT_WITHIN_S = 15.0
REPEAT_MIN_WORDS = 5
MINUTES_TOLERANCE_S = 2.0

PROPS = ("blanket", "cushion", "pillow", "bolster", "towel", "strap", "belt", "block", "chair", "wall", "doorway")
"""Things a listener has to fetch or find; each must be named before the first stretch."""

DEFAULT_SESSIONS = (
    "desk-break",
    "evening-wind-down",
    "kneeling-back",
    "lower-back-relief",
    "morning-mobility",
    "neck-and-shoulders",
    "morning-mobility --avoid knees",
    "make --focus lower-back --minutes 12 --avoid knees --seed 1",
    "make --focus neck,shoulders --minutes 8 --position seated --seed 2",
    "make --focus hips,hamstrings --minutes 15 --level gentle --seed 3",
)


# --- the audio -------------------------------------------------------------------------------------


def decode(mp3: Path, rate: int = RATE) -> np.ndarray:
    """The MP3 as mono float samples in [-1, 1], decoded by the ffmpeg the project itself uses."""
    from voiceguide.sound.ffmpeg import ffmpeg_path

    raw = subprocess.run([ffmpeg_path(), "-v", "error", "-i", str(mp3), "-ac", "1", "-ar", str(rate), "-f", "f32le",
                          "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<f4").astype(np.float64)


@dataclass(frozen=True)
class Envelope:
    """RMS level (dBFS) of short overlapping windows across a recording; window ``i`` starts at ``i * hop``."""

    db: np.ndarray
    hop: int
    window: int
    rate: int

    def start(self, i: int) -> float:
        return i * self.hop / self.rate

    def end(self, i: int) -> float:
        return (i * self.hop + self.window) / self.rate

    def centred(self, a: float, b: float) -> slice:
        """The windows whose centre lies between ``a`` and ``b`` seconds."""
        lo = math.ceil((a * self.rate - self.window / 2) / self.hop)
        hi = math.floor((b * self.rate - self.window / 2) / self.hop) + 1
        return slice(max(0, lo), max(0, min(len(self.db), hi)))


def envelope(samples: np.ndarray, rate: int = RATE, window_s: float = WINDOW_S, hop_s: float = HOP_S) -> Envelope:
    window, hop = round(window_s * rate), round(hop_s * rate)
    count = max(0, (len(samples) - window) // hop + 1)
    energy = np.concatenate(([0.0], np.cumsum(samples.astype(np.float64) ** 2)))
    starts = np.arange(count) * hop
    power = np.maximum(energy[starts + window] - energy[starts], 0.0) / window
    return Envelope(10 * np.log10(np.maximum(power, 1e-20)), hop, window, rate)


def speech_level_db(env: Envelope, spans: Sequence[tuple[float, float]]) -> float:
    """The session's speech level: the median window inside its spoken lines (digital silence left out)."""
    inside = np.zeros(len(env.db), dtype=bool)
    for a, b in spans:
        inside[env.centred(a, b)] = True
    levels = env.db[inside & (env.db > -100)]
    return float(np.median(levels)) if len(levels) else -100.0


def silent_runs(env: Envelope, threshold_db: float, quiet: Sequence[tuple[float, float]] = ()
                ) -> list[tuple[float, float]]:
    """Every stretch of silence (start_s, end_s): the union of consecutive windows under the threshold,
    so at most one hop shorter than the silence itself. Spans in ``quiet`` (chimes) count as silence too."""
    silent = env.db < threshold_db
    for a, b in quiet:
        silent[env.centred(a, b)] = True
    edges = np.flatnonzero(np.diff(np.concatenate(([0], silent.astype(np.int8), [0]))))
    return [(env.start(int(a)), env.end(int(b) - 1)) for a, b in zip(edges[::2], edges[1::2])]


# --- what was said, and when -------------------------------------------------------------------------


@dataclass
class Line:
    """One spoken line: where the timeline puts it, and where the audio says it begins and ends."""

    text: str
    start_s: float
    end_s: float
    onset_s: float = field(init=False)
    offset_s: float = field(init=False)

    def __post_init__(self) -> None:
        self.onset_s, self.offset_s = self.start_s, self.end_s


@dataclass
class Boundary:
    before: str
    after: str
    at_s: float
    """Where the silence starts in the audio (or the timeline's boundary, when there is none)."""
    silence_s: float


def silence_between(runs: Sequence[tuple[float, float]], end_s: float, start_s: float) -> tuple[float, float]:
    """The silence the audio has where the timeline has one line end at ``end_s`` and the next start at
    ``start_s``: the longest silent run within ``BOUNDARY_SLACK_S`` of that gap, or an empty one."""
    lo, hi = end_s - BOUNDARY_SLACK_S, start_s + BOUNDARY_SLACK_S
    best = ((end_s + start_s) / 2, (end_s + start_s) / 2)
    for a, b in runs:
        if b > lo and a < hi and b - a > best[1] - best[0]:
            best = (a, b)
    return best


def place_lines(lines: list[Line], runs: Sequence[tuple[float, float]], tones: Sequence[tuple[float, float]],
                duration_s: float) -> list[Boundary]:
    """Set each line's onset and offset from the audio; return the boundaries between consecutive lines
    that no chime separates."""
    boundaries: list[Boundary] = []
    for i, line in enumerate(lines):  # the sound before and after a line may be a line or a chime
        prev_end = max([lines[i - 1].end_s if i else 0.0] + [t1 for _, t1 in tones if t1 <= line.start_s])
        a, b = silence_between(runs, max(prev_end, line.start_s - 1.0), line.start_s)
        if b > a:
            line.onset_s = b
        nxt = min([lines[i + 1].start_s if i + 1 < len(lines) else duration_s]
                  + [t0 for t0, _ in tones if t0 >= line.end_s])
        a, b = silence_between(runs, line.end_s, min(nxt, line.end_s + 1.0))
        if b > a:
            line.offset_s = a
    for prev, line in itertools.pairwise(lines):
        if any(prev.end_s <= t0 < line.start_s for t0, _ in tones):
            continue
        a, b = silence_between(runs, prev.end_s, line.start_s)
        boundaries.append(Boundary(prev.text, line.text, round(a, 2), round(b - a, 3)))
    return boundaries


def speech_runs(runs: Sequence[tuple[float, float]], duration_s: float, pause_s: float = PAUSE_S
                ) -> list[tuple[float, float]]:
    """Stretches of sound with no pause of ``pause_s`` inside (chimes already counted as silence in ``runs``)."""
    sound: list[tuple[float, float]] = []
    cursor = 0.0
    for a, b in [*runs, (duration_s, duration_s)]:
        if a > cursor:
            if sound and cursor - sound[-1][1] < pause_s - RESOLUTION_S:
                sound[-1] = (sound[-1][0], a)
            else:
                sound.append((cursor, a))
        cursor = max(cursor, b)
    return sound


def _starts(text: str, words: str) -> bool:
    return re.match(words + r"\b", text.lower()) is not None


def squeezed_breaths(lines: Sequence[Line], min_s: float = MIN_BREATH_S) -> list[tuple[float, str, str, float]]:
    """(time, in-line, out-line, onset to onset) for each "Breathe in" line whose "Breathe out" line
    (the next one before another "Breathe in") begins less than ``min_s`` after it."""
    found = []
    for i, line in enumerate(lines):
        if not _starts(line.text, "breathe in"):
            continue
        for later in lines[i + 1 :]:
            if _starts(later.text, "breathe in"):
                break
            if _starts(later.text, "breathe out"):
                gap = later.onset_s - line.onset_s
                if gap < min_s - RESOLUTION_S:
                    found.append((round(line.onset_s, 2), line.text, later.text, round(gap, 2)))
                break
    return found


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def repeats(lines: Sequence[Line], within_s: float = REPEAT_WITHIN_S, min_words: int = REPEAT_MIN_WORDS
            ) -> list[tuple[float, str, float]]:
    """(time, line, seconds since it ended) for each line of ``min_words`` or more said again
    within ``within_s`` of the end of its last saying."""
    last_end: dict[tuple[str, ...], float] = {}
    found = []
    for line in lines:
        key = tuple(_words(line.text))
        if len(key) >= min_words and key in last_end and line.onset_s - last_end[key] <= within_s:
            found.append((round(line.onset_s, 2), line.text, round(line.onset_s - last_end[key], 2)))
        last_end[key] = line.offset_s
    return found


def props_in(text: str) -> list[frozenset[str]]:
    """The props a line uses, alternatives ("a wall or chair") as one group."""
    lowered = text.lower()
    named = [(m.start(), m.group(1)) for m in re.finditer(r"\b(" + "|".join(PROPS) + r")s?\b", lowered)]
    groups: list[set[str]] = []
    for k, (pos, prop) in enumerate(named):
        if k and re.fullmatch(r"\W+or\W+(?:(?:a|an|the|your)\W+)?(?:\w+\W+)?", lowered[named[k - 1][0] + len(
                named[k - 1][1]) : pos]):
            groups[-1].add(prop)
        else:
            groups.append({prop})
    return [frozenset(g) for g in groups]


def props_not_named(opening: Sequence[str], later: Sequence[str]) -> list[str]:
    """Props the session's lines use that its opening (before the first stretch) does not name."""
    named = {p for text in opening for group in props_in(text) for p in group}
    missing: list[str] = []
    for text in later:
        for group in props_in(text):
            if not group & named:
                label = " or ".join(sorted(group))
                if label not in missing:
                    missing.append(label)
    return missing


# --- one session --------------------------------------------------------------------------------------


@dataclass
class Measures:
    session: str
    duration_s: float
    minutes: float | None
    speech_level_db: float
    threshold_db: float
    boundaries: int
    short_boundaries: int
    shortest_gaps: list[tuple[float, float, str, str]] = field(default_factory=list)
    """(time, silence, line before, line after) of each boundary under the target, shortest first."""
    gaps: list[float] = field(default_factory=list)
    """The silence at every boundary, in order."""
    longest_run_s: float = 0.0
    longest_run_at_s: float = 0.0
    long_runs: int = 0
    squeezed: list[tuple[float, str, str, float]] = field(default_factory=list)
    repeated: list[tuple[float, str, float]] = field(default_factory=list)
    props_missing: list[str] = field(default_factory=list)
    onset_error_ms: float = 0.0
    """Median distance between the audio's onsets and the timeline's, over lines after a real silence."""

    @property
    def duration_ok(self) -> bool:
        return self.minutes is None or abs(self.duration_s - self.minutes * 60) <= MINUTES_TOLERANCE_S

    def failures(self) -> list[str]:
        said = []
        if self.short_boundaries:
            said.append(f"{self.short_boundaries} boundaries < {MIN_GAP_S:g} s")
        if self.long_runs:
            said.append(f"{self.long_runs} runs of speech > {MAX_RUN_S:g} s")
        if self.squeezed:
            said.append(f"{len(self.squeezed)} breaths < {MIN_BREATH_S:g} s")
        if self.repeated:
            said.append(f"{len(self.repeated)} repeats within {REPEAT_WITHIN_S:g} s")
        if self.props_missing:
            said.append(f"props not named first: {', '.join(self.props_missing)}")
        if not self.duration_ok:
            said.append(f"{self.duration_s:.1f} s for {self.minutes:g} min")
        return said


def measure(session: str, samples: np.ndarray, timeline: dict[str, object], rate: int = RATE) -> Measures:
    """Every measurement of one session from its decoded audio and its timeline (the JSON contract)."""
    cues = timeline["cues"]
    chapters = timeline["chapters"]
    assert isinstance(cues, list) and isinstance(chapters, list)
    lines = [Line(c["text"] or "", c["start_s"], c["end_s"]) for c in cues if c["kind"] == "speech"]
    tones = [(c["start_s"], c["end_s"]) for c in cues if c["kind"] == "tone"]
    duration = len(samples) / rate
    env = envelope(samples, rate)
    level = speech_level_db(env, [(line.start_s, line.end_s) for line in lines])
    threshold = level - SILENCE_BELOW_DB
    quiet = silent_runs(env, threshold)
    boundaries = place_lines(lines, quiet, tones, duration)
    short = sorted((b for b in boundaries if b.silence_s < MIN_GAP_S - RESOLUTION_S), key=lambda b: b.silence_s)
    runs = speech_runs(silent_runs(env, threshold, tones), duration)
    longest = max(runs, key=lambda r: r[1] - r[0], default=(0.0, 0.0))
    first_stretch = chapters[0]["start_s"] if chapters else duration
    options = timeline.get("options")
    minutes = options.get("minutes") if isinstance(options, dict) else None
    after_silence = [abs(line.onset_s - line.start_s) * 1000 for prev, line in itertools.pairwise(lines)
                     if line.start_s - prev.end_s >= MIN_GAP_S]
    return Measures(
        session=session, duration_s=round(duration, 3), minutes=minutes, speech_level_db=round(level, 1),
        threshold_db=round(threshold, 1), boundaries=len(boundaries), short_boundaries=len(short),
        shortest_gaps=[(b.at_s, b.silence_s, b.before, b.after) for b in short],
        gaps=[b.silence_s for b in boundaries],
        longest_run_s=round(longest[1] - longest[0], 2), longest_run_at_s=round(longest[0], 2),
        long_runs=sum(1 for a, b in runs if b - a > MAX_RUN_S),
        squeezed=squeezed_breaths(lines), repeated=repeats(lines),
        props_missing=props_not_named([x.text for x in lines if x.start_s < first_stretch],
                                      [x.text for x in lines if x.start_s >= first_stretch]),
        onset_error_ms=round(float(np.median(after_silence)), 1) if after_silence else 0.0,
    )


# --- rendering and reporting -------------------------------------------------------------------------


def slug(session: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", session.lower()).strip("-")


def render(session: str, folder: Path, engine: str, reuse: bool = False) -> tuple[Path, Path]:
    """Render one session spec (a routine with render options, or ``make ...``); return (mp3, timeline)."""
    words = shlex.split(session)
    name = slug(session)
    mp3, timeline = folder / f"{name}.mp3", folder / f"{name}.json"
    if reuse and mp3.exists() and timeline.exists():
        return mp3, timeline
    cli = [sys.executable, "-m", "voiceguide"]
    if words[0] == "make":
        routine = folder / f"{name}.yaml"
        subprocess.run([*cli, *words, "-o", str(routine)], check=True, capture_output=True, text=True)
        passed = [w for k, w in enumerate(words) if w in ("--avoid", "--level") or (k and words[k - 1] in (
            "--avoid", "--level"))]
        words = [str(routine), *passed]
    done = subprocess.run([*cli, "render", *words, "--engine", engine, "-o", str(mp3), "--timeline", str(timeline)],
                          capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"render failed: {done.stderr.strip()[-400:]}")
    return mp3, timeline


def table(results: Sequence[Measures]) -> str:
    head = ("session", "boundaries", f"< {MIN_GAP_S:g} s", "longest run", f"runs > {MAX_RUN_S:g} s",
            f"breaths < {MIN_BREATH_S:g} s", f"repeats < {REPEAT_WITHIN_S:g} s", "props not named", "length")
    rows = [head]
    for m in results:
        length = f"{m.duration_s:.1f} s" + ("" if m.minutes is None else f" / {m.minutes * 60:g} s")
        rows.append((m.session, str(m.boundaries), str(m.short_boundaries), f"{m.longest_run_s:.1f} s",
                     str(m.long_runs), str(len(m.squeezed)), str(len(m.repeated)), ", ".join(m.props_missing) or "-",
                     length + ("" if m.duration_ok else " (off)")))
    rows.append(("total", str(sum(m.boundaries for m in results)), str(sum(m.short_boundaries for m in results)),
                 f"{max((m.longest_run_s for m in results), default=0):.1f} s",
                 str(sum(m.long_runs for m in results)), str(sum(len(m.squeezed) for m in results)),
                 str(sum(len(m.repeated) for m in results)), str(sum(bool(m.props_missing) for m in results)),
                 f"{sum(not m.duration_ok for m in results)} off"))
    widths = [max(len(r[k]) for r in rows) for k in range(len(head))]
    out = [" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    out.insert(1, "-+-".join("-" * w for w in widths))
    out.insert(len(out) - 1, out[1])
    return "\n".join(out)


def details(m: Measures, limit: int) -> str:
    out = [f"{m.session}: speech level {m.speech_level_db} dBFS, silence under {m.threshold_db} dBFS; "
           f"onsets within {m.onset_error_ms} ms of the timeline (median); longest run at {m.longest_run_at_s} s"]
    out += [f"  gap {s:.2f} s at {t:.2f}: {a!r} -> {b!r}" for t, s, a, b in m.shortest_gaps[:limit]]
    out += [f"  breath {g:.2f} s at {t:.2f}: {a!r} -> {b!r}" for t, a, b, g in m.squeezed[:limit]]
    out += [f"  repeat after {g:.2f} s at {t:.2f}: {a!r}" for t, a, g in m.repeated[:limit]]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--session", action="append", help="a routine (with render options) or 'make ...' "
                        "(repeatable; default: every bundled routine, morning-mobility --avoid knees, three make)")
    parser.add_argument("--engine", default="piper", help="speech engine (default: piper; 'tone' for a dry run)")
    parser.add_argument("--out", type=Path, help="keep the MP3s and timelines here (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="measure what --out already holds instead of rendering")
    parser.add_argument("--details", type=int, default=0, metavar="N", help="list up to N offenders of each kind")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    args = parser.parse_args(argv)
    sessions = args.session or list(DEFAULT_SESSIONS)
    results = []
    with tempfile.TemporaryDirectory(prefix="voiceguide-measure-") as tmp:
        folder = args.out or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for session in sessions:
            try:
                mp3, timeline = render(session, folder, args.engine, args.reuse)
            except (RuntimeError, subprocess.CalledProcessError) as err:
                said = err.stderr.strip() if isinstance(err, subprocess.CalledProcessError) else str(err)
                print(f"error: {session}: {said}", file=sys.stderr)
                return 2
            results.append(measure(session, decode(mp3), json.loads(timeline.read_text(encoding="utf-8"))))
            if not args.json:
                print(f"measured {session}", file=sys.stderr, flush=True)
    failed = [f"{m.session}: {'; '.join(m.failures())}" for m in results if m.failures()]
    if args.json:
        print(json.dumps({"sessions": [{**asdict(m), "duration_ok": m.duration_ok, "failures": m.failures()}
                                       for m in results], "pass": not failed}, indent=2))
    else:
        print(table(results))
        if args.details:
            print("\n".join(details(m, args.details) for m in results))
        print("\n".join(["FAIL", *failed]) if failed else "PASS: every target holds")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
