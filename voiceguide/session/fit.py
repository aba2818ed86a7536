"""Fitting a session to its minutes: doses inside each stretch's ranges, found by bisection."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from voiceguide.catalog.types import Range, RoutineItem, Stretch
from voiceguide.errors import FitError
from voiceguide.session.options import CLOSING_REST_S, LEVEL_SHIFT, Dose
from voiceguide.session.timeline import Chapter, Cue

FIT_TOLERANCE_S = 2.0


def _scaled(base: float, rng: Range, t: float) -> float:
    """Move ``base`` toward ``rng.max`` (t>0) or ``rng.min`` (t<0); |t| = 1 reaches the bound."""
    t = max(-1.0, min(1.0, t))
    return base + abs(t) * ((rng.max if t > 0 else rng.min) - base)


def set_ladder(stretches: Sequence[Stretch], items: Sequence[RoutineItem]) -> tuple[list[tuple[int, ...]], int]:
    """Every arrangement of sets from all-minimum to all-maximum, and where the routine's own is.

    Neighbouring arrangements differ by one set of one stretch, taken in turn, so the session
    never jumps by a set of every stretch at once.
    """
    base = [int(item.sets if item.sets is not None else s.sets.default) for s, item in zip(stretches, items)]
    pinned = [item.sets is not None for item in items]  # sets the user wrote are kept as written

    def walk(step: int) -> list[tuple[int, ...]]:
        sets, out = list(base), []
        room = [
            0 if fixed else int(s.sets.max) - n if step > 0 else n - int(s.sets.min)
            for s, n, fixed in zip(stretches, base, pinned)
        ]
        while any(room):
            for i in range(len(sets)):
                if room[i]:
                    sets[i] += step
                    room[i] -= 1
                    out.append(tuple(sets))
        return out

    down = walk(-1)[::-1]
    return [*down, tuple(base), *walk(+1)], len(down)


def doses_for(
    stretches: Sequence[Stretch],
    items: Sequence[RoutineItem],
    inner: float,
    sets: Sequence[int],
    hold_t: float | None = None,
    level: str = "standard",
) -> list[Dose]:
    """Doses with repetitions (and holds, unless ``hold_t`` scales them apart) at scale ``inner``.

    The level moves each hold's starting point inside its range before any scaling. A hold or
    a number of repetitions the routine pins is kept exactly; alternating repetitions come in
    even numbers so both sides get the same.
    """
    doses = []
    for stretch, item, n_sets in zip(stretches, items, sets):
        hold = reps = None
        if stretch.hold_seconds:
            rng = stretch.hold_seconds
            if item.hold is not None:
                hold = float(item.hold)
            else:
                base = _scaled(rng.default, rng, LEVEL_SHIFT[level])
                scaled = _scaled(base, stretch.hold_seconds, inner if hold_t is None else hold_t)
                hold = stretch.hold_seconds.clamp(round(scaled, 1))
        if stretch.reps:
            if item.reps is not None:
                reps = int(item.reps)
            else:
                scaled = _scaled(stretch.reps.default, stretch.reps, inner) + 1e-9
                reps = _even(scaled, stretch.reps) if stretch.alternating else int(stretch.reps.clamp(round(scaled)))
        doses.append(Dose(hold, reps, int(n_sets)))
    return doses


def _even(value: float, rng: Range) -> int:
    """The even number nearest ``value`` inside ``rng`` (an odd bound steps inward)."""
    lo, hi = int(rng.min) + int(rng.min) % 2, int(rng.max) - int(rng.max) % 2
    return max(lo, min(hi, 2 * round(value / 2))) if lo <= hi else int(rng.clamp(round(value)))


def _ladder_index(t: float, rungs: int, base: int) -> int:
    outer = t - max(-1.0, min(1.0, t))
    room = (rungs - 1 - base) if outer > 0 else base
    return base + int(outer * room + (1e-9 if outer > 0 else -1e-9))



class Built(NamedTuple):
    """One trial session: what fitting compares and, for the one it keeps, what it returns."""

    cues: list[Cue]
    chapters: list[Chapter]
    length_s: float
    """The session's length in seconds, the figure fitting steers."""
    doses: list[Dose]
Point = tuple[float, int, "float | None"]
"""Where fitting looks: (reps-and-holds scale, rung of the set ladder, separate hold scale or None)."""


BISECT_SETTLED_S = 0.005
"""A bracket whose two ends give session lengths this close holds nothing a finer search would find."""
BISECT_WIDTH = 1e-4
"""A bracket this narrow (on scales of -1 to 1) moves a hold by a few milliseconds at most: where
the length jumps (a whole repetition or set), halving further only closes in on the jump, and the
closing rest takes up what is left."""


