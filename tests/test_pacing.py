"""Sessions that breathe: pauses a body can act in, one steady breath, guidance that steps back.

These read the composed script of every bundled routine (every level, several avoided tags) and of
many `make` sessions, and check what a person following with closed eyes needs: time after each line
to do what it asks, a breath cycle no line squeezes, no long line said again soon, counts alone once
the movement is known, later rounds without their setup read again, and an option that protects a
joint heard on every side.
"""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from voiceguide.catalog.types import Routine, RoutineItem
from voiceguide.session.compose import ComposeOptions, compose
from voiceguide.session.make import Request, make_routine
from voiceguide.session.pacing import MIN_GAP_S, MOVE_PAUSE_S, SENTENCE_PAUSE_S, move_kind, pause_after
from voiceguide.session.timeline import Cue, Timeline
from voiceguide.session.words import number_words

from .conftest import bundled

LEVELS = ("gentle", "standard", "deep")
WORD = re.compile(r"[\w']+")


def _sessions() -> list[tuple[str, Timeline, ComposeOptions]]:
    catalog = bundled()
    out = []
    for rid in sorted(catalog.routines):
        for level in LEVELS:
            options = ComposeOptions(level=level)
            out.append((f"{rid}/{level}", compose(catalog.routines[rid], catalog, options), options))
        for avoid in (("knees",), ("wrists",), ("neck",), ("knees", "wrists")):
            options = ComposeOptions(avoid=avoid)
            out.append((f"{rid}/avoid-{'-'.join(avoid)}", compose(catalog.routines[rid], catalog, options), options))
    focuses = (("lower-back", "hips"), ("upper-back", "shoulders"), ("hamstrings",), ("neck",), ("glutes", "core"))
    for seed in range(8):
        for focus in focuses:
            level = LEVELS[seed % 3]
            avoid = ((), ("knees",), ("wrists",), ("knees", "wrists"))[seed % 4]
            routine = make_routine(catalog, Request(focus, 8 + 2 * seed, level=level, avoid=avoid, seed=seed))
            options = ComposeOptions(level=level, avoid=avoid)
            out.append((f"make-{'-'.join(focus)}-{seed}/{level}", compose(routine, catalog, options), options))
    return out


SESSIONS = _sessions()
IDS = [name for name, _, _ in SESSIONS]


def words(text: str | None) -> list[str]:
    return WORD.findall(str(text).lower())


def spoken(tl: Timeline) -> list[Cue]:
    return tl.speech()


def sounds(tl: Timeline) -> list[Cue]:
    """Everything heard: lines and tones."""
    return [c for c in tl.cues if c.kind != "silence"]


# --------------------------------------------------------------------------- pauses


@pytest.mark.parametrize(("name", "tl", "options"), SESSIONS, ids=IDS)
def test_every_line_is_followed_by_a_pause(name: str, tl: Timeline, options: ComposeOptions) -> None:
    for a, b in pairwise(sounds(tl)):
        assert b.start_s - a.end_s >= MIN_GAP_S - 1e-6, (name, a.text or a.role, b.text or b.role)


@pytest.mark.parametrize(("name", "tl", "options"), SESSIONS, ids=IDS)
def test_a_line_that_moves_the_body_leaves_time_to_move(name: str, tl: Timeline, options: ComposeOptions) -> None:
    lines = spoken(tl)
    for a, b in pairwise(lines):
        kind = move_kind(str(a.text), a.role)
        if kind is None or (a.role == "instruction" and b.role in ("breath", "count", "countdown", "instruction")):
            continue  # a cue inside a hold, or a release said as the last way back, is timed by the hold or breath
        assert b.start_s - a.end_s >= pause_after(str(a.text), a.role) - 1e-6, (name, a.text, kind, b.text)


