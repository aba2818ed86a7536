"""Misbehaving engines for the speech layer's failure handling (importable by worker processes)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from voiceguide.voice.engines import ToneEngine, VoiceInfo, VoiceSettings


class EmptyEngine:
    """Always returns nothing, like an engine that wrote no file."""

    identity = "empty-1"

    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings

    def voices(self) -> list[VoiceInfo]:
        return []

    def synthesize(self, text: str) -> bytes:
        return b""


class HangingEngine(EmptyEngine):
    """Never finishes a line."""

    identity = "hang-1"

    def synthesize(self, text: str) -> bytes:
        time.sleep(3600)
        return b""


class FlakyEngine(ToneEngine):
    """Fails the first time it is asked for each line (across processes, via marker files)."""

    def synthesize(self, text: str) -> bytes:
        marker = Path(os.environ["FLAKY_DIR"]) / hashlib.sha1(text.encode()).hexdigest()
        if not marker.exists():
            marker.write_text("failed once")
            return b"RIFF-broken"
        return super().synthesize(text)


class BrokenStartEngine(EmptyEngine):
    """Cannot start at all, like a missing speech library."""

    def __init__(self, settings: VoiceSettings) -> None:
        raise RuntimeError("libespeak-ng.so.1: cannot open shared object file")


class SharedToneEngine(ToneEngine):
    """The tone engine declared safe to share between threads, as a Piper voice is."""

    thread_safe = True


class FlakySharedEngine(FlakyEngine):
    """Fails each line once, shared between threads."""

    thread_safe = True


class NumpyFreeToneEngine(ToneEngine):
    """The tone engine, failing every line if its worker process has numpy loaded: an engine that
    needs no numpy itself gets a worker without it (clips are leveled in the parent)."""

    def synthesize(self, text: str) -> bytes:
        import sys

        if "numpy" in sys.modules:
            raise RuntimeError("numpy is loaded in a light worker")
        return super().synthesize(text)



class CostlyLinesEngine(SharedToneEngine):
    """Shared between threads, with lines that say what they cost ("Heavy ..." lines 200, others
    50, within 280 together), each line noting when it was spoken into ``$SPOKEN_LOG``."""

    run_budget = 280

    @staticmethod
    def run_cost(text: str) -> float:
        return 200.0 if text.startswith("Heavy") else 50.0

    def synthesize(self, text: str) -> bytes:
        started = time.monotonic()
        time.sleep(0.03)
        audio = super().synthesize(text)
        with open(os.environ["SPOKEN_LOG"], "a", encoding="utf-8") as log:
            log.write(f"{text}\t{started}\t{time.monotonic()}\n")
        return audio
