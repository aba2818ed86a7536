"""``voiceguide voices``: every engine's installed voices, the default marked."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from voiceguide.voice.choose import EngineVoice


ENGINE_TITLES = {"piper": "Piper, natural voices", "pyttsx3": "pyttsx3 (eSpeak NG on Linux)", "tone": "Tone"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every voice).")
@click.option("--all", "show_all", is_flag=True, help="Every language, not only English.")
def voices(as_json: bool, show_all: bool) -> None:
    """List the voices of every engine, English first; * marks the one that speaks by default."""
    from voiceguide.voice.choose import all_voices

    found = all_voices()
    if as_json:
        click.echo(json.dumps([v.to_dict() for v in found], indent=2, ensure_ascii=False))
        return
    hidden = 0
    for engine in dict.fromkeys(v.engine for v in found):
        mine = sorted((v for v in found if v.engine == engine), key=lambda v: (not english(v), language(v)))
        shown = mine if show_all else [v for v in mine if english(v)]
        hidden += len(mine) - len(shown)
        click.echo(f"{ENGINE_TITLES.get(engine, engine)}:")
        for v in shown:
            mark = "*" if v.default else " "
            click.echo(f" {mark} {v.voice.id:<28} {v.voice.name:<36} {language(v)}")
    if hidden:
        click.echo(f"... and {hidden} more voices in other languages: voiceguide voices --all")
    click.echo("--engine ENGINE --voice ID chooses one; so does a Piper .onnx file (its .onnx.json beside it).",
               err=True)


def language(v: EngineVoice) -> str:
    return ",".join(v.voice.languages)


def english(v: EngineVoice) -> bool:
    """True for a voice that speaks English (by its language codes)."""
    return any(code.lower().replace("_", "-").split("-")[0] == "en" for code in v.voice.languages)


COMMANDS = [voices]