@pytest.mark.parametrize(("name", "tl", "options"), SESSIONS, ids=IDS)
def test_no_long_run_of_speech_without_a_breath(name: str, tl: Timeline, options: ComposeOptions) -> None:
    start = None
    last_end = None
    for cue in sounds(tl):
        if last_end is None or cue.start_s - last_end >= SENTENCE_PAUSE_S - 1e-6:
            start = cue.start_s
        assert start is not None  # (one long line alone is the catalog's words, not the pauses between lines)
        assert cue.end_s - start <= 10.0 or cue.start_s == start, (name, cue.text, cue.end_s - start)
        last_end = cue.end_s


def test_the_pause_model_grows_with_the_size_of_the_move() -> None:
    assert move_kind("Slowly lower yourself down to the mat.", "transition") == "down to the floor"
    assert move_kind("Slowly come up to standing, with a hand on a chair if you like.", "transition") == \
        "up from the floor"
    assert move_kind("Come onto your hands and knees.", "setup") == "change position"
    assert move_kind("Bend your right knee.", "setup") == "move"
    assert move_kind("Soften your knees.", "setup") == "refine"
    assert move_kind("Breathe in.", "breath") is None
    order = [MOVE_PAUSE_S[k] for k in ("down to the floor", "change position", "move", "refine")]
    assert order == sorted(order, reverse=True) and len(set(order)) == len(order)
    assert pause_after("Welcome.", "intro") >= SENTENCE_PAUSE_S
    assert pause_after("Bend your right knee.", "setup") > pause_after("Soften your knees.", "setup")


def test_a_line_can_name_its_own_move(monkeypatch: pytest.MonkeyPatch) -> None:
    from voiceguide.session import pacing

    monkeypatch.setitem(pacing.LINE_MOVES, "Find your spot on the mat.", "down to the floor")
    assert pause_after("Find your spot on the mat.", "setup") == MOVE_PAUSE_S["down to the floor"]
    monkeypatch.setitem(pacing.LINE_PAUSE_S, "Find your spot on the mat.", 7.0)
    assert pause_after("Find your spot on the mat.", "setup") == 7.0


# --------------------------------------------------------------------------- breath


def breath_pairs(tl: Timeline) -> list[tuple[Cue, Cue]]:
    """Each "Breathe in…" line with the "Breathe out…" line that follows it in the same chapter."""
    lines = [c for c in spoken(tl) if c.role == "breath"]
    return [
        (a, b) for a, b in pairwise(lines)
        if a.chapter == b.chapter and str(a.text).startswith("Breathe in") and str(b.text).startswith("Breathe out")
    ]


@pytest.mark.parametrize(("name", "tl", "options"), SESSIONS, ids=IDS)
def test_an_inhale_is_never_shorter_than_the_breath_pace(name: str, tl: Timeline, options: ComposeOptions) -> None:
    for a, b in breath_pairs(tl):
        assert b.start_s - a.start_s >= min(options.breath_in, 4.0) - 0.5 - 1e-6, (name, a.text, b.text)
        assert b.start_s - a.start_s >= 2.5, (name, a.text, b.text)


@pytest.mark.parametrize("pace", [(3.0, 4.0), (4.0, 6.0), (6.0, 8.0)])
def test_a_set_keeps_one_breath_cycle_whatever_is_said(pace: tuple[float, float]) -> None:
    catalog = bundled()
    for sid in ("pelvic-tilt", "cat-cow", "knee-rolls", "seated-side-bend", "bird-dog"):
        routine = Routine(sid, sid, "", None, (RoutineItem(sid),))
        tl = compose(routine, catalog, ComposeOptions(breath_in=pace[0], breath_out=pace[1]))
        s = catalog.stretch(sid)
        counts = [c for c in tl.cues if c.role == "count" and str(c.text) in COUNTS]
        hold = tl.meta["doses"][0]["hold_s"] or 0.0
        for a, b in pairwise(counts):
            if COUNTS[str(b.text)] == COUNTS[str(a.text)] + 1:  # two repetitions in a row
                assert b.start_s - a.start_s >= sum(pace) + hold - 1e-6, (sid, a.text, b.text)
        # the count falls once the movement has arrived: at the end of its breath, not right after the words
        if s.style == "flow":
            for c in counts:
                following = next((x for x in tl.cues if x.start_s >= c.end_s and x.kind != "silence"), None)
                if following is not None and following.role == "breath":  # the next breath starts right after
                    assert following.start_s - c.end_s <= SENTENCE_PAUSE_S + 0.5, (sid, c.text)


