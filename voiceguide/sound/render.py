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
from voiceguide.fileio import check_output_path, staged_outputs
from voiceguide.session.compose import ComposeOptions, possible_lines
from voiceguide.session.export import to_srt, to_vtt
from voiceguide.session.reach import compose_reaching
from voiceguide.session.timeline import Timeline
from voiceguide.sound.audio import AudioOptions, SessionAudio, Tags, encode_session, encoder_gain_db, write_tags
from voiceguide.voice.speech import SAMPLE_RATE, Speech

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
    """Compose with real speech lengths: synthesize every line the session may say in parallel,
    then fit and lay out with the measured lengths (a line still missing is made on demand).

    ``on_note`` hears when the minutes asked for are out of the routine's reach (see
    :mod:`voiceguide.session.reach`)."""
    lines = possible_lines(routine, catalog, options)
    speech.prepare(lines, (lambda done, total: progress("speech", done, total)) if progress else None)
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
    speech.release()  # the session holds its own leveled copy of every sound now
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
        encode_session(session, staged[output], audio_options.bitrate_kbps, on_samples)
        write_tags(staged[output], tags, timeline)
        size = staged[output].stat().st_size
        if timeline_path is not None:
            staged[timeline_path].write_text(timeline.to_json(), encoding="utf-8")
        if captions_path is not None:
            text = to_srt(timeline) if captions_path.suffix.lower() == ".srt" else to_vtt(timeline)
            staged[captions_path].write_text(text, encoding="utf-8")
    return RenderResult(
        path=output,
        timeline=timeline,
        size_bytes=size,
        seconds_taken=time.perf_counter() - started,
        clips_synthesized=speech.synthesized,
        measured_lufs=session.measured_lufs,
    )
