"""Render a routine to an MP3: compose with measured speech, stream the audio, tag it, rename it.

This is the library function behind ``voiceguide render`` (and each podcast episode). It takes
the speech layer as an argument, so tests can pass a deterministic tone engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from voiceguide.catalog.types import Catalog, Routine
from voiceguide.errors import FitError
from voiceguide.fileio import check_output_path, staged_outputs
from voiceguide.session.compose import ComposeOptions, estimate_speech_seconds, possible_lines
from voiceguide.session.export import to_srt, to_vtt
from voiceguide.session.reach import Reached, compose_reaching
from voiceguide.session.timeline import Timeline
from voiceguide.sound.audio import AudioOptions, SessionAudio, Tags, encode_session, encoder_gain_db, write_tags
from voiceguide.voice.speech import SAMPLE_RATE, Speech

MAX_FIT_ROUNDS = 4
"""Fits with measured lengths before every line the session might speak is measured instead."""

Progress = Callable[[str, float, float], None]
"""progress(stage, done, total): stages are 'speech' (clips) and 'audio' (seconds)."""


@dataclass(frozen=True)
class RenderResult:
    """What a render produced, for the summary line and for callers such as pack building."""

    path: Path
    timeline: Timeline
    size_bytes: int
    seconds_taken: float
    clips_synthesized: int
    measured_lufs: float


def compose_spoken(
    routine: Routine, catalog: Catalog, options: ComposeOptions, speech: Speech, progress: Progress | None = None,
    on_note: Callable[[str], None] | None = None,
) -> Timeline:
    """Compose with real speech lengths, synthesizing only the lines the session speaks.

    The first fit uses estimated lengths; the lines it speaks are synthesized in parallel and the
    fit is made again with their measured lengths (the estimate, scaled by how the measured lines
    compare with it, stands in for lines not yet spoken). Any line the new fit speaks that is not
    measured yet is synthesized and the fit repeated, until every spoken line is measured. Which
    lines are measured follows from the routine alone, never from what the clip cache holds, so
    a render is the same whatever the cache holds.

    ``on_note`` hears when the minutes asked for are out of the routine's reach (see
    :mod:`voiceguide.session.reach`).
    """
    measured: dict[str, float] = {}
    scale = 1.0  # measured / estimated length of the measured lines
    reported = 0  # lines synthesized in earlier rounds, for the progress figures

    def length(text: str) -> float:
        return measured[text] if text in measured else estimate_speech_seconds(text) * scale

    def measure(lines: list[str]) -> None:
        nonlocal reported, scale
        count = 0

        def report(done: int, total: int) -> None:
            nonlocal count
            count = total
            if progress:
                progress("speech", reported + done, reported + total)

        speech.prepare(lines, report)
        reported += count
        measured.update((t, speech.length(t)) for t in lines)
        scale = sum(measured.values()) / max(1e-9, sum(map(estimate_speech_seconds, measured)))

    reached: Reached | None = None
    for _ in range(MAX_FIT_ROUNDS):
        try:
            reached = compose_reaching(routine, catalog, options, length)
        except FitError:
            reached = None
            break  # a fit on partly estimated lengths failed: measure every line it might speak
        missing = [t for t in dict.fromkeys(c.text for c in reached.timeline.speech() if c.text) if t not in measured]
        if not missing:
            break
        measure(missing)
        reached = None
    if reached is None:
        measure([t for t in possible_lines(routine, catalog, options) if t not in measured])
        reached = compose_reaching(routine, catalog, options, speech.length)
    if reached.note and on_note:
        on_note(reached.note)
    return reached.timeline


def render(
    routine: Routine,
    catalog: Catalog,
    output: Path,
    speech: Speech,
    *,
    compose_options: ComposeOptions | None = None,
    audio_options: AudioOptions | None = None,
    tags: Tags | None = None,
    timeline_path: Path | None = None,
    captions_path: Path | None = None,
    progress: Progress | None = None,
    on_note: Callable[[str], None] | None = None,
) -> RenderResult:
    """Render ``routine`` to an MP3 at ``output``, whole or not at all."""
    started = time.perf_counter()
    audio_options = audio_options or AudioOptions()
    for path in (output, timeline_path, captions_path):
        if path is not None:
            check_output_path(path)
    timeline = compose_spoken(routine, catalog, compose_options or ComposeOptions(), speech, progress, on_note)
    speech.close()  # every clip the session plays is made: the speech workers' memory goes before the audio is built
    cache_dir = speech.cache.root if speech.cache else None
    session = SessionAudio(timeline, speech.clip, audio_options, encoder_gain_db(audio_options.bitrate_kbps, cache_dir))
    total_s = timeline.duration_s
    done = 0

    def on_samples(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("audio", done / SAMPLE_RATE, total_s)

    names = ", ".join(c.title for c in timeline.chapters)
    tags = tags or Tags(
        title=timeline.title,
        album=timeline.title,
        comment=f"{routine.description} {len(timeline.chapters)} stretches: {names}.".strip(),
    )
    outputs = [path for path in (output, timeline_path, captions_path) if path is not None]
    with staged_outputs(outputs) as temps:  # all of them land together, or none does
        staged = dict(zip(outputs, temps, strict=True))
        encode_session(session, staged[output], audio_options.bitrate_kbps, on_samples, store=speech.cache)
        write_tags(staged[output], tags, timeline)
        size = staged[output].stat().st_size
        if timeline_path is not None:
            staged[timeline_path].write_text(timeline.to_json(), encoding="utf-8")
        if captions_path is not None:
            text = to_srt(timeline) if captions_path.suffix.lower() == ".srt" else to_vtt(timeline)
            staged[captions_path].write_text(text, encoding="utf-8")
    speech.release()  # the session's sounds are encoded: clips held in memory (no cache) go
    return RenderResult(
        path=output,
        timeline=timeline,
        size_bytes=size,
        seconds_taken=time.perf_counter() - started,
        clips_synthesized=speech.synthesized,
        measured_lufs=session.measured_lufs,
    )