COUNTS = {f"{number_words(n).capitalize()}.": n for n in range(1, 21)}


@pytest.mark.parametrize(("name", "tl", "options"), SESSIONS, ids=IDS)
def test_slowly_is_never_said_over_a_short_breath(name: str, tl: Timeline, options: ComposeOptions) -> None:
    lines = [c for c in spoken(tl) if c.role in ("breath", "countdown")]  # the next breath, or the hold's end
    for a, b in pairwise(lines):
        if a.role == "breath" and "slowly" in words(a.text) and a.chapter == b.chapter:
            assert b.start_s - a.start_s >= min(options.breath_in, options.breath_out) - 1e-6, (name, a.text)


def test_a_hold_after_a_breath_out_says_to_keep_breathing() -> None:
    catalog = bundled()
    for sid in ("pelvic-tilt", "bridge", "knee-rolls"):
        tl = compose(Routine(sid, sid, "", None, (RoutineItem(sid),)), catalog)
        lines = [str(c.text) for c in spoken(tl)]
        first_hold = next(t for t in lines if t.startswith(("Hold", "Stay", "And hold")))
        assert "breath" in first_hold, (sid, first_hold)


# --------------------------------------------------------------------------- stepping back


@pytest.mark.parametrize(("name", "tl", "options"), SESSIONS, ids=IDS)
def test_no_long_line_is_said_again_within_fifteen_seconds(name: str, tl: Timeline, options: ComposeOptions) -> None:
    last: dict[str, float] = {}
    for cue in spoken(tl):
        text = str(cue.text)
        if len(words(text)) > 4 and text in last:
            assert cue.start_s - last[text] >= 15.0, (name, text, last[text], cue.start_s)
        last[text] = cue.start_s


@pytest.mark.parametrize(("name", "tl", "options"), SESSIONS, ids=IDS)
def test_guidance_steps_back_to_the_count(name: str, tl: Timeline, options: ComposeOptions) -> None:
    catalog = bundled()
    for index, dose in enumerate(tl.meta["doses"]):
        s = catalog.stretch(dose["stretch"])
        if s.style == "hold":
            continue
        cues = [c for c in spoken(tl) if c.chapter == index]
        counts = [i for i, c in enumerate(cues) if str(c.text) in COUNTS]
        full = {s.breath_in.format(side=x, other=y) for x, y in (("right", "left"), ("left", "right"))}
        full |= {s.breath_out.format(side=x, other=y) for x, y in (("right", "left"), ("left", "right"))}
        for a, b in pairwise(counts):  # never the same full line in two repetitions in a row
            assert not {c.text for c in cues[a:b] if c.text in full} & {c.text for c in cues[b:] if c.text in full
                                                                       and c.start_s - cues[b].start_s < 15}
        reps = dose["reps"]
        if reps >= 3:  # "Last one." before the last
            lasts = [c for c in cues if str(c.text).startswith("Last one.")]
            assert len(lasts) == dose["sets"] * dose["sides"], (name, s.id)
        step_back = [c for c in cues if "I'll count" in str(c.text)]
        assert len(step_back) <= dose["sets"] * dose["sides"], (name, s.id)
        if not s.alternating and reps >= 8:  # a long set ends on the count alone, said once when it starts
            assert step_back, (name, s.id)


@pytest.mark.parametrize(("name", "tl", "options"), SESSIONS, ids=IDS)
def test_a_later_round_does_not_reread_its_setup(name: str, tl: Timeline, options: ComposeOptions) -> None:
    catalog = bundled()
    for index, dose in enumerate(tl.meta["doses"]):
        s = catalog.stretch(dose["stretch"])
        said = [str(c.text) for c in spoken(tl) if c.chapter == index]
        again = [x for x in s.side_setup if "{side}" in x][:1] or list(s.side_setup[:1])
        for line in (*s.setup, *(x for x in s.side_setup if x not in again)):  # a later round: one move again
            for side, other in (("right", "left"), ("left", "right")):
                assert said.count(line.format(side=side, other=other)) <= 1, (name, s.id, line)


