"""Text-to-speech engines: pyttsx3 (eSpeak NG on Linux, native voices elsewhere) and a tone engine.

An engine is created by a factory *inside the process that uses it* (see :mod:`voiceguide.voice.speech`),
never before a fork. Each engine turns one line of text into the bytes of one audio file.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import ctypes.util
import hashlib
import importlib.metadata
import io
import math
import multiprocessing.connection
import os
import platform
import signal
import sys
import tempfile
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from voiceguide.errors import SpeechEngineError

DEFAULT_RATE_WPM = 140
ESPEAK_DATA_PATH_LIMIT = 160


@dataclass(frozen=True)
class VoiceSettings:
    """How the voice sounds: which voice, how fast, how loud."""

    voice: str | None = None
    """A voice id, or None for the engine's default."""
    rate: int = DEFAULT_RATE_WPM
    """Words per minute."""
    volume: float = 1.0


@dataclass(frozen=True)
class VoiceInfo:
    """One installed voice."""

    id: str
    name: str
    languages: tuple[str, ...]
    gender: str | None


class Engine(Protocol):
    """What the speech layer needs of a text-to-speech engine."""

    identity: str
    """Engine name and version; part of every clip's cache key."""

    def voices(self) -> list[VoiceInfo]: ...

    def synthesize(self, text: str) -> bytes:
        """The bytes of an audio file (WAV or AIFF, read by content) speaking ``text``."""
        ...


EngineFactory = Callable[[VoiceSettings], Engine]


# --------------------------------------------------------------------------- eSpeak NG loading


def _short_data_path(data: str) -> str:
    """eSpeak NG cuts data paths at 160 bytes; link a long one from a short folder."""
    if len(data.encode()) < ESPEAK_DATA_PATH_LIMIT:
        return data
    link = Path(tempfile.gettempdir()) / f"voiceguide-espeak-{hashlib.sha1(data.encode()).hexdigest()[:10]}"
    if not link.exists():
        with contextlib.suppress(FileExistsError):
            link.symlink_to(data, target_is_directory=True)
    return str(link)


_espeak_loaded: str | None = None


def load_espeak() -> str:
    """Make eSpeak NG loadable by pyttsx3 and return a description of which library is used.

    The library bundled in the ``espeakng-loader`` wheel is loaded globally before pyttsx3 looks
    for ``libespeak-ng.so.1``, so no system package is needed. ``VOICEGUIDE_ESPEAK=system``
    prefers a system eSpeak NG where one is installed.
    """
    global _espeak_loaded
    if _espeak_loaded:
        return _espeak_loaded
    if os.environ.get("VOICEGUIDE_ESPEAK") == "system" and ctypes.util.find_library("espeak-ng"):
        _espeak_loaded = "system"
        return _espeak_loaded
    try:
        import espeakng_loader
    except ImportError as e:
        raise SpeechEngineError(
            "no eSpeak NG found: install the espeakng-loader package (pip install espeakng-loader) "
            "or your system's espeak-ng"
        ) from e
    data = espeakng_loader.get_data_path()
    lib = espeakng_loader.get_library_path()
    if not Path(data, "phontab").is_file() or not Path(lib).is_file():
        raise SpeechEngineError(f"the eSpeak NG files of espeakng-loader are incomplete ({data}); reinstall it")
    os.environ["ESPEAK_DATA_PATH"] = _short_data_path(data)
    try:
        ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
    except OSError as e:
        raise SpeechEngineError(f"cannot load eSpeak NG from {lib}: {e}") from e
    _espeak_loaded = "espeakng-loader " + importlib.metadata.version("espeakng-loader")
    return _espeak_loaded


# --------------------------------------------------------------------------- pyttsx3


class Pyttsx3Engine:
    """pyttsx3 with one ``save_to_file`` per ``runAndWait``, as the library requires."""

    @staticmethod
    def describe() -> str:
        """The identity for cache keys: pyttsx3's version and which eSpeak NG or native driver."""
        backend = load_espeak() if platform.system() == "Linux" else platform.system()
        return f"pyttsx3-{importlib.metadata.version('pyttsx3')}/{backend}"

    def __init__(self, settings: VoiceSettings) -> None:
        self.identity = self.describe()  # also loads eSpeak NG before pyttsx3 looks for it
        try:
            import pyttsx3

            self._engine: Any = pyttsx3.init()
        except Exception as e:  # pyttsx3 raises bare RuntimeError/OSError/KeyError by driver
            raise SpeechEngineError(
                f"cannot start the pyttsx3 speech engine ({type(e).__name__}: {e}); on Linux install "
                "espeakng-loader, on macOS and Windows the system voices must be available"
            ) from e
        if settings.voice:
            self._engine.setProperty("voice", settings.voice)
        self._engine.setProperty("rate", settings.rate)
        self._engine.setProperty("volume", settings.volume)
        # eSpeak NG's first synthesis after start-up comes back empty when the text is long
        # (seen with ~200+ characters); one short throwaway line first avoids it.
        self.synthesize("Ready.")

    def voices(self) -> list[VoiceInfo]:
        result = []
        for v in self._engine.getProperty("voices"):
            langs = tuple(x.decode(errors="replace") if isinstance(x, bytes) else str(x) for x in (v.languages or ()))
            result.append(VoiceInfo(str(v.id), str(v.name or v.id), langs, v.gender))
        return result

    def synthesize(self, text: str) -> bytes:
        fd, name = tempfile.mkstemp(suffix=".wav", prefix="voiceguide-")
        os.close(fd)
        try:
            with _quiet_stdout():
                self._engine.save_to_file(text, name)
                self._engine.runAndWait()
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
    finish: Callable[[bytes], Any] = bytes,
) -> None:
    """A worker process: make the engine here, then synthesize lines until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends the workers
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the engine's own prints never reach the user's terminal
    try:
        engine = factory(settings)
        conn.send(("ready", engine.identity))
    except Exception as e:
        conn.send(("error", str(e)))
        return
    while True:
        try:
            request = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if request is None:
            return
        index, text = request
        try:
            conn.send(("clip", index, finish(engine.synthesize(text))))
        except Exception as e:
            conn.send(("failed", index, f"{type(e).__name__}: {e}"))


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
    def describe() -> str:
        return "tone-1"

    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings
        self.identity = self.describe()

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


ENGINES: dict[str, EngineFactory] = {"pyttsx3": Pyttsx3Engine, "tone": ToneEngine}


def engine_factory(name: str | None = None) -> EngineFactory:
    """The engine factory by name (``VOICEGUIDE_ENGINE`` or pyttsx3)."""
    name = name or os.environ.get("VOICEGUIDE_ENGINE") or "pyttsx3"
    try:
        return ENGINES[name]
    except KeyError:
        raise SpeechEngineError(f"unknown speech engine '{name}' (known: {', '.join(ENGINES)})") from None
