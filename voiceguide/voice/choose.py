"""Which engine and voice speak: ``--engine`` and ``--voice`` resolved to one installed voice.

``--voice`` takes a bundled Piper voice name (``joe``), the path of a Piper ``.onnx`` voice, or a
pyttsx3 voice id or a unique part of its name. An exact id, an exact name or an exact last part
of an id (``en-us`` for ``gmw/en-us``) wins over partial matches.
"""

from __future__ import annotations

import difflib
import platform
from dataclasses import dataclass

from voiceguide.errors import UnknownVoiceError
from voiceguide.voice.engines import ENGINES, EngineFactory, choose_engine
from voiceguide.voice.piper import (
    DEFAULT_PIPER_VOICE,
    check_voice_config,
    piper_installed,
    piper_voices,
    voice_files,
)
from voiceguide.voice.settings import VoiceInfo

PYTTSX3_DEFAULT_VOICE = "gmw/en" if platform.system() == "Linux" else None
"""The eSpeak NG voice pyttsx3 speaks with when none is chosen."""


@dataclass(frozen=True)
class VoiceChoice:
    """The engine and voice that will speak."""

    engine: str
    """An engine name of :data:`voiceguide.voice.engines.ENGINES`."""
    voice: str | None
    """The voice as the engine takes it (a Piper voice name or absolute path, a pyttsx3 voice id),
    or None for the engine's default."""

    @property
    def factory(self) -> EngineFactory:
        return ENGINES[self.engine]

    def label(self) -> str:
        """Which voice speaks, for the summary line: ``Piper joe``, ``pyttsx3 gmw/en-us``, ``tone``."""
        if self.engine == "piper":
            return f"Piper {self.voice or DEFAULT_PIPER_VOICE}"
        if self.engine == "pyttsx3":
            return f"pyttsx3 {self.voice or PYTTSX3_DEFAULT_VOICE or 'default voice'}"
        return self.engine


@dataclass(frozen=True)
class EngineVoice:
    """One voice of one engine, as ``voiceguide voices`` lists it."""

    engine: str
    voice: VoiceInfo
    default: bool
    """Whether this voice speaks when neither ``--engine`` nor ``--voice`` is given."""

    def to_dict(self) -> dict[str, object]:
        v = self.voice
        return {"engine": self.engine, "id": v.id, "name": v.name, "languages": list(v.languages),
                "gender": v.gender, "default": self.default}


def choose_voice(engine: str | None, wanted: str | None) -> VoiceChoice:
    """The engine (``--engine``, else ``VOICEGUIDE_ENGINE``, else auto) and ``--voice`` checked against it."""
    name = choose_engine(engine, wanted)
    if wanted is None:
        return VoiceChoice(name, None)
    if name == "piper":
        files = voice_files(wanted)
        check_voice_config(files.config)  # once, here, before any worker tries to speak with it
        return VoiceChoice(name, wanted if files.name == wanted else str(files.model.resolve()))
    if name == "pyttsx3":
        from voiceguide.voice.speech import list_voices

        return VoiceChoice(name, match_voice(list_voices(ENGINES[name]), wanted))
    if wanted != "tone":
        raise UnknownVoiceError(f"--voice '{wanted}': the {name} engine has no voices to choose from")
    return VoiceChoice(name, None)


def match_voice(voices: list[VoiceInfo], wanted: str) -> str:
    """The id of the one voice that ``wanted`` names: exactly first, then as part of a name or id."""
    low = wanted.lower()
    for exact in (
        [v for v in voices if v.id == wanted],
        [v for v in voices if v.id.lower() == low or v.name.lower() == low],
        [v for v in voices if v.id.lower().rsplit("/", 1)[-1] == low],
    ):
        if len(exact) == 1:
            return exact[0].id
    matches = [v for v in voices if low in v.name.lower() or low in v.id.lower()]
    if len(matches) == 1:
        return matches[0].id
    if matches:
        names = ", ".join(f"{v.name} ({v.id})" for v in matches[:6])
        more = f" and {len(matches) - 6} more" if len(matches) > 6 else ""
        raise UnknownVoiceError(f"--voice '{wanted}' matches {len(matches)} voices: {names}{more}; "
                                "be more specific (see 'voiceguide voices --all')")
    close = difflib.get_close_matches(wanted, [v.name for v in voices] + [v.id for v in voices], n=4, cutoff=0.4)
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise UnknownVoiceError(f"no voice '{wanted}' is installed{hint} (see 'voiceguide voices')")


def all_voices() -> list[EngineVoice]:
    """Every engine's voices, the default marked: Piper's bundled voices, pyttsx3's, the tone."""
    from voiceguide.voice.speech import list_voices

    default = choose_engine(None, None)
    found = []
    if piper_installed():
        found += [EngineVoice("piper", v, default == "piper" and v.id == DEFAULT_PIPER_VOICE) for v in piper_voices()]
    found += [
        EngineVoice("pyttsx3", v, default == "pyttsx3" and v.id == PYTTSX3_DEFAULT_VOICE)
        for v in list_voices(ENGINES["pyttsx3"])
    ]
    found.append(EngineVoice("tone", VoiceInfo("tone", "Tone (timing preview)", ("en",), None), default == "tone"))
    return found

