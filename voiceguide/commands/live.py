"""``voiceguide play``: guide a routine live, through the speakers and the terminal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from voiceguide.catalog.load import resolve_routine
from voiceguide.commands.options import (
    FiniteRange,
    adapt_options,
    breath_option,
    catalog_of,
    compose_options,
    minutes_option,
    note,
    open_speech,
    voice_options,
)
from voiceguide.fileio import check_output_path, write_text_atomic
from voiceguide.live.names import BACKENDS

if TYPE_CHECKING:
    from voiceguide.live.scheduler import SoundFor
    from voiceguide.live.sinks import AudioSink
# The live player, numpy and rich load only when 'play' runs, so the rest of the CLI starts fast.


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


@click.command()
@click.argument("routine")
@minutes_option
@breath_option
@adapt_options
@voice_options
@click.option("--no-audio", is_flag=True,
              help="Play no sound: run the same schedule and print each line as it would be spoken.")
@click.option("--audio-backend", type=click.Choice(BACKENDS), default="auto", show_default=True,
              help="How sound reaches the speakers (auto picks the first that works here).")
@click.option("--speed", type=FiniteRange(0.1, 100), default=1.0, show_default=True,
              help="Run time this many times faster, to preview (10 plays ten minutes in one). "
                   "Any speed but 1 is silent.")
@click.option("--events", "events_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write one JSON line per cue played: kind, role, text, scheduled_s, actual_s (JSONL).")
@click.option("--timeline", "timeline_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the timed script being played (JSON).")
@click.option("--no-chimes", is_flag=True, help="No tones at transitions and holds.")
@click.pass_context
def play(ctx: click.Context, routine: str, minutes: float | None, breath: tuple[float, float], engine: str | None,
         voice: str | None,
         rate: int, volume: float, no_cache: bool, jobs: int, no_audio: bool, audio_backend: str, speed: float,
         events_path: Path | None, timeline_path: Path | None, no_chimes: bool) -> None:
    """Guide ROUTINE live: each line spoken on time, the terminal showing where you are.

    Keys: space pauses and resumes, n skips to the next stretch, p goes back one, q quits;
    Ctrl-C stops. ROUTINE is a routine id, a stretch id, comma-separated stretch ids, or a
    routine YAML file.
    """
    from voiceguide.live.backends import open_sink
    from voiceguide.live.display import clock_text, make_display
    from voiceguide.live.session import LiveSession
    from voiceguide.progress import progress_display
    from voiceguide.sound.audio import AudioOptions, SessionAudio
    from voiceguide.sound.render import compose_spoken

    catalog = catalog_of(ctx)
    spec = resolve_routine(routine, catalog)
    for path in (events_path, timeline_path):
        if path is not None:
            check_output_path(path)
    audio = not no_audio and speed == 1
    if not no_audio and speed != 1:
        click.echo(f"--speed {speed:g} is a silent preview: sound plays only at --speed 1.", err=True)
    sink: AudioSink | None = open_sink(audio_backend) if audio else None  # fail before any work
    try:
        with open_speech(engine, voice, rate, volume, no_cache, jobs) as speech, progress_display() as progress:
            timeline = compose_spoken(spec, catalog, compose_options(ctx, minutes, breath), speech, progress, note)
            sound_for: SoundFor | None = None
            if sink is not None:
                sound_for = SessionAudio(timeline, speech.clip, AudioOptions(chimes=not no_chimes)).sound_for
                prepare = getattr(sink, "prepare", None)
                if prepare is not None:
                    prepare([s for c in timeline.cues if (s := sound_for(c)) is not None])
        if timeline_path is not None:
            write_text_atomic(timeline_path, timeline.to_json())
        keys = _stdin_is_tty()
        session = LiveSession(timeline, sink=sink, sound_for=sound_for, speed=speed, keys=keys,
                              display=make_display(timeline, transcript=sink is None, keys=keys),
                              events_path=events_path)
        result = session.run()
    finally:
        if sink is not None:
            sink.close()
    total = clock_text(timeline.duration_s)
    if result.ending == "finished":
        click.echo(f"Finished {timeline.title} ({total}).")
    else:
        click.echo(f"Stopped at {clock_text(result.position_s)} of {total}.")
    if result.ending == "interrupted":
        ctx.exit(130)


COMMANDS = [play]
