"""``voiceguide check``: validate catalog YAML files."""

from __future__ import annotations

from pathlib import Path

import click

from voiceguide.catalog.load import check_files
from voiceguide.commands.options import catalog_of
from voiceguide.errors import CatalogError


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def check(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Validate stretch and routine YAML files, reporting every problem at once."""
    problems = check_files(list(files), catalog_of(ctx))
    if problems:
        raise CatalogError(problems)
    click.echo(f"{len(files)} file{'s' if len(files) != 1 else ''} OK")


COMMANDS = [check]
