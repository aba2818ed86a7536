"""The ``voiceguide`` command line: the top-level group, which gathers the commands of voiceguide/commands/."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path

import click

from voiceguide import __version__


def load_commands() -> list[click.Command]:
    """Every command, each defined in its own module under voiceguide/commands/."""
    import importlib
    import pkgutil

    from voiceguide import commands

    found: list[click.Command] = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        found += [c for c in getattr(module, "COMMANDS", [])]
    return found


STREAM_ERRORS = {errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EFBIG, errno.EDQUOT}
"""Errors of writing to standard output that are the stream's fault, not a file's."""


class CommandGroup(click.Group):
    """The top-level group: the commands in voiceguide/commands/ join it when it is first asked for one.

    Loading them only when asked keeps importing the CLI light, and whichever command module is
    imported first, each is registered once and whole.
    """

    _loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for command in load_commands():
                self.add_command(command)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; a SIGTERM or SIGHUP ends it in one line, with the shell's status for it."""
        from voiceguide.signals import Terminated

        try:
            return super().invoke(ctx)
        except Terminated as e:
            click.echo(f"Stopped by {e.args[0]}; nothing half-written was kept.", err=True)
            raise click.exceptions.Exit(128 + e.signum) from None
        except OSError as e:
            if e.filename is not None or e.errno not in STREAM_ERRORS:
                raise
            # standard output is full or closed (``> /dev/full``, a pipe's reader gone): say so once
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            click.echo(f"Error: cannot write to standard output ({e.strerror or e})", err=True)
            raise click.exceptions.Exit(1) from None


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="voiceguide")
@click.option(
    "--catalog",
    "catalog_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    envvar="VOICEGUIDE_CATALOG",
    help="Use this catalog folder instead of the bundled one.",
)
@click.pass_context
def main(ctx: click.Context, catalog_dir: Path | None) -> None:
    """Voice-guided back-stretching sessions: scripts, MP3s, live narration and podcast packs."""
    ctx.ensure_object(dict)["catalog_dir"] = catalog_dir


def run() -> None:
    """Console entry point. SIGTERM and SIGHUP stop a command as Ctrl-C does: cleanly, in one line."""
    from voiceguide.signals import stop_like_ctrl_c

    stop_like_ctrl_c()
    main(prog_name="voiceguide")


if __name__ == "__main__":  # pragma: no cover
    run()
