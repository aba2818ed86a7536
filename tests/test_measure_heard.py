"""scripts/measure_heard.py finds in audio what was planted there: gaps, runs, breaths, repeats, props.

The audio is made here (tones standing in for lines, silences of known length), with a timeline
that is deliberately a little off where the test says so: the measurements must follow the audio.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("measure_heard", REPO / "scripts" / "measure_heard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["measure_heard"] = module
    spec.loader.exec_module(module)
    return module


mh = _load()
RATE = mh.RATE
LEVEL = 10 ** (-16 / 20)


class Session:
    """Audio and its timeline built piece by piece: lines (tones), silences, chimes."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.cues: list[dict[str, Any]] = []
        self.chapters: list[dict[str, Any]] = []
        self.t = 0.0

    def _add(self, samples: np.ndarray, kind: str, text: str | None, shift_s: float = 0.0) -> None:
        end = self.t + len(samples) / RATE
        self.cues.append({"start_s": self.t + shift_s, "end_s": end + shift_s, "kind": kind, "role": "setup",
                          "text": text, "chapter": None})
        self.parts.append(samples)
        self.t = end

    def line(self, text: str, seconds: float = 1.5, tail_db: float | None = None, shift_s: float = 0.0) -> Session:
        """A spoken line: a tone (an amplitude wobble like syllables), optionally ending in a quiet tail
        ``tail_db`` under it; the timeline's cue may be moved by ``shift_s`` from where the sound is."""
        t = np.arange(round(seconds * RATE)) / RATE
        tone = LEVEL * np.sqrt(2) * np.sin(2 * np.pi * 180 * t) * (0.75 + 0.25 * np.sin(2 * np.pi * 4 * t))
        if tail_db is not None:
            tail = np.arange(round(0.15 * RATE)) / RATE
            tone = np.concatenate((tone, LEVEL * 10 ** (-tail_db / 20) * np.sin(2 * np.pi * 180 * tail)))
        self._add(tone, "speech", text, shift_s)
        return self

    def silence(self, seconds: float) -> Session:
        self._add(np.zeros(round(seconds * RATE)), "silence", None)
        return self

    def chime(self, seconds: float = 0.6) -> Session:
        t = np.arange(round(seconds * RATE)) / RATE
        self._add(LEVEL * np.sin(2 * np.pi * 880 * t), "tone", None)
        return self

    def stretch(self) -> Session:
        """The first stretch starts here."""
        self.chapters.append({"title": "Stretch", "stretch": "s", "start_s": self.t, "end_s": self.t})
        return self

    def measure(self, minutes: float | None = None) -> Any:
        timeline = {"cues": self.cues, "chapters": self.chapters, "options": {"minutes": minutes}}
        return mh.measure("test", np.concatenate(self.parts), timeline)


def test_boundaries_are_measured_from_the_audio_not_the_timeline() -> None:
    session = (Session().line("One line.").line("Glued to it.").silence(0.2).line("Too close.").silence(0.5)
               .line("Room to act.", shift_s=-0.3).silence(0.1).line("The timeline says far.", shift_s=0.4))
    m = session.measure()
    assert m.boundaries == 4
    assert m.gaps[0] < 0.01
    assert m.gaps[1] == pytest.approx(0.2, abs=0.01)
    assert m.gaps[2] == pytest.approx(0.5, abs=0.01)
    assert m.gaps[3] == pytest.approx(0.1, abs=0.01)  # the timeline's 0.8 s gap is not in the audio
    assert m.short_boundaries == 3
    assert [g[2] for g in m.shortest_gaps] == ["One line.", "Room to act.", "Glued to it."]


def test_a_quiet_tail_counts_as_silence_a_loud_one_as_speech() -> None:
    quiet = Session().line("Trails off.", tail_db=45).line("Next.").measure()
    loud = Session().line("Trails off.", tail_db=15).line("Next.").measure()
    assert quiet.gaps[0] == pytest.approx(0.15, abs=0.03)
    assert loud.gaps[0] < 0.03


def test_a_chime_breaks_a_run_of_speech_and_its_boundary_is_not_counted() -> None:
    session = Session()
    for k in range(8):  # 8 x 1.5 s with 0.4 s pauses: one run of 14.8 s
        session.line(f"Line {k}.").silence(0.4)
    session.silence(0.4).line("After a pause.").chime().line("After a chime.", seconds=2.0)
    m = session.measure()
    assert m.long_runs == 1
    assert m.longest_run_s == pytest.approx(8 * 1.5 + 7 * 0.4, abs=0.05)
    assert m.longest_run_at_s == pytest.approx(0.0, abs=0.02)
    assert m.boundaries == 8  # seven inside the run, one before "After a pause."; none across the chime


