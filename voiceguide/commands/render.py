"""``voiceguide render``: a session as an MP3 with chapters, tags and podcast loudness."""

from __future__ import annotations

from pathlib import Path

import click

from voiceguide.catalog.load import resolve_routine
from voiceguide.commands.options import (
    FiniteRange,
    adapt_options,
    breath_option,
    catalog_of,
    clock,
    compose_options,
    minutes_option,
    note,
    open_speech,
    plural,
    voice_options,
)
from voiceguide.fileio import is_special, not_a_regular_file


@click.command()
@click.argument("routine")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), default=None, help="MP3 path (default: output/ROUTINE.mp3)."
)
@minutes_option
@breath_option
@adapt_options
@voice_options
@click.option("--bitrate", default="64k", show_default=True, help="MP3 bitrate, e.g. 64k or 128k.")
@click.option(
    "--loudness",
    type=FiniteRange(-30, -10),
    default=-16.0,
    show_default=True,
    help="Integrated loudness target in LUFS.",
)
@click.option("--no-chimes", is_flag=True, help="No tones at transitions and holds.")
@click.option(
    "--music",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    callback=lambda _ctx, param, value: _regular_file(value, param),
    help="A music file looped under the session, ducked under speech.",
)
@click.option(
    "--timeline", "timeline_path", type=click.Path(path_type=Path), help="Also write the timed script (JSON)."
)
@click.option(
    "--captions", "captions_path", type=click.Path(path_type=Path), help="Also write captions (.vtt or .srt)."
)
@click.pass_context
def render(
    ctx: click.Context,
    routine: str,
    output: Path | None,
    minutes: float | None,
    breath: tuple[float, float],
    engine: str | None,
    voice: str | None,
    rate: int,
    volume: float,
    no_cache: bool,
    jobs: int,
    bitrate: str,
    loudness: float,
    no_chimes: bool,
    music: Path | None,
    timeline_path: Path | None,
    captions_path: Path | None,
) -> None:
    """Render ROUTINE to an MP3 with chapters, tags and podcast loudness.

    ROUTINE is a routine id, a stretch id, comma-separated stretch ids, or a routine YAML file.
    """
    if captions_path is not None and captions_path.suffix.lower() not in (".vtt", ".srt"):
        raise click.BadParameter("captions file must end in .vtt or .srt", param_hint="--captions")
    if output is not None and output.suffix and output.suffix.lower() != ".mp3":
        raise click.BadParameter(f"render writes MP3 audio; give a file ending in .mp3, not {output.suffix}",
                                 param_hint="-o")
    if timeline_path is not None and timeline_path.suffix.lower() != ".json":
        raise click.BadParameter("the timed script is JSON; give a file ending in .json", param_hint="--timeline")
    from voiceguide.progress import progress_display
    from voiceguide.sound.audio import AudioOptions, parse_bitrate
    from voiceguide.sound.render import render as render_session

    audio = AudioOptions(parse_bitrate(bitrate), loudness, not no_chimes, music)
    catalog = catalog_of(ctx)
    spec = resolve_routine(routine, catalog)
    if output is None:
        output = Path("output") / f"{spec.id}.mp3"
        output.parent.mkdir(exist_ok=True)
    with open_speech(engine, voice, rate, volume, no_cache, jobs) as speech, progress_display() as progress:
        result = render_session(
            spec,
            catalog,
            output,
            speech,
            compose_options=compose_options(ctx, minutes, breath),
            audio_options=audio,
            timeline_path=timeline_path,
            captions_path=captions_path,
            progress=progress,
            on_note=note,
        )
    tl = result.timeline
    chapters = len(tl.chapters_covering())  # what the MP3 and chapters.json hold: welcome and closing too
    click.echo(  # on standard error when the MP3 went to standard output, a pipe or a device
        f"Wrote {result.path}: {clock(tl.duration_s)}, {plural(chapters, 'chapter')} "
        f"({plural(len(tl.chapters), 'stretch')}), "
        f"{result.size_bytes / 1024 / 1024:.1f} MB, in {result.seconds_taken:.1f} s; voice: {speech.label}",
        err=is_special(output),
    )


def _regular_file(path: Path | None, param: click.Parameter) -> Path | None:
    """A file to read whole: a FIFO (which would wait for a writer) or a device is refused at once."""
    problem = not_a_regular_file(path) if path is not None else None
    if problem:
        raise click.BadParameter(f"{path}: {problem}", param=param)
    return path


COMMANDS = [render]