def _bisect(
    total: Callable[[float], float], lo: float, hi: float, target: float, steps: int = 30
) -> tuple[float, float]:
    """Narrow [lo, hi] around where the non-decreasing ``total`` crosses ``target``.

    Stops early once both ends are measured and their totals are within :data:`BISECT_SETTLED_S`
    (every point between gives a total between them), or once the bracket is :data:`BISECT_WIDTH`
    wide: further halving only costs builds.
    """
    at_lo: float | None = None
    at_hi: float | None = None
    for _ in range(steps):
        mid = (lo + hi) / 2
        value = total(mid)
        if value <= target:
            lo, at_lo = mid, value
        else:
            hi, at_hi = mid, value
        if hi - lo <= BISECT_WIDTH or (at_lo is not None and at_hi is not None and at_hi - at_lo <= BISECT_SETTLED_S):
            break
    return lo, hi


def fit_doses(
    build: Callable[[Point, float, float], Built],
    rungs: int,
    base: int,
    minutes: float,
    title: str,
    rest: tuple[float, float] = CLOSING_REST_S,
    pinned: bool = False,
) -> Built:
    """Find doses and a closing rest that land the session on ``minutes`` within 2 s.

    The length grows along one path (holds and reps first, then sets one at a time), so a
    bisection brackets the target. Whole repetitions and sets make the length jump in places;
    there each nearby arrangement of sets is tried with holds and reps re-scaled smoothly, and
    the closing rest takes up the last few seconds.
    """
    target = minutes * 60.0
    low_rest, high_rest = rest
    kept = " with the numbers the routine pins kept as written" if pinned else ""

    def length(point: Point, rest: float = low_rest) -> float:
        return build(point, minutes, rest).length_s

    def on_path(t: float) -> Point:
        return (max(-1.0, min(1.0, t)), _ladder_index(t, rungs, base), None)

    shortest = length(on_path(-2.0))
    longest = length(on_path(2.0)) + (high_rest - low_rest)
    if target < shortest - FIT_TOLERANCE_S:
        raise FitError(
            f"'{title}' cannot be as short as {minutes:g} min: the shortest it gets is "
            f"{_mmss(shortest)}{kept}, {shortest - target:.0f} s too long. Ask for more minutes or fewer stretches."
        )
    if target > longest + FIT_TOLERANCE_S:
        raise FitError(
            f"'{title}' cannot be as long as {minutes:g} min: the longest it gets is "
            f"{_mmss(longest)}{kept}, {target - longest:.0f} s too short. Ask for fewer minutes or add stretches."
        )
    best: Built | None = None

    def consider(point: Point) -> bool:
        """Try a point with the rest that fits it; True once it lands (to the centisecond)."""
        nonlocal best
        rest = max(low_rest, min(high_rest, low_rest + target - length(point)))
        built = build(point, minutes, rest)
        if best is None or abs(built.length_s - target) < abs(best.length_s - target):
            best = built
        return abs(best.length_s - target) <= 0.01

    def on_rung(rung: int, inner: float | None = None) -> bool:
        """Bisect holds and reps together on one rung, or holds alone with reps fixed at ``inner``."""
        if inner is None:
            lo, _ = _bisect(lambda u: length((u, rung, None)), -1.0, 1.0, target)
            return consider((lo, rung, None))
        lo, _ = _bisect(lambda h: length((inner, rung, h)), -1.0, 1.0, target)
        return consider((inner, rung, lo))

    lo, hi = _bisect(lambda t: length(on_path(t)), -2.0, 2.0, target)
    if consider(on_path(lo)) or consider(on_path(hi)):
        return best  # type: ignore[return-value]
    near = sorted(range(rungs), key=lambda r: (abs(r - on_path(lo)[1]), r))
    for rung in near[:2]:
        if on_rung(rung, on_path(lo)[0]) or on_rung(rung, on_path(hi)[0]):
            return best  # type: ignore[return-value]
    for rung in near:
        if on_rung(rung):
            return best  # type: ignore[return-value]
    assert best is not None
    if abs(best.length_s - target) > FIT_TOLERANCE_S:
        raise FitError(
            f"'{title}' cannot land on {minutes:g} min: the nearest it gets is {_mmss(best.length_s)} "
            f"({best.length_s - target:+.0f} s), because repetitions and sets come in whole steps. "
            "Try a minute more or less."
        )
    return best


def _mmss(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"