def test_a_squeezed_breath_is_found_onset_to_onset() -> None:
    session = (Session().line("Breathe in.", 1.0).silence(0.2).line("One.", 0.4).silence(0.4)
               .line("Breathe out.", 1.0).silence(3.0)
               .line("Breathe in slowly.", 1.2).silence(2.0).line("Breathe out slowly.", 1.2).silence(1.0)
               .line("Breathe in and lift.", 1.0).silence(0.5).line("Breathe in again.", 1.0).silence(0.5)
               .line("Breathe out.", 1.0).silence(2.0)
               .line("Breathe in, just long enough.", 1.0).silence(1.5).line("Breathe out.", 1.0))
    m = session.measure()
    assert [(a, b) for _, a, b, _ in m.squeezed] == [("Breathe in.", "Breathe out."),
                                                     ("Breathe in again.", "Breathe out.")]
    assert [t for t, *_ in m.squeezed] == [0.0, pytest.approx(12.9, abs=0.01)]
    assert [g for *_, g in m.squeezed] == [pytest.approx(2.0, abs=0.01), pytest.approx(1.5, abs=0.01)]


def test_a_long_line_said_again_within_15_s_is_a_repeat() -> None:
    long_line = "Let your shoulders drop away."
    session = (Session().line(long_line).silence(5.0).line(long_line)  # again after 5 s
               .silence(16.0).line(long_line)  # after 16 s: not a repeat
               .silence(1.0).line("Breathe in slowly.").silence(1.0).line("Breathe in slowly."))  # four words
    m = session.measure()
    assert len(m.repeated) == 1
    assert m.repeated[0][1] == long_line
    assert m.repeated[0][2] == pytest.approx(5.0, abs=0.03)


def test_props_must_be_named_before_the_first_stretch() -> None:
    session = (Session().line("Keep a sturdy chair close by.").stretch()
               .line("Stand with a wall or chair at your side.").line("Hold a towel between your hands.")
               .line("Rest on a folded blanket.").line("Hold the towel loosely."))
    assert session.measure().props_missing == ["towel", "blanket"]
    named = Session().line("Have a towel and a blanket nearby.").stretch().line("Hold a towel.").line("Use blankets.")
    assert named.measure().props_missing == []


def test_duration_is_checked_against_the_minutes() -> None:
    session = Session().line("Welcome.").silence(58.5)
    assert session.measure(minutes=1).duration_ok
    assert not session.measure(minutes=1.1).duration_ok
    assert any("for 1.1 min" in f for f in session.measure(minutes=1.1).failures())


@pytest.mark.slow
@pytest.mark.ffmpeg
def test_a_tone_session_measured_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Render with the tone engine through the CLI, decode the MP3, and find the timeline's own gaps in it."""
    status = mh.main(["--engine", "tone", "--session", "cat-cow --minutes 3", "--out", str(tmp_path), "--json"])
    report = json.loads(capsys.readouterr().out)
    [m] = report["sessions"]
    timeline = json.loads((tmp_path / "cat-cow-minutes-3.json").read_text(encoding="utf-8"))
    cues = timeline["cues"]
    speech = [c for c in cues if c["kind"] == "speech"]
    tones = [c["start_s"] for c in cues if c["kind"] == "tone"]
    planned = [b["start_s"] - a["end_s"] for a, b in itertools.pairwise(speech)
               if not any(a["end_s"] <= t < b["start_s"] for t in tones)]
    assert len(m["gaps"]) == len(planned) > 10
    # MP3 spreads a little coding noise into the silence next to a sharp onset: up to about 20 ms
    assert max(abs(heard - gap) for heard, gap in zip(m["gaps"], planned)) < 0.025
    assert m["short_boundaries"] == sum(heard < mh.MIN_GAP_S - mh.RESOLUTION_S for heard in m["gaps"])
    assert sum(gap < mh.MIN_GAP_S - 0.025 for gap in planned) <= m["short_boundaries"]
    assert m["short_boundaries"] <= sum(gap < mh.MIN_GAP_S + 0.025 for gap in planned)
    assert m["duration_s"] == pytest.approx(180.0, abs=0.05) and m["duration_ok"]
    assert status == (1 if m["failures"] else 0) and report["pass"] is not bool(m["failures"])


def test_a_line_after_a_chime_begins_where_the_silence_after_the_chime_ends() -> None:
    """Onsets come from the audio's silences; the silence before a chime is not the one before the line."""
    lines = [mh.Line("Breathe into the belly.", 0.0, 1.0), mh.Line("Breathe out.", 1.9, 2.9)]
    runs = [(1.0, 1.5), (1.7, 1.95)]  # line, silence, chime 1.5-1.7, silence, line (its onset 50 ms late)
    boundaries = mh.place_lines(lines, runs, [(1.5, 1.7)], 3.0)
    assert boundaries == []  # the chime separates them
    assert lines[1].onset_s == 1.95 and lines[0].offset_s == 1.0
    assert mh.squeezed_breaths(lines) == []  # "Breathe into" is not "Breathe in"