@pytest.mark.parametrize(("name", "tl", "options"), SESSIONS, ids=IDS)
def test_nothing_said_twice_back_to_back(name: str, tl: Timeline, options: ComposeOptions) -> None:
    for a, b in pairwise(spoken(tl)):
        wa, wb = words(a.text), words(b.text)
        assert not (len(wa) >= 4 and len(wb) >= 4 and wa[-4:] == wb[-4:]), (name, a.text, b.text)


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(("name", "tl", "options"), SESSIONS, ids=IDS)
def test_a_protective_cue_is_said_on_every_side(name: str, tl: Timeline, options: ComposeOptions) -> None:
    catalog = bundled()
    for index, dose in enumerate(tl.meta["doses"]):
        s = catalog.stretch(dose["stretch"])
        if not s.sides:
            continue
        said = [str(c.text) for c in spoken(tl) if c.chapter == index]
        for cue in s.cues:
            if "protect" in cue:
                right = said.count(cue.format(side="right", other="left"))
                left = said.count(cue.format(side="left", other="right"))
                assert right == left, (name, s.id, cue)


@pytest.mark.parametrize(("name", "tl", "options"), SESSIONS, ids=IDS)
def test_joint_options_come_before_the_work(name: str, tl: Timeline, options: ComposeOptions) -> None:
    catalog = bundled()
    for index, dose in enumerate(tl.meta["doses"]):
        s = catalog.stretch(dose["stretch"])
        cues = [c for c in tl.cues if c.chapter == index and c.kind != "silence"]
        work = next(i for i, c in enumerate(cues) if c.role in ("hold-start", "breath", "count"))
        for caution in s.cautions:
            at = [i for i, c in enumerate(cues) if c.text == caution.say.format(side="right", other="left")]
            assert not at or at[0] < work, (name, s.id, caution.say)




def test_a_tight_session_shortens_its_closing_rest_before_leaving_out_a_stretch() -> None:
    from voiceguide.errors import FitError
    from voiceguide.session.options import CLOSING_REST_S, closing_rest

    catalog = bundled()
    routine = catalog.routines["morning-mobility"]
    with pytest.raises(FitError) as info:
        compose(routine, catalog, ComposeOptions(minutes=1, strict=True))
    m = re.search(r"shortest it gets is (\d+):(\d\d)", info.value.message)
    assert m
    shortest = int(m[1]) * 60 + int(m[2])  # with the least closing rest
    target = shortest + 8.0  # too short for the full closing rest of a session this long
    assert closing_rest(target)[0] - CLOSING_REST_S[0] > 8.0 + 2.0
    tl = compose(routine, catalog, ComposeOptions(minutes=target / 60, strict=True))
    assert [d["stretch"] for d in tl.meta["doses"]] == [i.stretch for i in routine.items]
    assert abs(tl.duration_s - target) <= 2
    rest = [c for c in tl.cues if c.role == "rest" and c.chapter is None][-1]
    assert CLOSING_REST_S[0] - 0.01 <= rest.duration_s < closing_rest(target)[0]


@pytest.mark.parametrize("focus", ["lower-back", "hips", "neck"])
def test_a_short_made_session_fits_whatever_its_draw(focus: str) -> None:
    """Pauses make a stretch's shortest dose longer: a draw whose one stretch no longer fits the few
    minutes asked for is replaced by another, never turned into an error."""
    catalog = bundled()
    for seed in range(60):
        routine = make_routine(catalog, Request((focus,), 3.0, "any", "standard", (), seed))
        timeline = compose(routine, catalog, ComposeOptions(3.0))
        assert abs(timeline.duration_s - 180) <= 2, (seed, [i.stretch for i in routine.items])
