"""The ``voiceguide`` command line: each command parses options and calls the library."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from voiceguide import __version__
from voiceguide.catalog.load import check_files, load_catalog, resolve_routine
from voiceguide.catalog.types import Catalog
from voiceguide.errors import CatalogError, UnknownIdError
from voiceguide.fileio import write_text_atomic
from voiceguide.session.compose import HOLD_BY, LEVELS, ComposeOptions, compose, parse_breath
from voiceguide.session.export import FORMATS, render_text
from voiceguide.session.timeline import Timeline
from voiceguide.voice.engines import DEFAULT_RATE_WPM, VoiceSettings, engine_factory

if TYPE_CHECKING:
    from voiceguide.voice.speech import Speech
# numpy, rich and the audio modules load only in the commands that use them, so that
# 'list', 'show', 'script' and 'check' start fast.


def load_extra_commands() -> list[click.Command]:
    """Commands defined in their own modules under voiceguide/commands/ (play, pack, serve...)."""
    import importlib
    import pkgutil

    from voiceguide import commands

    found: list[click.Command] = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        found += [c for c in getattr(module, "COMMANDS", [])]
    return found


def _catalog(ctx: click.Context) -> Catalog:
    obj = ctx.ensure_object(dict)
    if "catalog" not in obj:
        obj["catalog"] = load_catalog(obj.get("catalog_dir"))
    return obj["catalog"]  # type: ignore[no-any-return]


def _breath(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[float, float]:
    return parse_breath(value)


minutes_option = click.option(
    "--minutes",
    type=click.FloatRange(0.5, 240),
    default=None,
    help="Fit the session to this many minutes (default: the routine's own length).",
)
breath_option = click.option(
    "--breath",
    default="4-6",
    show_default=True,
    callback=_breath,
    metavar="IN-OUT",
    help="Breath pace in seconds for flows: inhale-exhale.",
)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        write_text_atomic(output, text)
        click.echo(f"Wrote {output}", err=True)


class CommandGroup(click.Group):
    """The top-level group: the commands in voiceguide/commands/ join it when it is first asked for one.

    Loading them lazily means a command module may import this one (for the shared options)
    in any order, and nothing is registered half-initialized.
    """

    _loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for command in load_extra_commands():
                self.add_command(command)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)


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


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """List the stretches and routines of the catalog."""
    catalog = _catalog(ctx)
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
        click.echo(f"  {s['id']:<28} {s['position']:<12} {', '.join(s['focus'])}")


@main.command()
@click.argument("item_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, item_id: str, as_json: bool) -> None:
    """Show one stretch or routine in full."""
    catalog = _catalog(ctx)
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


def adapt_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--avoid, --hold-by, --level, --intro and --no-intro, shared by every command that composes.

    The command receives them as one ``adapt`` dict for :func:`compose_options`.
    """

    def collect(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        ctx.ensure_object(dict).setdefault("adapt", {})[param.name] = value
        return value

    options = [
        click.option("--avoid", default=None, metavar="TAGS", expose_value=False, callback=collect,
                     help="Caution tags to keep out, e.g. knees,wrists (see docs/catalog-format.md)."),
        click.option("--hold-by", "hold_by", type=click.Choice(HOLD_BY), default="time", show_default=True,
                     expose_value=False, callback=collect, help="Time holds in seconds or count them in breaths."),
        click.option("--level", type=click.Choice(LEVELS), default="standard", show_default=True,
                     expose_value=False, callback=collect,
                     help="gentle: shorter holds, more guidance; deep: longer holds, fewer words."),
        click.option("--intro", default=None, metavar="TEXT", expose_value=False, callback=collect,
                     help="Your own opening words instead of the standard welcome."),
        click.option("--no-intro", "no_intro", is_flag=True, expose_value=False, callback=collect,
                     help="Skip the welcome (the safety note is always spoken)."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def compose_options(ctx: click.Context, minutes: float | None, breath: tuple[float, float]) -> ComposeOptions:
    """ComposeOptions from --minutes, --breath and the options of :func:`adapt_options`."""
    from voiceguide.session.adapt import parse_tags

    adapt = ctx.ensure_object(dict).get("adapt", {})
    return ComposeOptions(
        minutes,
        *breath,
        avoid=parse_tags(adapt.get("avoid")),
        hold_by=adapt.get("hold_by") or "time",
        level=adapt.get("level") or "standard",
        intro=adapt.get("intro"),
        no_intro=bool(adapt.get("no_intro")),
    )


def build_timeline(
    ctx: click.Context, routine_spec: str, minutes: float | None, breath: tuple[float, float]
) -> Timeline:
    """The timed script for a ROUTINE argument, with an estimated speech length."""
    catalog = _catalog(ctx)
    routine = resolve_routine(routine_spec, catalog)
    return compose(routine, catalog, compose_options(ctx, minutes, breath))


@main.command()
@click.argument("routine")
@minutes_option
@breath_option
@adapt_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=True, path_type=Path), help="Write to this file.")
@click.pass_context
def script(
    ctx: click.Context, routine: str, minutes: float | None, breath: tuple[float, float], fmt: str, output: Path | None
) -> None:
    """Print the timed script of ROUTINE.

    ROUTINE is a routine id, a stretch id, comma-separated stretch ids, or a routine YAML file.
    """
    timeline = build_timeline(ctx, routine, minutes, breath)
    _emit(render_text(timeline, fmt), output)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def check(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Validate stretch and routine YAML files, reporting every problem at once."""
    problems = check_files(list(files), _catalog(ctx))
    if problems:
        raise CatalogError(problems)
    click.echo(f"{len(files)} file{'s' if len(files) != 1 else ''} OK")


# --------------------------------------------------------------------------- speech and audio


def _rate(_ctx: click.Context, _param: click.Parameter, value: int) -> int:
    if not 60 <= value <= 400:
        raise click.BadParameter(f"{value} words per minute is outside 60-400 (try 140)")
    return value


def voice_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--voice, --rate, --volume, --no-cache and --jobs, shared by every command that speaks."""
    for option in reversed(
        [
            click.option(
                "--voice", default=None, help="Voice id or a unique part of its name (see 'voiceguide voices')."
            ),
            click.option(
                "--rate",
                type=int,
                default=DEFAULT_RATE_WPM,
                show_default=True,
                callback=_rate,
                help="Speaking rate in words per minute.",
            ),
            click.option("--volume", type=click.FloatRange(0.1, 1.0), default=1.0, show_default=True),
            click.option("--no-cache", is_flag=True, help="Do not read or write the clip cache."),
            click.option(
                "-j",
                "--jobs",
                type=click.IntRange(0, 64),
                default=0,
                help="Speech worker processes (default: one per core).",
            ),
        ]
    ):
        func = option(func)
    return func


def open_speech(voice: str | None, rate: int, volume: float, no_cache: bool, jobs: int) -> Speech:
    """The speech layer for these options, with the voice resolved to one installed voice."""
    from voiceguide.voice.speech import ClipCache, Speech, default_cache_dir, resolve_voice

    factory = engine_factory()
    voice_id = resolve_voice(factory, voice) if voice else None
    cache = None if no_cache else ClipCache(default_cache_dir())
    return Speech(factory, VoiceSettings(voice_id, rate, volume), cache=cache, jobs=jobs)


@main.command()
@click.argument("routine")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), default=None, help="MP3 path (default: output/ROUTINE.mp3)."
)
@minutes_option
@breath_option
@adapt_options
@voice_options
@click.option("--bitrate", default="64k", show_default=True, help="MP3 bitrate, e.g. 64k or 128k.")
@click.option(
    "--loudness",
    type=click.FloatRange(-30, -10),
    default=-16.0,
    show_default=True,
    help="Integrated loudness target in LUFS.",
)
@click.option("--no-chimes", is_flag=True, help="No tones at transitions and holds.")
@click.option(
    "--music",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A music file looped under the session, ducked under speech.",
)
@click.option(
    "--timeline", "timeline_path", type=click.Path(path_type=Path), help="Also write the timed script (JSON)."
)
@click.option(
    "--captions", "captions_path", type=click.Path(path_type=Path), help="Also write captions (.vtt or .srt)."
)
@click.pass_context
def render(
    ctx: click.Context,
    routine: str,
    output: Path | None,
    minutes: float | None,
    breath: tuple[float, float],
    voice: str | None,
    rate: int,
    volume: float,
    no_cache: bool,
    jobs: int,
    bitrate: str,
    loudness: float,
    no_chimes: bool,
    music: Path | None,
    timeline_path: Path | None,
    captions_path: Path | None,
) -> None:
    """Render ROUTINE to an MP3 with chapters, tags and podcast loudness.

    ROUTINE is a routine id, a stretch id, comma-separated stretch ids, or a routine YAML file.
    """
    if captions_path is not None and captions_path.suffix.lower() not in (".vtt", ".srt"):
        raise click.BadParameter("captions file must end in .vtt or .srt", param_hint="--captions")
    from voiceguide.progress import progress_display
    from voiceguide.sound.audio import AudioOptions, parse_bitrate
    from voiceguide.sound.render import render as render_session

    audio = AudioOptions(parse_bitrate(bitrate), loudness, not no_chimes, music)
    catalog = _catalog(ctx)
    spec = resolve_routine(routine, catalog)
    if output is None:
        output = Path("output") / f"{spec.id}.mp3"
        output.parent.mkdir(exist_ok=True)
    with open_speech(voice, rate, volume, no_cache, jobs) as speech, progress_display() as progress:
        result = render_session(
            spec,
            catalog,
            output,
            speech,
            compose_options=compose_options(ctx, minutes, breath),
            audio_options=audio,
            timeline_path=timeline_path,
            captions_path=captions_path,
            progress=progress,
        )
    tl = result.timeline
    click.echo(
        f"Wrote {result.path}: {_clock(tl.duration_s)}, {len(tl.chapters)} chapters, "
        f"{result.size_bytes / 1024 / 1024:.1f} MB, in {result.seconds_taken:.1f} s"
    )


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


