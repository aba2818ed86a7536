"""``voiceguide show``: one stretch or routine in full."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from voiceguide.commands.options import catalog_of
from voiceguide.errors import CatalogError, UnknownIdError


@click.command()
@click.argument("item_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, item_id: str, as_json: bool) -> None:
    """Show one stretch or routine in full, as the YAML of its catalog file."""
    catalog = catalog_of(ctx)
    if item_id in catalog.stretches:
        data, folder = catalog.stretches[item_id].to_dict(), "stretches"
    elif item_id in catalog.routines:
        data, folder = catalog.routines[item_id].to_dict(), "routines"
    else:
        catalog.routine(item_id)  # raises with suggestions
        raise UnknownIdError(item_id)  # pragma: no cover - routine() always raises here
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(as_written(catalog.root, folder, item_id, data), nl=False)


def as_written(root: Path | None, folder: str, item_id: str, data: dict[str, Any]) -> str:
    """The item as the YAML a user writes: its own catalog file, comments included, or (where
    that cannot be read) its fields in the catalog's format, defaults left out."""
    import yaml

    from voiceguide.catalog.yamlio import read_limited

    path = root / folder / f"{item_id}.yaml" if root is not None else None
    if path is not None:
        try:
            text = read_limited(path, str(path)).decode("utf-8")
            return f"# {folder}/{item_id}.yaml\n{text if text.endswith(chr(10)) else text + chr(10)}"
        except (CatalogError, UnicodeDecodeError):
            pass
    kept = {k: v for k, v in data.items() if v not in (None, False, [], {}, ())}
    return str(yaml.safe_dump(kept, sort_keys=False, allow_unicode=True, width=100))


COMMANDS = [show]
