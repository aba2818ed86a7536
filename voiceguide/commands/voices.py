"""``voiceguide voices``: the installed voices."""

from __future__ import annotations

import json

import click

from voiceguide.voice.engines import engine_factory


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def voices(as_json: bool) -> None:
    """List the installed voices."""
    from voiceguide.voice.speech import list_voices

    found = list_voices(engine_factory())
    if as_json:
        click.echo(json.dumps([vars(v) | {"languages": list(v.languages)} for v in found], indent=2))
        return
    for v in found:
        click.echo(f"{v.id:<28} {v.name:<36} {','.join(v.languages)}")


COMMANDS = [voices]
