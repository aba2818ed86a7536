"""Rendering to MP3, checked with tools other than the ones that wrote it: ffmpeg decodes and
measures the file, mutagen and ffmpeg read its tags and chapters, a small parser reads captions."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from voiceguide.catalog.load import resolve_routine
from voiceguide.catalog.types import Catalog
from voiceguide.cli import main
from voiceguide.session.compose import ComposeOptions
from voiceguide.sound.audio import AudioOptions
from voiceguide.sound.ffmpeg import ffmpeg_path
from voiceguide.sound.render import RenderResult, render
from voiceguide.voice.engines import Pyttsx3Engine, ToneEngine, VoiceSettings
from voiceguide.voice.speech import SAMPLE_RATE, ClipCache, Speech

from .processes import default_signals

pytestmark = pytest.mark.ffmpeg


def decode(path: Path) -> np.ndarray:
    """The MP3 as float samples, decoded by ffmpeg (which honours the encoder-delay tag)."""
    out = subprocess.run(
        [ffmpeg_path(), "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"],
        capture_output=True,
        check=True,
        timeout=300,
    ).stdout
    return np.frombuffer(out, dtype="<i2").astype(np.float64) / 32768.0


def ebur128(path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) as ffmpeg's ebur128 filter measures the file."""
    err = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stderr
    summary = err[err.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary)[1])  # type: ignore[index]
    peak = float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary)[1])  # type: ignore[index]
    return integrated, peak