@main.command()
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


@main.group()
def cache() -> None:
    """Inspect or clear the speech clip cache."""


@cache.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cache_info(as_json: bool) -> None:
    """Where the cache is, how many clips it holds and their size."""
    from voiceguide.voice.speech import ClipCache, default_cache_dir

    info = ClipCache(default_cache_dir()).info()
    if as_json:
        click.echo(json.dumps(info))
    else:
        click.echo(f"{info['path']}: {info['clips']} clips, {info['bytes'] / 1024 / 1024:.1f} MB")


@cache.command("clear")
def cache_clear() -> None:
    """Delete every cached clip."""
    from voiceguide.voice.speech import ClipCache, default_cache_dir

    removed = ClipCache(default_cache_dir()).clear()
    click.echo(f"Removed {removed} cached clips")


@main.command()
@click.option(
    "--focus", required=True, metavar="AREAS", help="Focus areas, most important first, e.g. lower-back,hips."
)
@click.option("--minutes", type=click.FloatRange(1, 240), required=True, help="Length of the session.")
@click.option("--position", type=click.Choice(("floor", "seated", "standing", "any")), default="any", show_default=True)
@click.option("--level", type=click.Choice(LEVELS), default="standard", show_default=True)
@click.option("--avoid", default=None, metavar="TAGS", help="Caution tags to keep out, e.g. knees,wrists.")
@click.option("--seed", type=int, default=None, help="Same seed, same routine (default: a new one each time).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Write the routine YAML here.")
@click.pass_context
def make(
    ctx: click.Context,
    focus: str,
    minutes: float,
    position: str,
    level: str,
    avoid: str | None,
    seed: int | None,
    output: Path | None,
) -> None:
    """Make a routine for your focus areas and minutes, as a YAML file you can keep and edit."""
    import random

    from voiceguide.session.adapt import parse_tags
    from voiceguide.session.make import Request, make_routine, parse_focus, routine_yaml

    request = Request(
        parse_focus(focus),
        minutes,
        position,
        level,
        parse_tags(avoid),
        seed if seed is not None else random.SystemRandom().randrange(10**6),
    )
    catalog = _catalog(ctx)
    routine = make_routine(catalog, request)
    text = routine_yaml(routine, request)
    timeline = compose(routine, catalog, ComposeOptions(minutes, level=level))
    if output is None:
        click.echo(text, nl=False)
    else:
        write_text_atomic(output, text)
    summary = ", ".join(catalog.stretch(i.stretch).name for i in routine.items)
    click.echo(
        f"{routine.title}: {len(routine.items)} stretches, {timeline.duration_s / 60:.1f} min, seed {request.seed}"
        f" - {summary}" + (f"\nWrote {output}; render it with: voiceguide render {output}" if output else ""),
        err=True,
    )




def run() -> None:
    """Console entry point."""
    main(prog_name="voiceguide")


if __name__ == "__main__":  # pragma: no cover
    run()
