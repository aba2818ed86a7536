"""``voiceguide make``: a routine for focus areas and minutes, as YAML."""

from __future__ import annotations

from pathlib import Path

import click

from voiceguide.commands.options import FiniteRange, catalog_of, plural
from voiceguide.fileio import is_stdout, write_text_atomic
from voiceguide.session.compose import LEVELS, ComposeOptions, compose


@click.command()
@click.option(
    "--focus", required=True, metavar="AREAS", help="Focus areas, most important first, e.g. lower-back,hips."
)
@click.option("--minutes", type=FiniteRange(1, 240), required=True, help="Length of the session.")
@click.option("--position", type=click.Choice(("floor", "seated", "standing", "any")), default="any", show_default=True)
@click.option("--level", type=click.Choice(LEVELS), default="standard", show_default=True)
@click.option("--avoid", default=None, metavar="TAGS", help="Caution tags to keep out, e.g. knees,wrists.")
@click.option("--seed", type=int, default=None, help="Same seed, same routine (default: a new one each time).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Write the routine YAML here.")
@click.pass_context
def make(
    ctx: click.Context,
    focus: str,
    minutes: float,
    position: str,
    level: str,
    avoid: str | None,
    seed: int | None,
    output: Path | None,
) -> None:
    """Make a routine for your focus areas and minutes, as a YAML file you can keep and edit."""
    import random

    from voiceguide.session.adapt import parse_tags
    from voiceguide.session.make import Request, make_routine, parse_focus, routine_yaml

    request = Request(
        parse_focus(focus),
        minutes,
        position,
        level,
        parse_tags(avoid),
        seed if seed is not None else random.SystemRandom().randrange(10**6),
    )
    catalog = catalog_of(ctx)
    routine = make_routine(catalog, request)
    text = routine_yaml(routine, request)
    timeline = compose(routine, catalog, ComposeOptions(minutes, level=level))
    if output is None or is_stdout(output):
        click.echo(text, nl=False)
    else:
        write_text_atomic(output, text)
    summary = ", ".join(catalog.stretch(i.stretch).name for i in routine.items)
    click.echo(  # on standard error: without -o the routine itself is on standard output
        f"{routine.title}: {plural(len(routine.items), 'stretch')}, {timeline.duration_s / 60:.1f} min, "
        f"seed {request.seed} - {summary}",
        err=True,
    )
    if output and not is_stdout(output):
        click.echo(f"Wrote {output}; render it with: voiceguide render {output}")


COMMANDS = [make]
