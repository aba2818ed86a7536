"""``voiceguide pack build|check|list`` and ``voiceguide serve``: podcast packs for a phone."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from voiceguide.commands.options import (
    adapt_options,
    breath_option,
    catalog_of,
    compose_options,
    engine_option,
    plural,
    rate_option,
    voice_option,
)
from voiceguide.errors import CatalogError

if TYPE_CHECKING:
    from rich.progress import TaskID

    from voiceguide.podcast.build import BuildResult
    from voiceguide.podcast.packfile import Pack
    from voiceguide.podcast.workers import EpisodeProgress
    from voiceguide.studio.server import Server
# The pack, feed, page and server modules (and numpy, feedgen, Pillow under them) load only when
# a pack command runs, so the rest of the command line starts fast.
DEFAULT_BASE_URL = "http://localhost:8000/"

SPEECH_SHARE = 0.3
"""How much of an episode's bar speaking its lines fills; building the audio fills the rest."""


@contextlib.contextmanager
def pack_progress(pack: Pack) -> Iterator[EpisodeProgress]:
    """One display for the whole build: a bar for all episodes and one per episode in progress.

    Off a terminal it prints one line per finished episode instead.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    titles = {pack.slug(e): e.title for e in pack.episodes}
    if not console.is_terminal:
        def plain(slug: str, stage: str, done: float, total: float) -> None:
            if stage == "done":
                click.echo(f"Rendered {slug}", err=True)

        yield plain
        return
    with Progress(
        TextColumn("{task.description:<34}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(), console=console, transient=True,
    ) as bar:
        overall = bar.add_task("All episodes", total=len(titles))
        rows: dict[str, TaskID] = {}
        shares: dict[str, float] = {}
        finished: set[str] = set()

        def update(slug: str, stage: str, done: float, total: float) -> None:
            if slug in finished:
                return
            fraction = min(1.0, done / total) if total > 0 else 1.0
            if stage in ("done", "skipped"):
                share = 1.0
            elif stage == "speech":
                share = SPEECH_SHARE * fraction
            else:
                share = SPEECH_SHARE + (1 - SPEECH_SHARE) * fraction
            shares[slug] = max(shares.get(slug, 0.0), share)
            if stage in ("done", "skipped"):
                finished.add(slug)
                if slug in rows:
                    bar.remove_task(rows.pop(slug))
                if stage == "done":
                    console.print(f"Rendered {slug}")
            else:
                if slug not in rows:
                    label = f"{slug.split('-', 1)[0]}  {titles.get(slug, slug)}"
                    rows[slug] = bar.add_task(label[:34], total=1.0)
                bar.update(rows[slug], completed=shares[slug])
            bar.update(overall, completed=sum(shares.values()))

        yield update


@click.group()
def pack() -> None:
    """Podcast packs: a week of sessions a phone subscribes to."""


@pack.command("build")
@click.argument("pack_spec", metavar="PACK")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to build into (default: output/PACK-ID).")
@click.option("--base-url", default=None, metavar="URL",
              help=f"Where the folder will be published; enclosure URLs start with it (default: {DEFAULT_BASE_URL}).")
@click.option("-j", "--jobs", type=click.IntRange(0, 64), default=0,
              help="Episodes rendered at once (default: as many as the idle cores and free memory hold).")
@click.option("--force", is_flag=True, help="Render every episode again, even those up to date.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the speech clip cache.")
@engine_option
@voice_option
@rate_option(None)
@breath_option
@adapt_options
@click.pass_context
def build(ctx: click.Context, pack_spec: str, output: Path | None, base_url: str | None, jobs: int,
          force: bool, no_cache: bool, engine: str | None, voice: str | None, rate: int | None,
          breath: tuple[float, float]) -> None:
    """Render PACK's episodes and write its feed, chapters, transcripts, cover and page.

    PACK is a pack id from the catalog's packs folder or a path to a pack YAML file. Episodes
    that have not changed since the last build are not rendered again. --engine, --voice and
    --rate override the pack file's engine, voice and rate.
    """
    import dataclasses

    from voiceguide.podcast.build import build_pack
    from voiceguide.podcast.packfile import load_pack
    from voiceguide.voice.choose import choose_voice

    catalog = catalog_of(ctx)
    spec = load_pack(pack_spec, catalog)
    if rate is not None:
        spec = dataclasses.replace(spec, rate=rate)
    folder = output or Path("output") / spec.id
    choice = choose_voice(*pack_voice(spec, engine, voice))
    if base_url is None:
        click.echo(f"Note: no --base-url, so the feed's episode links start with {DEFAULT_BASE_URL} "
                   "('voiceguide serve' gives phones their own); to publish the folder elsewhere, build with "
                   "--base-url https://your.site/where/it/goes/", err=True)
    with pack_progress(spec) as progress:
        result = build_pack(spec, catalog, folder, base_url=base_url, jobs=jobs, force=force,
                            use_cache=not no_cache, factory=choice.factory, voice_id=choice.voice,
                            progress=progress, compose_options=compose_options(ctx, None, breath))
    _summary(result, choice.label())


def pack_voice(spec: Pack, engine: str | None, voice: str | None) -> tuple[str | None, str | None]:
    """The engine and voice to ask for: the command line's over the pack file's.

    A voice on the command line goes with the engine given there or chosen for it; an engine on
    the command line keeps the pack's voice only where that voice is one of its own.
    """
    from voiceguide.voice.engines import choose_engine

    if voice is not None:
        return engine, voice
    if engine is not None:
        own = spec.voice is not None and choose_engine("auto", spec.voice) == engine.lower()
        return engine, spec.voice if own else None
    return spec.engine, spec.voice


def _summary(result: BuildResult, voice: str) -> None:
    from voiceguide.podcast.page import clock

    total = sum(e.duration_s for e in result.episodes)
    click.echo(
        f"Built {result.folder}: {plural(len(result.episodes), 'episode')}, {clock(total)} in all "
        f"({len(result.rendered)} rendered, {len(result.skipped)} up to date) in {result.seconds_taken:.1f} s; "
        f"voice: {voice}"
    )
    if result.removed:
        click.echo(f"Removed episodes no longer in the pack: {', '.join(result.removed)}")
    click.echo(f"  feed: {result.feed}")
    click.echo(f"  page: {result.page}")
    click.echo(f"Serve it to a phone on this network: voiceguide serve {result.folder}")


@pack.command("check")
@click.argument("packs", nargs=-1, required=True, metavar="PACK...")
@click.pass_context
def check(ctx: click.Context, packs: tuple[str, ...]) -> None:
    """Validate pack files (or bundled pack ids), reporting every problem at once."""
    from voiceguide.podcast.packfile import load_pack

    catalog = catalog_of(ctx)
    problems = []
    for spec in packs:
        try:
            load_pack(spec, catalog)
        except CatalogError as e:
            problems += e.problems
    if problems:
        raise CatalogError(problems)
    click.echo(f"{len(packs)} pack{'s' if len(packs) != 1 else ''} OK")


@pack.command("list")
@click.pass_context
def list_packs(ctx: click.Context) -> None:
    """List the packs of the catalog."""
    from voiceguide.podcast.packfile import bundled_packs, load_pack

    catalog = catalog_of(ctx)
    for pack_id in bundled_packs(catalog):
        spec = load_pack(pack_id, catalog)
        click.echo(f"  {spec.id:<28} {len(spec.episodes):>2} episodes  {spec.title}")


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option("--host", default="0.0.0.0", show_default=True,
              help="Address to listen on (0.0.0.0: every interface, so phones on the network can connect).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--library", type=click.Path(file_okay=False, path_type=Path), default=Path("output/sessions"),
              show_default=True, help="Folder the studio keeps the sessions it makes in.")
@click.option("--new-key", is_flag=True, help="Replace the studio's access key (old addresses and feeds stop working).")
@engine_option
@click.option("--no-qr", is_flag=True, help="Do not print a QR code of the page's address.")
@click.pass_context
def serve(ctx: click.Context, folder: Path | None, host: str, port: int, library: Path, new_key: bool,
          engine: str | None, no_qr: bool) -> None:
    """Make sessions from a phone: a studio page on the local network (or serve a built pack FOLDER).

    Prints the studio's address with its access key (and a QR code of it) for a phone on the same
    Wi-Fi, and the address of its podcast feed. Ctrl-C stops it.
    """
    if folder is not None:
        from voiceguide.podcast.serve import make_server, public_urls

        server = make_server(folder, host, port)
        page, feed = public_urls(server, host)
        click.echo(f"Serving {folder} on {host}:{server.server_address[1]}")
        click.echo(f"Page: {page}")
        click.echo(f"Feed: {feed}")
        run_server(server, host, page, no_qr)
        return
    from voiceguide.studio.access import Access
    from voiceguide.studio.app import studio_app
    from voiceguide.studio.server import Server as StudioServer
    from voiceguide.studio.server import base_url
    from voiceguide.voice.engines import choose_engine

    chosen = choose_engine(engine)  # an engine that cannot load is one line now, not a failed session later
    app = studio_app(catalog_of(ctx), library, chosen, renew_key=new_key)
    access: Access = app.state.studio.access
    try:
        studio = StudioServer(app, host, port)
        base = base_url(studio, host)
        click.echo(f"Studio on {host}:{studio.server_address[1]}; sessions are kept in {library}")
        click.echo(f"Open on your phone: {base}?key={access.key}")
        click.echo(f"Podcast feed: {base}k/{access.key}/feed.xml")
        run_server(studio, host, f"{base}?key={access.key}", no_qr)
    finally:
        app.state.studio.jobs.stop()


def run_server(server: Server, host: str, qr_url: str, no_qr: bool) -> None:
    """Say who can reach the server, show the QR code of ``qr_url``, and serve until a stop signal,
    which ends the command as it ends every other: one line and the shell's status for that signal."""
    from voiceguide.studio.server import qr_text, reach_note

    try:
        click.echo(reach_note(host))
        if not no_qr:
            try:
                click.echo(qr_text(qr_url))
            except UnicodeEncodeError:  # a terminal that cannot show block characters
                click.echo("(no QR code: this terminal cannot show it)")
        click.echo("Press Ctrl-C to stop.")
        server.serve_forever()
    finally:
        server.server_close()
    if server.stopped_by is not None:
        click.echo("Stopped.")
        raise click.exceptions.Exit(128 + server.stopped_by)


COMMANDS = [pack, serve]