def ffmetadata(path: Path) -> str:
    return subprocess.run(
        [ffmpeg_path(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout


def onset(samples: np.ndarray, around_s: float, threshold: float = 10 ** (-40 / 20)) -> float | None:
    """Where sound first rises above the threshold, searching 0.25 s either side of a time."""
    lo = max(0, int((around_s - 0.25) * SAMPLE_RATE))
    hi = min(len(samples), int((around_s + 0.25) * SAMPLE_RATE))
    loud = np.flatnonzero(np.abs(samples[lo:hi]) > threshold)
    return None if len(loud) == 0 else (lo + loud[0]) / SAMPLE_RATE


def do_render(catalog: Catalog, spec: str, out: Path, factory: type, cache: Path, **kwargs: object) -> RenderResult:
    routine = resolve_routine(spec, catalog)
    with Speech(factory, VoiceSettings(), cache=ClipCache(cache)) as speech:
        return render(routine, catalog, out, speech, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the real engine


@pytest.fixture(scope="module")
def real_render(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> RenderResult:
    tmp = tmp_path_factory.mktemp("real")
    return do_render(
        catalog,
        "cat-cow,childs-pose",
        tmp / "s.mp3",
        Pyttsx3Engine,
        tmp / "cache",
        compose_options=ComposeOptions(minutes=5),
        timeline_path=tmp / "s.json",
        captions_path=tmp / "s.vtt",
    )


@pytest.mark.engine
def test_real_render_decodes_to_the_timeline_length(real_render: RenderResult) -> None:
    samples = decode(real_render.path)
    assert abs(len(samples) / SAMPLE_RATE - real_render.timeline.duration_s) <= 0.05
    assert abs(real_render.timeline.duration_s - 300) <= 2  # --minutes 5 holds on real speech


@pytest.mark.engine
def test_real_render_chapters_and_tags(real_render: RenderResult) -> None:
    from mutagen.id3 import ID3

    meta = ffmetadata(real_render.path)
    titles = re.findall(r"\[CHAPTER\][^\[]*?title=([^\n]*)", meta)
    assert titles == ["Welcome", "Cat-Cow", "Child's Pose", "Closing"]
    starts = [int(s) for s in re.findall(r"START=(\d+)", meta)]
    assert starts == sorted(starts)
    tags = ID3(real_render.path)
    assert tags.version[:2] == (2, 3)
    assert str(tags["TIT2"]) == real_render.timeline.title
    for frame in ("TALB", "TPE1", "TCON", "TDRC", "COMM::eng", "CTOC:toc"):
        assert frame in tags, frame
    chapters = sorted(tags.getall("CHAP"), key=lambda c: c.start_time)
    assert [c.sub_frames["TIT2"].text[0] for c in chapters] == ["Welcome", "Cat-Cow", "Child's Pose", "Closing"]
    assert tags["CTOC:toc"].child_element_ids == [c.element_id for c in chapters]
    # every stretch's chapter starts where its stretch starts; together they cover the file
    stretch_starts = [round(c.start_s * 1000) for c in real_render.timeline.chapters]
    assert [c.start_time for c in chapters[1:-1]] == stretch_starts
    assert chapters[0].start_time == 0 and chapters[-1].end_time == round(real_render.timeline.duration_s * 1000)
    for before, after in pairwise(chapters):
        assert before.end_time == after.start_time


@pytest.mark.engine
def test_real_render_loudness_and_true_peak(real_render: RenderResult) -> None:
    integrated, peak = ebur128(real_render.path)
    assert -17.0 <= integrated <= -15.0
    assert peak <= -1.0


@pytest.mark.engine
def test_real_render_cues_start_where_the_voice_starts(real_render: RenderResult) -> None:
    samples = decode(real_render.path)
    cues = real_render.timeline.cues
    errors = []
    for i, cue in enumerate(cues):
        if cue.kind != "speech":
            continue
        # only cues after a quiet gap can be checked: right after other sound there is no onset to see
        if i > 0 and cues[i - 1].kind != "silence":
            continue
        heard = onset(samples, cue.start_s)
        assert heard is not None, f"no voice near {cue.start_s:.3f} s ({cue.text})"
        errors.append(abs(heard - cue.start_s))
    assert len(errors) > 10
    assert max(errors) <= 0.030
    assert float(np.median(errors)) <= 0.010


@pytest.mark.engine
def test_real_render_writes_timeline_and_captions(real_render: RenderResult) -> None:
    folder = real_render.path.parent
    data = json.loads((folder / "s.json").read_text())
    assert data["duration_s"] == round(real_render.timeline.duration_s, 3)
    vtt = (folder / "s.vtt").read_text()
    assert vtt.startswith("WEBVTT\n")
    stamps = re.findall(r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})", vtt)
    assert len(stamps) == len(real_render.timeline.speech())


# --------------------------------------------------------------------------- the tone engine: exact layout


def test_tone_render_places_every_line_exactly(tmp_path: Path, catalog: Catalog) -> None:
    result = do_render(
        catalog, "cat-cow", tmp_path / "t.mp3", ToneEngine, tmp_path / "cache", audio_options=AudioOptions(chimes=False)
    )
    samples = decode(result.path)
    assert abs(len(samples) / SAMPLE_RATE - result.timeline.duration_s) <= 0.05
    cues = result.timeline.cues
    checked = 0
    for i, cue in enumerate(cues):
        if cue.kind != "speech":
            continue
        assert cue.duration_s == pytest.approx(ToneEngine.seconds(cue.text or ""), abs=0.002)
        if i == 0 or cues[i - 1].kind == "silence":
            heard = onset(samples, cue.start_s, threshold=0.02)
            assert heard is not None and abs(heard - cue.start_s) <= 0.010, cue
            checked += 1
    assert checked > 10


@pytest.mark.parametrize("minutes", [4, 5.5])
def test_minutes_hold_on_rendered_audio(tmp_path: Path, catalog: Catalog, minutes: float) -> None:
    result = do_render(
        catalog,
        "childs-pose,cat-cow",
        tmp_path / "m.mp3",
        ToneEngine,
        tmp_path / "cache",
        compose_options=ComposeOptions(minutes=minutes),
    )
    assert abs(len(decode(result.path)) / SAMPLE_RATE - minutes * 60) <= 2.0


def test_no_chimes_leaves_silence_where_tones_were(tmp_path: Path, catalog: Catalog) -> None:
    with_tones = do_render(catalog, "childs-pose", tmp_path / "a.mp3", ToneEngine, tmp_path / "c")
    without = do_render(
        catalog, "childs-pose", tmp_path / "b.mp3", ToneEngine, tmp_path / "c", audio_options=AudioOptions(chimes=False)
    )
    tone = next(c for c in with_tones.timeline.cues if c.kind == "tone")
    middle = (tone.start_s + tone.end_s) / 2
    a, b = decode(with_tones.path), decode(without.path)
    i = int(middle * SAMPLE_RATE)
    assert np.abs(a[i - 200 : i + 200]).max() > 0.01
    assert np.abs(b[i - 200 : i + 200]).max() < 0.001


def test_cache_makes_the_second_render_synthesize_nothing(tmp_path: Path, catalog: Catalog) -> None:
    first = do_render(catalog, "cat-cow", tmp_path / "1.mp3", ToneEngine, tmp_path / "cache")
    second = do_render(catalog, "cat-cow", tmp_path / "2.mp3", ToneEngine, tmp_path / "cache")
    assert first.clips_synthesized > 0
    assert second.clips_synthesized == 0
    assert (tmp_path / "1.mp3").read_bytes() == (tmp_path / "2.mp3").read_bytes()  # the same file, from the cache


def test_the_second_render_encodes_nothing(tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run of sound the first render encoded is kept; the second joins them, the same to the byte."""
    from voiceguide.sound import segments

    do_render(catalog, "cat-cow", tmp_path / "1.mp3", ToneEngine, tmp_path / "cache")
    kept = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").glob("*/*.frames")}
    assert len(kept) > 5

    def refused(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("a run of sound was encoded again")

    monkeypatch.setattr(segments, "encode_segment", refused)
    do_render(catalog, "cat-cow", tmp_path / "2.mp3", ToneEngine, tmp_path / "cache")
    assert (tmp_path / "1.mp3").read_bytes() == (tmp_path / "2.mp3").read_bytes()
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").glob("*/*.frames")} == kept


# --------------------------------------------------------------------------- the command line


def run_cli(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(tmp_path / "cache"), **env}
    return subprocess.run(
        [sys.executable, "-m", "voiceguide", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "cache")


def test_render_command_writes_the_default_path(tmp_path: Path) -> None:
    (tmp_path / "output").mkdir()
    out = run_cli(["render", "cat-cow"], tmp_path, VOICEGUIDE_ENGINE="tone")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "output" / "cat-cow.mp3").stat().st_size > 10_000
    assert re.search(r"Wrote output/cat-cow\.mp3: \d+:\d\d, 3 chapters \(1 stretch\), [\d.]+ MB, in [\d.]+ s",
                     out.stdout)


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (["render", "cat-cow", "--voice", "no-such-voice-here", "-o", "x.mp3"], {}, 1, "no voice 'no-such-voice-here'"),
        (["render", "cat-cow", "--rate", "0", "-o", "x.mp3"], {}, 2, "outside 60-400"),
        (["render", "cat-cow", "--rate", "5000", "-o", "x.mp3"], {}, 2, "outside 60-400"),
        (["render", "cat-cow", "--bitrate", "63k", "-o", "x.mp3"], {}, 2, "not an MP3 bitrate"),
        (["render", "cat-cow", "-o", "missing/x.mp3"], {}, 1, "does not exist"),
        (["render", "cat-cow", "-o", "."], {}, 1, "is a folder"),
        (["render", "cat-cow", "--captions", "x.txt", "-o", "x.mp3"], {}, 2, "must end in .vtt or .srt"),
        (["render", "cat-cow", "-o", "x.mp3"], {"VOICEGUIDE_ENGINE": "nonesuch"}, 2, "VOICEGUIDE_ENGINE"),
        (["render", "cat-cow", "--engine", "nonesuch", "-o", "x.mp3"], {}, 2, "'nonesuch' is not one of"),
        (["render", "cat-cow", "--engine", "tone", "--voice", "joe", "-o", "x.mp3"], {}, 1, "has no voices"),
        (
            ["render", "cat-cow", "-o", "x.mp3"],
            {"VOICEGUIDE_ENGINE": "tone", "VOICEGUIDE_FFMPEG": "/nonexistent/ffmpeg"},
            1,
            "install the imageio-ffmpeg package",
        ),
    ],
)
def test_render_bad_input(tmp_path: Path, args: list[str], env: dict[str, str], code: int, message: str) -> None:
    out = run_cli(args, tmp_path, **env)
    assert out.returncode == code, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert leftovers(tmp_path) == []


def test_render_into_an_unwritable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import voiceguide.fileio as fileio

    def refuse(*_a: object, **_k: object) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fileio.tempfile, "mkstemp", refuse)
    monkeypatch.setenv("VOICEGUIDE_ENGINE", "tone")
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(main, ["render", "cat-cow", "-o", str(tmp_path / "x.mp3")])
    assert result.exit_code == 1
    assert "cannot write" in result.output
    assert not (tmp_path / "x.mp3").exists()


def test_missing_espeak_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import voiceguide.voice.espeak as engines
    from voiceguide.errors import SpeechEngineError

    monkeypatch.setattr(engines, "_espeak_loaded", None)
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    monkeypatch.delenv("VOICEGUIDE_ESPEAK", raising=False)
    with pytest.raises(SpeechEngineError, match="pip install espeakng-loader"):
        engines.load_espeak()


def test_interrupted_render_leaves_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(tmp_path / "cache"), "VOICEGUIDE_ENGINE": "tone"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "voiceguide", "render", "lower-back-relief", "--minutes", "30", "-o", "long.mp3"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: the render and its ffmpeg, to end together whatever happens
        preexec_fn=default_signals(),  # Ctrl-C as at a terminal, even where the runner ignores it
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(tmp_path.glob(".long.mp3.*")):
            time.sleep(0.02)
        assert list(tmp_path.glob(".long.mp3.*")), "the render never started writing"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:  # a failed assertion or a render that ignores the signal leaves no process behind
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode != 0
    assert "Traceback" not in err
    assert leftovers(tmp_path) == []


@pytest.mark.engine
def test_voices_lists_installed_voices_as_json(tmp_path: Path) -> None:
    out = run_cli(["voices", "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    voices = json.loads(out.stdout)
    assert any(v["id"] == "gmw/en-us" for v in voices)
    assert all({"id", "name", "languages", "gender"} <= set(v) for v in voices)


@pytest.mark.engine
def test_a_voice_chosen_by_part_of_its_name_renders(tmp_path: Path) -> None:
    out = run_cli(["render", "neck-tilt", "--voice", "America, New York", "--minutes", "2", "-o", "v.mp3"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "v.mp3").stat().st_size > 10_000


def test_cache_info_and_clear(tmp_path: Path) -> None:
    assert run_cli(["render", "neck-tilt", "-o", "c.mp3"], tmp_path, VOICEGUIDE_ENGINE="tone").returncode == 0
    info = json.loads(run_cli(["cache", "info", "--json"], tmp_path).stdout)
    assert info["clips"] > 5 and info["bytes"] > 0 and info["path"] == str(tmp_path / "cache")
    cleared = run_cli(["cache", "clear"], tmp_path)
    assert cleared.returncode == 0 and f"Removed {info['clips']}" in cleared.stdout
    assert json.loads(run_cli(["cache", "info", "--json"], tmp_path).stdout)["clips"] == 0
