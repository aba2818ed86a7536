"""``voiceguide script``: the timed script as text, JSON or captions."""

from __future__ import annotations

from pathlib import Path

import click

from voiceguide.commands.options import adapt_options, breath_option, build_timeline, emit, minutes_option
from voiceguide.errors import BadOptionError
from voiceguide.session.export import FORMATS, render_text


@click.command()
@click.argument("routine")
@minutes_option
@breath_option
@adapt_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="text, json, srt or vtt (default: from the -o file's extension, else text).")
@click.option("-o", "--output", type=click.Path(dir_okay=True, path_type=Path), help="Write to this file.")
@click.pass_context
def script(
    ctx: click.Context, routine: str, minutes: float | None, breath: tuple[float, float], fmt: str, output: Path | None
) -> None:
    """Print the timed script of ROUTINE.

    ROUTINE is a routine id, a stretch id, comma-separated stretch ids, or a routine YAML file.
    """
    fmt = output_format(fmt, output)
    timeline = build_timeline(ctx, routine, minutes, breath)
    emit(render_text(timeline, fmt), output)


EXTENSIONS = {".txt": "text", ".text": "text", ".json": "json", ".srt": "srt", ".vtt": "vtt"}


def output_format(fmt: str | None, output: Path | None) -> str:
    """The format to write: as asked, else as the output's extension says; never one the name denies."""
    implied = EXTENSIONS.get(output.suffix.lower()) if output is not None else None
    if fmt is not None and implied is not None and fmt != implied:
        raise BadOptionError(f"--format {fmt} does not match {output}, which names a {implied} file; "
                             f"drop --format or use --format {implied}")
    return fmt or implied or "text"


COMMANDS = [script]
