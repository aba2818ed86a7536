"""Options and helpers shared by the commands: the catalog, composing, speaking, writing output."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from voiceguide.catalog.load import load_catalog, resolve_routine
from voiceguide.catalog.types import Catalog
from voiceguide.catalog.validate import MAX_SPOKEN, text
from voiceguide.errors import BadOptionError
from voiceguide.fileio import is_special, is_stdout, write_text_atomic
from voiceguide.session.compose import HOLD_BY, LEVELS, ComposeOptions, parse_breath
from voiceguide.session.timeline import Timeline
from voiceguide.voice.engines import ENGINE_CHOICES
from voiceguide.voice.settings import DEFAULT_RATE_WPM, MAX_RATE_WPM, MIN_RATE_WPM, VoiceSettings

if TYPE_CHECKING:
    from voiceguide.voice.speech import Speech
# numpy, rich and the audio modules load only in the commands that use them, so that
# 'list', 'show', 'script' and 'check' start fast.


class FiniteRange(click.FloatRange):
    """A number within bounds, and a number at all: 'nan' and 'inf' are usage errors.

    (NaN compares false with every bound, so a plain FloatRange lets it through.)
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def catalog_of(ctx: click.Context) -> Catalog:
    """The catalog named by ``--catalog`` (or the bundled one), loaded once per invocation."""
    obj = ctx.ensure_object(dict)
    if "catalog" not in obj:
        obj["catalog"] = load_catalog(obj.get("catalog_dir"))
    return obj["catalog"]  # type: ignore[no-any-return]


def _breath(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[float, float]:
    return parse_breath(value)


minutes_option = click.option(
    "--minutes",
    type=FiniteRange(0.5, 240),
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


def emit(text: str, output: Path | None) -> None:
    """``text`` to standard output, or to ``output`` with a 'Wrote' line (on standard output, as
    every command says what it wrote)."""
    if output is None or is_stdout(output):
        click.echo(text, nl=False)
    else:
        write_text_atomic(output, text)
        click.echo(f"Wrote {output}", err=is_special(output))


def plural(count: int, noun: str) -> str:
    """'1 chapter', '2 chapters', '3 stretches'."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun}{'es' if noun.endswith(('s', 'x', 'ch', 'sh')) else 's'}"


def adapt_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--avoid, --hold-by, --level, --intro, --no-intro and --strict, shared by every command that composes.

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
        click.option("--strict", is_flag=True, expose_value=False, callback=collect,
                     help="Refuse --minutes the routine cannot reach (too short or too long) instead of "
                          "leaving out stretches or running as long as it can."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def compose_options(ctx: click.Context, minutes: float | None, breath: tuple[float, float]) -> ComposeOptions:
    """ComposeOptions from --minutes, --breath and the options of :func:`adapt_options`."""
    from voiceguide.session.adapt import parse_tags

    adapt = ctx.ensure_object(dict).get("adapt", {})
    intro = adapt.get("intro")
    if intro is not None:
        if adapt.get("no_intro"):
            raise BadOptionError("--intro and --no-intro cannot be used together; give one of them")
        problems = text(intro, MAX_SPOKEN)
        if problems:
            raise BadOptionError(f"--intro: {problems[0][1]}")
    return ComposeOptions(
        minutes,
        *breath,
        avoid=parse_tags(adapt.get("avoid")),
        hold_by=adapt.get("hold_by") or "time",
        level=adapt.get("level") or "standard",
        intro=adapt.get("intro"),
        no_intro=bool(adapt.get("no_intro")),
        strict=bool(adapt.get("strict")),
    )


def build_timeline(
    ctx: click.Context, routine_spec: str, minutes: float | None, breath: tuple[float, float]
) -> Timeline:
    """The timed script for a ROUTINE argument, with an estimated speech length."""
    from voiceguide.session.reach import compose_reaching

    catalog = catalog_of(ctx)
    routine = resolve_routine(routine_spec, catalog)
    reached = compose_reaching(routine, catalog, compose_options(ctx, minutes, breath))
    if reached.note:
        note(reached.note)
    return reached.timeline


def note(text: str) -> None:
    """A note on standard error: what a command did instead of what was asked."""
    click.echo(f"Note: {text}", err=True)


def _rate(_ctx: click.Context, _param: click.Parameter, value: int | None) -> int | None:
    if value is not None and not MIN_RATE_WPM <= value <= MAX_RATE_WPM:
        raise click.BadParameter(
            f"{value} words per minute is outside {MIN_RATE_WPM}-{MAX_RATE_WPM} (try {DEFAULT_RATE_WPM})"
        )
    return value


engine_option = click.option(
    "--engine",
    type=click.Choice(ENGINE_CHOICES, case_sensitive=False),
    default=None,
    envvar="VOICEGUIDE_ENGINE",
    show_envvar=True,
    help="Speech engine; auto (the default): Piper's natural voice when installed, else pyttsx3.",
)
voice_option = click.option(
    "--voice",
    default=None,
    help="A Piper voice (joe, or a .onnx file) or a pyttsx3 voice id or part of its name (see 'voiceguide voices').",
)


def rate_option(default: int | None) -> Callable[..., Any]:
    return click.option(
        "--rate",
        type=int,
        default=default,
        show_default=default is not None,
        callback=_rate,
        help="Pace in words per voiced minute, the same on every engine.",
    )


def voice_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--engine, --voice, --rate, --volume, --no-cache and --jobs, shared by every command that speaks."""
    for option in reversed(
        [
            engine_option,
            voice_option,
            rate_option(DEFAULT_RATE_WPM),
            click.option("--volume", type=FiniteRange(0.1, 1.0), default=1.0, show_default=True,
                         help="The speech engine's volume, 0.1 to 1.0 (a render is then leveled to --loudness)."),
            click.option("--no-cache", is_flag=True, help="Do not read or write the clip cache."),
            click.option(
                "-j",
                "--jobs",
                type=click.IntRange(0, 64),
                default=0,
                help="Lines synthesized at once (default: one per idle core, as free memory allows).",
            ),
        ]
    ):
        func = option(func)
    return func


def open_speech(
    engine: str | None, voice: str | None, rate: int, volume: float, no_cache: bool, jobs: int
) -> Speech:
    """The speech layer for these options, with the engine chosen and the voice resolved to one
    installed voice (``speech.label`` says which)."""
    from voiceguide.voice.choose import choose_voice
    from voiceguide.voice.speech import ClipCache, Speech, default_cache_dir

    choice = choose_voice(engine, voice)
    cache = None if no_cache else ClipCache(default_cache_dir())
    return Speech(
        choice.factory, VoiceSettings(choice.voice, rate, volume), cache=cache, jobs=jobs, label=choice.label()
    )


def clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"
