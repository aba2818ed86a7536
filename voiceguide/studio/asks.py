"""What a phone asks for, checked by the same code as the command line, with its messages.

A routine from the catalog (as ``render ROUTINE``), or focus areas, minutes, position and level
(as ``make``); cautions to avoid, a voice and a pace (as ``--avoid``, ``--voice``, ``--rate``).
Each value goes through the command line's own option (its type, range and callback) and the
library functions behind it, so a bad value gets the message the command line would print, and
:class:`AskError` says which field it belongs to.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

import click
from click.core import augment_usage_errors

from voiceguide.catalog.load import resolve_routine
from voiceguide.catalog.types import Catalog, Routine
from voiceguide.errors import VoiceguideError
from voiceguide.session.adapt import parse_tags
from voiceguide.session.compose import ComposeOptions, compose
from voiceguide.session.make import Request, make_routine, parse_focus
from voiceguide.session.timeline import Timeline
from voiceguide.voice.choose import VoiceChoice, choose_voice
from voiceguide.voice.settings import DEFAULT_RATE_WPM

FIELDS = ("routine", "focus", "minutes", "position", "level", "avoid", "voice", "pace", "seed")


class AskError(VoiceguideError):
    """Raised when a field of a studio request is missing or unusable; ``field`` names it and the
    message is the command line's for the same value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Ask:
    """A checked request: either ``routine`` or ``focus`` is set."""

    routine: str | None
    focus: tuple[str, ...]
    minutes: float | None
    position: str
    level: str
    avoid: tuple[str, ...]
    voice: str | None
    pace: int
    seed: int
    """The made-to-measure draw: a preview's seed sent back with the request makes what it showed."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """What was asked, in words, for the library list."""
        what = self.routine or ", ".join(self.focus)
        parts = [what]
        if self.minutes:
            parts.append(f"{self.minutes:g} min")
        if not self.routine and self.position != "any":
            parts.append(self.position)
        if self.level != "standard":
            parts.append(self.level)
        if self.avoid:
            parts.append("avoiding " + ", ".join(self.avoid))
        return "; ".join(parts)


def _option(command: click.Command, name: str, field: str, value: Any) -> Any:
    """``value`` converted and checked by ``command``'s option ``name``, as the command line does."""
    param = next(p for p in command.params if p.name == name)
    ctx = click.Context(command, info_name=command.name)
    try:
        with augment_usage_errors(ctx, param=param):  # as click does, so the message names the option
            return param.process_value(ctx, value)
    except click.BadParameter as e:
        raise AskError(field, e.format_message()) from None


def _text(data: dict[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise AskError(field, f"{field}: give text, not {type(value).__name__}")
    return str(value)


def read_ask(data: object, catalog: Catalog, engine: str | None) -> Ask:
    """The request in ``data`` (decoded JSON), checked field by field; raises :class:`AskError`."""
    from voiceguide.commands.make import make as make_command
    from voiceguide.commands.render import render as render_command

    if not isinstance(data, dict):
        raise AskError("routine", "send the request as a JSON object")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise AskError(unknown[0], f"{unknown[0]}: not something a session can be asked for")
    routine = _text(data, "routine")
    focus_text = _text(data, "focus")
    minutes_text = _text(data, "minutes")
    if routine is not None:
        if "/" in routine or "\\" in routine or routine.endswith((".yaml", ".yml")):
            raise AskError("routine", f"ROUTINE: '{routine}' is not a routine or stretch id of the catalog")
        try:
            resolve_routine(routine, catalog)
        except VoiceguideError as e:
            raise AskError("routine", e.format_message()) from None
        minutes = _option(render_command, "minutes", "minutes", minutes_text)
        focus: tuple[str, ...] = ()
    else:
        if focus_text is None:
            raise AskError("focus", "choose a routine, or at least one focus area")
        focus = _checked("focus", parse_focus, focus_text)
        minutes = _option(make_command, "minutes", "minutes", minutes_text)
        if minutes is None:
            raise AskError("minutes", "Missing option '--minutes'.")
    position = _option(make_command, "position", "position", _text(data, "position") or "any")
    level = _option(make_command, "level", "level", _text(data, "level") or "standard")
    avoid = _checked("avoid", parse_tags, _text(data, "avoid"))
    pace = _option(render_command, "rate", "pace", _text(data, "pace") or DEFAULT_RATE_WPM)
    voice = _text(data, "voice")
    _checked("voice", lambda v: choose_voice(engine, v), voice)
    seed = _option(make_command, "seed", "seed", _text(data, "seed"))
    return Ask(routine, focus, minutes, position, level, avoid, voice, pace,
               random.SystemRandom().randrange(10**6) if seed is None else seed)


def _checked(field: str, check: Any, value: Any) -> Any:
    try:
        return check(value)
    except VoiceguideError as e:
        raise AskError(field, e.format_message()) from None


def plan(ask: Ask, catalog: Catalog) -> tuple[Routine, ComposeOptions]:
    """The routine and compose options the request stands for (what ``make`` then ``render`` would use)."""
    options = ComposeOptions(ask.minutes, avoid=ask.avoid, level=ask.level)
    if ask.routine is not None:
        return resolve_routine(ask.routine, catalog), options
    assert ask.minutes is not None
    request = Request(ask.focus, ask.minutes, ask.position, ask.level, ask.avoid, ask.seed)
    return make_routine(catalog, request), options


def preview(ask: Ask, catalog: Catalog) -> Timeline:
    """The session the request would make, timed with estimated speech; raises :class:`AskError`."""
    try:
        routine, options = plan(ask, catalog)
        return compose(routine, catalog, options)
    except VoiceguideError as e:
        raise AskError(field_of(e, ask), e.format_message()) from None


def field_of(error: VoiceguideError, ask: Ask) -> str:
    """The field a failure to plan the session belongs to."""
    from voiceguide.session.adapt import NothingLeftError
    from voiceguide.session.make import NoStretchesError

    if isinstance(error, NothingLeftError):
        return "avoid"
    if isinstance(error, NoStretchesError):
        return "focus"
    return "minutes"


def voice_of(ask: Ask, engine: str | None) -> VoiceChoice:
    return choose_voice(engine, ask.voice)
