"""``voiceguide show``: one stretch or routine in full."""

from __future__ import annotations

import json

import click

from voiceguide.commands.options import catalog_of
from voiceguide.errors import UnknownIdError


@click.command()
@click.argument("item_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, item_id: str, as_json: bool) -> None:
    """Show one stretch or routine in full."""
    catalog = catalog_of(ctx)
    if item_id in catalog.stretches:
        data = catalog.stretches[item_id].to_dict()
    elif item_id in catalog.routines:
        data = catalog.routines[item_id].to_dict()
    else:
        catalog.routine(item_id)  # raises with suggestions
        raise UnknownIdError(item_id)  # pragma: no cover - routine() always raises here
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for key, value in data.items():
        if isinstance(value, list) and value and not isinstance(value[0], (int, float)):
            click.echo(f"{key}:")
            for v in value:
                click.echo(f"  - {v if not isinstance(v, dict) else ', '.join(f'{k}={x}' for k, x in v.items())}")
        elif isinstance(value, dict):
            click.echo(f"{key}: " + ", ".join(f"{k}={v}" for k, v in value.items()))
        else:
            click.echo(f"{key}: {value}")


COMMANDS = [show]
