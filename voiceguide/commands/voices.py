"""``voiceguide voices``: every engine's installed voices, the default marked."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def voices(as_json: bool) -> None:
    """List every engine's voices; * marks the one that speaks by default."""
    from voiceguide.voice.choose import all_voices

    found = all_voices()
    if as_json:
        click.echo(json.dumps([v.to_dict() for v in found], indent=2, ensure_ascii=False))
        return
    for v in found:
        mark = "*" if v.default else " "
        click.echo(f"{mark} {v.engine:<8} {v.voice.id:<28} {v.voice.name:<36} {','.join(v.voice.languages)}")
    click.echo("--engine ENGINE --voice ID chooses one; so does a Piper .onnx file (its .onnx.json beside it).",
               err=True)


COMMANDS = [voices]
