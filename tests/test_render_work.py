"""A render does the work its session needs and no more: it synthesizes the lines it speaks, holds
no clip it can read back, shares one engine between threads where the engine allows, and starts
as many workers as the machine has room for."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.fake_engines import CostlyLinesEngine, FlakySharedEngine, SharedToneEngine
from voiceguide.catalog.load import resolve_routine
from voiceguide.catalog.types import Catalog
from voiceguide.session.compose import ComposeOptions, possible_lines
from voiceguide.session.timeline import Cue
from voiceguide.sound import audio
from voiceguide.sound.audio import AudioOptions, SessionAudio
from voiceguide.sound.mp3 import WRITE_BYTES, _blocks
from voiceguide.sound.render import compose_spoken
from voiceguide.voice import cores
from voiceguide.voice.engines import ToneEngine, VoiceSettings
from voiceguide.voice.pool import SynthesisPool
from voiceguide.voice.speech import Clip, ClipCache, Speech

OPTIONS = ComposeOptions(minutes=10)


def spoken(cues: tuple[Cue, ...]) -> set[str | None]:
    return {c.text for c in cues if c.kind == "speech"}


def test_a_cold_render_synthesizes_only_the_lines_it_speaks(tmp_path: Path, catalog: Catalog) -> None:
    routine = resolve_routine("kneeling-back", catalog)
    reports: list[tuple[float, float]] = []
    with Speech(ToneEngine, VoiceSettings(), cache=ClipCache(tmp_path), jobs=2) as speech:
        timeline = compose_spoken(routine, catalog, OPTIONS, speech, lambda _, d, t: reports.append((d, t)))
        said = spoken(timeline.cues)
        assert all(c.duration_s == pytest.approx(ToneEngine.seconds(c.text or ""), abs=0.002)
                   for c in timeline.speech())  # fmt: skip
        assert len(said) <= speech.synthesized < len(possible_lines(routine, catalog, OPTIONS))
    assert abs(timeline.duration_s - 600) <= 2.0
    assert reports[-1][0] == reports[-1][1] == speech.synthesized
    assert all(d <= t for d, t in reports) and [d for d, _ in reports] == sorted(d for d, _ in reports)


def test_the_session_does_not_depend_on_what_the_cache_holds(tmp_path: Path, catalog: Catalog) -> None:
    routine = resolve_routine("kneeling-back", catalog)
    with Speech(ToneEngine, VoiceSettings(), cache=ClipCache(tmp_path / "cold"), jobs=2) as speech:
        cold = compose_spoken(routine, catalog, OPTIONS, speech)
    full = ClipCache(tmp_path / "full")
    with Speech(ToneEngine, VoiceSettings(), cache=full, jobs=2) as speech:
        speech.prepare([*possible_lines(routine, catalog, OPTIONS), "A line no session says."])
    with Speech(ToneEngine, VoiceSettings(), cache=full, jobs=2) as speech:
        warm = compose_spoken(routine, catalog, OPTIONS, speech)
        assert speech.synthesized == 0
    assert warm.to_json() == cold.to_json()


def test_sounds_made_again_after_being_let_go_are_the_same(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    routine = resolve_routine("cat-cow", catalog)
    with Speech(ToneEngine, VoiceSettings(), cache=ClipCache(tmp_path), jobs=2) as speech:
        timeline = compose_spoken(routine, catalog, ComposeOptions(), speech)
        monkeypatch.setattr(audio, "HELD_SAMPLES", 1)
        session = SessionAudio(timeline, speech.clip, AudioOptions())
        again = b"".join(session.span_chunks(0, session.total_samples))
        assert len(session._made) == 1
    held = b"".join(SessionAudio(timeline, ToneEngineClips(), AudioOptions()).span_chunks(0, session.total_samples))
    assert again == held


class ToneEngineClips:
    """Clips straight from a tone engine in this process, none of them cached."""

    def __init__(self) -> None:
        from voiceguide.voice.speech import clip_from_audio

        self.engine = ToneEngine(VoiceSettings())
        self.make = clip_from_audio

    def __call__(self, text: str) -> Clip:
        clip = self.make(self.engine.synthesize(text))
        assert clip is not None
        return clip


def test_a_clip_gone_from_the_cache_is_made_again(tmp_path: Path) -> None:
    with Speech(ToneEngine, VoiceSettings(), cache=ClipCache(tmp_path), jobs=1) as speech:
        speech.prepare(["Sit tall."])
        first = speech.clip("Sit tall.").pcm.copy()
        for entry in tmp_path.glob("*/*.clip"):
            entry.unlink()
        assert (speech.clip("Sit tall.").pcm == first).all()
        assert speech.synthesized == 2


def test_a_shareable_engine_runs_its_jobs_as_lanes_of_one_worker() -> None:
    texts = [f"Line number {i}." for i in range(12)]
    pool = SynthesisPool(SharedToneEngine, VoiceSettings(), jobs=3)
    try:
        made = dict(pool.run(texts))
        assert [w.lanes for w in pool._workers] == [3]
    finally:
        pool.close()
    assert set(made) == set(texts)
    expected = ToneEngineClips()
    assert all((made[t].pcm == expected(t).pcm).all() for t in texts)


def test_a_failed_line_in_a_lane_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAKY_DIR", str(tmp_path))
    pool = SynthesisPool(FlakySharedEngine, VoiceSettings(), jobs=2)
    try:
        made = dict(pool.run([f"Line {i}." for i in range(8)]))
    finally:
        pool.close()
    assert len(made) == 8 and all(len(c.pcm) > 0 for c in made.values())


def test_lines_that_cost_their_worker_much_are_not_spoken_side_by_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine that says what a line costs (Piper: its longest sentence) gets lines that fit its
    budget together: two heavy lines never run at once, though each runs beside light ones."""
    log = tmp_path / "spoken.tsv"
    monkeypatch.setenv("SPOKEN_LOG", str(log))
    texts = [f"Heavy line {i}." for i in range(6)] + [f"Light line {i}." for i in range(12)]  # heavy ones first
    pool = SynthesisPool(CostlyLinesEngine, VoiceSettings(), jobs=2)
    try:
        made = dict(pool.run(texts))
    finally:
        pool.close()
    assert set(made) == set(texts)
    spoken = [(text, float(a), float(b)) for text, a, b in (row.split("\t") for row in log.read_text().splitlines())]
    heavy = [(a, b) for text, a, b in spoken if text.startswith("Heavy")]
    assert len(heavy) == 6
    assert all(b1 <= a2 or b2 <= a1 for i, (a1, b1) in enumerate(heavy) for a2, b2 in heavy[i + 1 :])
    light = [(a, b) for text, a, b in spoken if text.startswith("Light")]
    assert any(a1 < b2 and a2 < b1 for a1, b1 in heavy for a2, b2 in light)  # heavy beside light


