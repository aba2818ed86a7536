"""``voiceguide script``: the timed script as text, JSON or captions."""

from __future__ import annotations

from pathlib import Path

import click

from voiceguide.commands.options import adapt_options, breath_option, build_timeline, emit, minutes_option
from voiceguide.session.export import FORMATS, render_text


@click.command()
@click.argument("routine")
@minutes_option
@breath_option
@adapt_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=True, path_type=Path), help="Write to this file.")
@click.pass_context
def script(
    ctx: click.Context, routine: str, minutes: float | None, breath: tuple[float, float], fmt: str, output: Path | None
) -> None:
    """Print the timed script of ROUTINE.

    ROUTINE is a routine id, a stretch id, comma-separated stretch ids, or a routine YAML file.
    """
    timeline = build_timeline(ctx, routine, minutes, breath)
    emit(render_text(timeline, fmt), output)


COMMANDS = [script]
