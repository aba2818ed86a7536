"""eSpeak NG through pyttsx3's own binding, one line at a time, every line from the same state.

pyttsx3's eSpeak driver starts eSpeak NG in its asynchronous mode and its ``runAndWait`` loop
ends after one 10 ms sleep, whether or not the line has been spoken: a line that takes eSpeak
longer than that (a long one, or any one on a busy machine) comes back as an empty or a stale
file, and the driver's ``stop`` may cancel the next line while the last one is still winding
down. Here eSpeak NG runs in its synchronous mode through the ``pyttsx3.drivers._espeak``
binding, so a line's audio is complete when ``espeak_Synth`` returns.

eSpeak NG also carries state from one utterance to the next (a line's samples shift by a few
depending on what was spoken before it), so a clip would depend on which worker spoke what.
Each line is therefore spoken in a child forked from the freshly started engine: every line
starts from the same state, and a clip depends on its text and settings alone. Several threads
may ask for lines at once, each line then speaking in a child of its own, side by side.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import io
import os
import struct
import tempfile
import threading
import warnings
import wave
from pathlib import Path
from typing import Any

from voiceguide.errors import SpeechEngineError

ESPEAK_DATA_PATH_LIMIT = 160
_LENGTH = struct.Struct("<Q")
_FORKING = threading.Lock()
"""Lines are forked one at a time (from several threads, each waiting for its own line): a child
then holds no other line's pipe open, so each line's reader sees its end as soon as its own child is done."""

# The children forked here only speak, write to their own pipe and leave: none takes a lock that
# another thread of this process may hold, which is what that warning (Python 3.12 on) is about.
warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks", category=DeprecationWarning)

_espeak_loaded: str | None = None


def _short_data_path(data: str) -> str:
    """eSpeak NG cuts data paths at 160 bytes; link a long one from a short folder."""
    if len(data.encode()) < ESPEAK_DATA_PATH_LIMIT:
        return data
    link = Path(tempfile.gettempdir()) / f"voiceguide-espeak-{hashlib.sha1(data.encode()).hexdigest()[:10]}"
    if not link.exists():
        with contextlib.suppress(FileExistsError):
            link.symlink_to(data, target_is_directory=True)
    return str(link)


def load_espeak() -> str:
    """Make eSpeak NG loadable by pyttsx3 and return which library is used (``system`` or ``espeakng-loader``).

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
    _espeak_loaded = "espeakng-loader"
    return _espeak_loaded


def espeak_description() -> str:
    """Which eSpeak NG is loaded, with its package's version where it came from one (for cache keys).

    Apart from :func:`load_espeak`, so a worker, which has no use for it, never reads package metadata.
    """
    loaded = load_espeak()
    if loaded == "system":
        return loaded
    import importlib.metadata

    return f"{loaded} {importlib.metadata.version('espeakng-loader')}"


def espeak_binding() -> Any:
    """pyttsx3's ctypes binding of eSpeak NG, with the library loaded first."""
    load_espeak()
    try:
        from pyttsx3.drivers import _espeak
    except Exception as e:  # the binding raises a bare RuntimeError when no library loads
        raise SpeechEngineError(f"cannot load eSpeak NG through pyttsx3 ({type(e).__name__}: {e})") from e
    return _espeak


class EspeakSynth:
    """eSpeak NG in synchronous mode: one process-wide instance (eSpeak starts once per process)."""

    _started = False

    def __init__(self, voice: str | None, espeak_rate: int, volume: float) -> None:
        if EspeakSynth._started:
            raise SpeechEngineError("eSpeak NG is already started in this process")
        self._es = espeak_binding()
        self.sample_rate = int(self._es.Initialize(self._es.AUDIO_OUTPUT_SYNCHRONOUS, 1000))
        if self.sample_rate <= 0:
            raise SpeechEngineError("eSpeak NG could not start (espeak_Initialize failed)")
        EspeakSynth._started = True
        self._chunks: list[bytes] = []
        self._callback = self._es.t_espeak_callback(self._on_audio)  # kept alive as long as the engine
        self._es.dll.espeak_SetSynthCallback(self._callback)
        if voice and self._es.SetVoiceByName(voice.encode()) != self._es.EE_OK:
            raise SpeechEngineError(f"eSpeak NG has no voice '{voice}' (see 'voiceguide voices')")
        self._es.SetParameter(self._es.RATE, int(espeak_rate), 0)
        self._es.SetParameter(self._es.VOLUME, round(volume * 100), 0)
        # eSpeak NG sets up its buffers on the first utterance: an empty one here does that once,
        # before any fork (each line's child would otherwise do it again, which doubled a line's
        # cost), and leaves what the next line sounds like as it was (the clips are the same)
        self._speak_here("")

    def _on_audio(self, wav: Any, samples: int, events: Any) -> int:
        if samples > 0:
            self._chunks.append(ctypes.string_at(wav, samples * 2))
        return 0

    def voices(self) -> list[tuple[str, str, tuple[str, ...], str | None]]:
        """(id, name, languages, gender) of every voice, ids as pyttsx3 gives them."""
        found: list[tuple[str, str, tuple[str, ...], str | None]] = []
        genders = {1: "Male", 2: "Female"}
        for v in self._es.ListVoices(None):
            langs = (v.languages[1:].decode(errors="ignore"),) if v.languages else ()
            found.append((v.identifier.decode().lower(), v.name.decode(), langs, genders.get(v.gender)))
        return found

    def _speak_here(self, text: str) -> bytes:
        self._chunks = []
        status = self._es.Synth(text.encode(), flags=self._es.ENDPAUSE | self._es.CHARS_UTF8)
        if status != self._es.EE_OK:
            raise SpeechEngineError(f"eSpeak NG refused the line (status {status})")
        return b"".join(self._chunks)

    def synthesize(self, text: str) -> bytes:
        """WAV bytes of ``text``, spoken from the engine's start-up state."""
        if not hasattr(os, "fork"):
            return self._wav(self._speak_here(text))
        with _FORKING:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid != 0:
                os.close(write_end)
        if pid == 0:  # the child: speak, hand the samples over, leave without any clean-up
            code = 1
            try:
                os.close(read_end)
                pcm = self._speak_here(text)
                with os.fdopen(write_end, "wb") as out:
                    out.write(_LENGTH.pack(len(pcm)) + pcm)
                code = 0
            finally:
                os._exit(code)
        with os.fdopen(read_end, "rb") as source:
            data = source.read()
        _, status = os.waitpid(pid, 0)
        if status != 0 or len(data) < _LENGTH.size or _LENGTH.unpack_from(data)[0] != len(data) - _LENGTH.size:
            raise SpeechEngineError(f"the eSpeak NG process for this line failed (status {status})")
        return self._wav(data[_LENGTH.size :])

    def _wav(self, pcm: bytes) -> bytes:
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.sample_rate)
            w.writeframes(pcm)
        return buf.getvalue()
