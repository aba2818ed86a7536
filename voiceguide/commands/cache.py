"""``voiceguide cache``: inspect or clear the speech clip cache."""

from __future__ import annotations

import json

import click


@click.group()
def cache() -> None:
    """Inspect or clear the speech clip cache."""


@cache.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cache_info(as_json: bool) -> None:
    """Where the cache is, how many clips and encoded sounds it holds, and their size."""
    from voiceguide.voice.speech import ClipCache, default_cache_dir

    info = ClipCache(default_cache_dir()).info()
    if as_json:
        click.echo(json.dumps(info))
    else:
        click.echo(f"{info['path']}: {info['clips']} clips, {info['encoded']} encoded sounds, "
                   f"{info['bytes'] / 1024 / 1024:.1f} MB")


@cache.command("clear")
def cache_clear() -> None:
    """Delete every cached clip."""
    from voiceguide.voice.speech import ClipCache, default_cache_dir

    removed = ClipCache(default_cache_dir()).clear()
    click.echo(f"Removed {removed} cached clips")


COMMANDS = [cache]