@pytest.mark.parametrize(
    ("load", "memory", "each", "shared", "expected"),
    [(0.0, 64000.0, 0.0, False, 4), (2.6, 64000.0, 0.0, False, 1), (1.2, 64000.0, 0.0, False, 3),
     (0.0, 300.0, 160.0, False, 1), (0.0, None, 160.0, False, 4), (30.0, 64000.0, 160.0, False, 1),
     (30.0, 64000.0, 160.0, True, 4), (30.0, 500.0, 160.0, True, 3)],
)  # fmt: skip
def test_default_jobs_follow_the_idle_cores_and_free_memory(
    monkeypatch: pytest.MonkeyPatch, load: float, memory: float | None, each: float, shared: bool, expected: int
) -> None:
    monkeypatch.setattr(cores, "usable_cores", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(cores, "runnable_now", lambda: load)  # work that goes on shows in both
    monkeypatch.setattr(cores, "available_memory_mb", lambda: memory)
    assert cores.default_jobs(each, shared) == expected


@pytest.mark.parametrize(("average", "now", "expected"), [(2.6, 0.0, 4), (2.6, None, 1), (0.5, 3.0, 4), (3.0, 2.0, 2)])
def test_work_that_has_ended_does_not_hold_the_workers_back(
    monkeypatch: pytest.MonkeyPatch, average: float, now: float | None, expected: int
) -> None:
    """The load average still counts a render that ended seconds ago; the tasks runnable now do not."""
    monkeypatch.setattr(cores, "usable_cores", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (average, average, average))
    monkeypatch.setattr(cores, "runnable_now", lambda: now)
    monkeypatch.setattr(cores, "available_memory_mb", lambda: None)
    assert cores.default_jobs() == expected


def test_the_tasks_runnable_now_are_read_from_the_system() -> None:
    """On Linux the count is there, and two processes spinning are counted as other work."""
    if not os.path.exists("/proc/loadavg"):
        assert cores.runnable_now() is None
        return
    assert (cores.runnable_now() or 0.0) >= 0
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:  # both spinning are runnable whether or not a core is free for them; start-up may take a while
        deadline = time.monotonic() + 30
        busy = 0.0
        while busy < 2 and time.monotonic() < deadline:
            busy = max(busy, cores.runnable_now() or 0.0)
            time.sleep(0.05)
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    assert busy >= 2


def test_pcm_goes_to_the_encoder_in_whole_blocks() -> None:
    chunks = [bytes([i % 251]) * (1000 + i) for i in range(400)]
    blocks = list(_blocks(iter(chunks)))
    assert b"".join(blocks) == b"".join(chunks)
    assert all(len(b) >= WRITE_BYTES for b in blocks[:-1]) and len(blocks) < len(chunks) / 50


@pytest.mark.parametrize(
    ("engine", "memory", "load", "expected"),
    [("piper", 1000.0, 0.0, 2), ("pyttsx3", 1000.0, 0.0, 4), ("piper", 1000.0, 3.0, 1), ("tone", None, 0.0, 4),
     ("piper", 300.0, 0.0, 1)],
)  # fmt: skip
def test_pack_episodes_at_once_follow_idle_cores_and_free_memory(
    monkeypatch: pytest.MonkeyPatch, engine: str, memory: float | None, load: float, expected: int
) -> None:
    """A Piper episode holds a voice of its own (about 400 MB): a pack renders no more of them at
    once than the free memory holds, nor more than the idle cores run."""
    from voiceguide.podcast.workers import episode_workers
    from voiceguide.voice.engines import engine_factory

    monkeypatch.setattr(cores, "usable_cores", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(cores, "runnable_now", lambda: load)
    monkeypatch.setattr(cores, "available_memory_mb", lambda: memory)
    factory = engine_factory(engine)
    assert episode_workers(0, 9, factory) == expected
    assert episode_workers(0, 1, factory) == 1
    assert episode_workers(3, 9, factory) == 3  # asked for: as asked


def test_session_loudness_from_hops_is_the_loudness_from_bins() -> None:
    """Summing each sound's bins straight into 100 ms hops measures the same loudness as laying
    every bin out, for sounds placed at any bin and of any length."""
    from voiceguide.voice import level

    rng = np.random.default_rng(3)
    for _ in range(200):
        n_bins = int(rng.integers(100, 20000))
        bins = np.zeros(n_bins + 400)
        hops = np.zeros(n_bins // level.HOP_BINS + 400 // level.HOP_BINS + 3)
        for _ in range(int(rng.integers(1, 30))):
            energy = (rng.random(int(rng.integers(1, 300))) * rng.choice([1e-6, 1e-2, 1.0])).astype(np.float32)
            first = int(rng.integers(0, n_bins))
            bins[first : first + len(energy)] += energy
            hop, sums = level.hop_sums(energy, first)
            hops[hop : hop + len(sums)] += sums
        from_bins, from_hops = level.session_loudness(bins), level.loudness_of_hops(hops)
        assert from_bins == pytest.approx(from_hops, abs=1e-9) or (np.isinf(from_bins) and np.isinf(from_hops))


def test_a_cached_clips_energy_does_not_hold_its_samples(tmp_path: Path) -> None:
    """A session keeps every spoken line's energy; a view into the cache entry would keep the
    line's samples alive with it, growing memory with the session's length."""
    cache = ClipCache(tmp_path)
    clip = Clip(np.arange(-3000, 3000, dtype=np.int16), np.ones(41, dtype=np.float32), 0.5)
    assert cache.put("k" * 64, clip)
    back = cache.get("k" * 64)
    assert back is not None and np.array_equal(back.energy, clip.energy)
    assert back.energy.flags.owndata
