"""``voiceguide list``: the stretches and routines of the catalog."""

from __future__ import annotations

import json

import click

from voiceguide.commands.options import catalog_of


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """List the stretches and routines of the catalog."""
    catalog = catalog_of(ctx)
    stretches = [
        {"id": s.id, "name": s.name, "position": s.position, "focus": list(s.focus)} for s in catalog.stretches.values()
    ]
    routines = [{"id": r.id, "title": r.title, "minutes": r.minutes} for r in catalog.routines.values()]
    if as_json:
        click.echo(json.dumps({"stretches": stretches, "routines": routines}, indent=2))
        return
    click.echo("Routines:")
    for r in routines:
        click.echo(f"  {r['id']:<28} {r['minutes'] or '':>4} min  {r['title']}")
    click.echo("\nStretches:")
    for s in stretches:
        click.echo(f"  {s['id']:<28} {s['name']:<30} {s['position']:<10} {', '.join(s['focus'])}")


COMMANDS = [list_command]
