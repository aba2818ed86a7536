"""Composing a routine into a timed script: properties over generated routines, and unit tests."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voiceguide.catalog.types import Catalog, Routine, RoutineItem, Stretch
from voiceguide.catalog.validate import stretch_from_document
from voiceguide.catalog.yamlio import parse_document
from voiceguide.errors import BadOptionError, FitError
from voiceguide.session.compose import (
    ComposeOptions,
    compose,
    estimate_speech_seconds,
    number_words,
    parse_breath,
)
from voiceguide.session.pacing import SENTENCE_PAUSE_S
from voiceguide.session.timeline import SILENCE_ROLES, SPEECH_ROLES, TONE_ROLES, Cue, Timeline

from .conftest import VALID, bundled, fake_length

EPS = 1e-6
LENGTHS: dict[str, Callable[[str], float]] = {"fake": fake_length, "estimate": estimate_speech_seconds}
RELEASE_WORDS = set(bundled().phrases["release"])
COUNT_WORDS = {number_words(n).capitalize() + ".": n for n in range(1, 200)}

# which words of the session's safety note speak each caution tag
TAG_WORDS = {
    "knees": "knees", "wrists": "wrists", "neck": "neck", "shoulders": "shoulders", "hips": "hips",
    "acute-back-injury": "back injury", "osteoporosis": "osteoporosis", "pregnancy": "pregnant",
    "sciatica": "sciatica", "balance": "balance", "high-blood-pressure": "blood pressure",
}

PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


# --------------------------------------------------------------------------- generated cases


@dataclass(frozen=True)
class Case:
    routine: Routine
    options: ComposeOptions


def _halves(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.integers(math.ceil(lo * 2), math.floor(hi * 2)).map(lambda n: n / 2)


def _whole(lo: float, hi: float) -> st.SearchStrategy[int]:
    return st.integers(math.ceil(lo), math.floor(hi))


@st.composite
def items(draw: st.DrawFn, catalog: Catalog) -> tuple[RoutineItem, ...]:
    every = sorted(catalog.stretches)
    flows = [i for i in every if catalog.stretches[i].style == "flow"] or every
    sided = [i for i in every if catalog.stretches[i].sides] or every
    # flows are few in the catalog; draw them (and sided stretches) more often than their share
    one_id = st.one_of(st.sampled_from(every), st.sampled_from(flows), st.sampled_from(sided))
    ids = draw(st.lists(one_id, min_size=1, max_size=6))
    out = []
    for stretch_id in ids:
        s = catalog.stretches[stretch_id]
        hold = reps = sets = None
        if s.hold_seconds and draw(st.booleans()):
            hold = draw(_halves(s.hold_seconds.min, s.hold_seconds.max))
        if s.reps and draw(st.booleans()):
            reps = draw(_whole(s.reps.min, s.reps.max))
        if draw(st.booleans()):
            sets = draw(_whole(s.sets.min, s.sets.max))
        out.append(RoutineItem(stretch_id, hold, reps, sets))
    return tuple(out)


breaths = st.tuples(_halves(1, 10), _halves(1, 12))


@st.composite
def cases(draw: st.DrawFn, with_minutes: bool | None = None) -> Case:
    catalog = bundled()
    routine = Routine("generated", "Generated routine", "A generated routine.", None, draw(items(catalog)))
    breath_in, breath_out = draw(breaths)
    if with_minutes is None:
        with_minutes = draw(st.booleans())
    minutes = draw(_halves(1, 40)) if with_minutes else None
    # strict: these properties are about fitting the routine as given; leaving stretches out is tested apart
    return Case(routine, ComposeOptions(minutes, breath_in, breath_out, strict=True))


# --------------------------------------------------------------------------- checks


def chapter_cues(tl: Timeline, index: int) -> list[Cue]:
    return [c for c in tl.cues if c.chapter == index]


def count_runs(cues: list[Cue]) -> list[list[int]]:
    """The spoken repetition counts ('One.', 'Two.', ...) grouped into runs that restart at one."""
    runs: list[list[int]] = []
    for c in cues:
        if c.kind == "speech" and c.role == "count" and c.text in COUNT_WORDS:
            n = COUNT_WORDS[c.text]
            if n == 1:
                runs.append([])
            assert runs, f"counting starts at {c.text}"
            runs[-1].append(n)
    return runs


def hold_windows(cues: list[Cue]) -> list[tuple[int, int]]:
    """(index of the hold-start tone, index of the matching hold-end tone) in ``cues``."""
    starts = [i for i, c in enumerate(cues) if c.kind == "tone" and c.role == "hold-start"]
    ends = [i for i, c in enumerate(cues) if c.kind == "tone" and c.role == "hold-end"]
    assert len(starts) == len(ends)
    pairs = list(zip(starts, ends, strict=True))
    assert all(a < b for a, b in pairs)
    assert all(b < a2 for (_, b), (a2, _) in pairwise(pairs))
    return pairs


def is_window_part(c: Cue) -> bool:
    """A cue inside a repetition's window (reps and flow), after its count."""
    if c.kind == "silence":
        return c.role == "phase"
    return c.kind == "speech" and (c.role == "breath" or c.text in ("Hold.", "And release."))


def work_span(cues: list[Cue]) -> float:
    """From the first count to the end of the last repetition's window."""
    counts = [i for i, c in enumerate(cues) if c.role == "count" and c.text in COUNT_WORDS]
    assert counts
    k = counts[-1] + 1
    while k < len(cues) and is_window_part(cues[k]):
        k += 1
    return cues[k - 1].end_s - cues[counts[0]].start_s


def check_order(tl: Timeline) -> None:
    cues = tl.cues
    assert cues
    assert cues[0].start_s == 0
    for prev, cue in pairwise(cues):
        assert cue.start_s >= prev.end_s - 1e-9
    for cue in cues:
        assert cue.end_s > cue.start_s
    assert cues[-1].end_s == pytest.approx(tl.duration_s, abs=1e-9)


def check_kinds(tl: Timeline, length: Callable[[str], float]) -> None:
    roles = {"speech": SPEECH_ROLES, "silence": SILENCE_ROLES, "tone": TONE_ROLES}
    for cue in tl.cues:
        assert cue.role in roles[cue.kind], cue
        if cue.kind == "speech":
            assert cue.text and cue.text.strip()
            assert cue.duration_s == pytest.approx(length(cue.text), abs=EPS)
        else:
            assert cue.text is None


def check_chapters(tl: Timeline, routine: Routine, catalog: Catalog) -> None:
    chapters = tl.chapters
    assert [c.stretch for c in chapters] == [i.stretch for i in routine.items]
    assert [c.title for c in chapters] == [catalog.stretch(i.stretch).name for i in routine.items]
    # the chapters of a file: a welcome, every stretch where it starts, a closing, covering the file
    covering = tl.chapters_covering()
    assert (covering[0].title, covering[-1].title) == ("Welcome", "Closing")
    assert covering[1:-1] == chapters
    assert covering[0].start_s == 0 and covering[-1].end_s == pytest.approx(tl.duration_s, abs=1e-9)
    for prev, ch in pairwise(covering):
        assert ch.start_s == pytest.approx(prev.end_s, abs=1e-9)
    for prev, ch in pairwise(chapters):
        assert ch.start_s >= prev.end_s - 1e-9
    for ch in chapters:
        assert 0 <= ch.start_s < ch.end_s <= tl.duration_s + 1e-9
    for cue in tl.cues:
        if cue.chapter is not None:
            ch = chapters[cue.chapter]
            assert ch.start_s - 1e-9 <= cue.start_s and cue.end_s <= ch.end_s + 1e-9
        else:
            for ch in chapters:
                assert cue.end_s <= ch.start_s + 1e-9 or cue.start_s >= ch.end_s - 1e-9


def check_frame(tl: Timeline, stretches: list[Stretch]) -> None:
    first, last = tl.chapters[0], tl.chapters[-1]
    note = [c for c in tl.cues if c.role == "safety" and c.chapter is None]
    assert note, "no safety note"
    assert all(c.end_s <= first.start_s + 1e-9 for c in note)
    intro = [c for c in tl.cues if c.role == "intro"]
    assert intro and all(c.end_s <= first.start_s + 1e-9 for c in intro)
    outro = [c for c in tl.cues if c.role == "outro"]
    assert outro and all(c.start_s >= last.end_s - 1e-9 for c in outro)
    spoken_note = " ".join(str(c.text) for c in note)
    for tag in {t for s in stretches for t in s.caution_tags}:
        assert TAG_WORDS[tag] in spoken_note, f"the safety note does not speak the caution '{tag}'"


def check_doses(tl: Timeline, routine: Routine, catalog: Catalog, fitted: bool) -> None:
    doses = tl.meta["doses"]
    assert [d["stretch"] for d in doses] == [i.stretch for i in routine.items]
    for item, dose in zip(routine.items, doses, strict=True):
        s = catalog.stretch(item.stretch)
        assert dose["sides"] == (2 if s.sides else 1)
        for key, rng, override in (("hold_s", s.hold_seconds, item.hold), ("reps", s.reps, item.reps),
                                   ("sets", s.sets, item.sets)):
            if rng is None:
                assert dose[key] is None
                continue
            assert rng.min <= dose[key] <= rng.max, (s.id, key, dose[key], rng)
            if not fitted:  # without a length to fit, the routine's override or the default is used
                assert dose[key] == (override if override is not None else rng.default)
        assert isinstance(dose["sets"], int)
        if s.reps:
            assert isinstance(dose["reps"], int)


def check_holds(cues: list[Cue], s: Stretch, dose: dict, length: Callable[[str], float]) -> None:
    windows = hold_windows(cues)
    if s.style != "hold":
        assert not windows
        return
    hold = dose["hold_s"]
    assert len(windows) == dose["sets"] * dose["sides"]
    per_side = [0.0, 0.0]
    for n, (a, b) in enumerate(windows):
        start, end = cues[a].end_s, cues[b].start_s
        assert end - start == pytest.approx(hold, abs=EPS)
        per_side[n % dose["sides"]] += end - start
        inside = [c for c in cues[a + 1:b] if c.kind == "speech"]
        assert all(c.end_s <= end + EPS for c in inside)
        countdown = [c for c in inside if c.role == "countdown"]
        if hold >= 6:
            assert [c.text for c in countdown] == ["Three.", "Two.", "One."]
            # a second or a little more apart, "One." over a sentence pause before the hold ends
            assert all(1.0 - EPS <= b.start_s - a.start_s <= 1.0 + length(str(a.text)) for a, b in pairwise(countdown))
            assert end - countdown[-1].end_s >= SENTENCE_PAUSE_S - EPS
        else:
            assert not countdown
        after = next(c for c in cues[b + 1:] if c.kind != "silence")  # after a pause, the release
        assert (after.kind, after.role) == ("speech", "countdown") and after.text in RELEASE_WORDS
        if s.sides and n + 1 < len(windows):
            between = [c.text for c in cues[b + 1:windows[n + 1][0]] if c.kind == "speech"]
            # every round switches; later rounds do not read the setup again
            side, other = ("right", "left")[(n + 1) % 2], ("left", "right")[(n + 1) % 2]
            assert f"Switch to your {side} side." in between
            if n + 1 >= dose["sides"]:
                again = [x for x in s.side_setup if "{side}" in x][:1] or list(s.side_setup[:1])
                later = [x for x in s.side_setup if x not in again]  # only the first move naming the side again
                assert not set(between) & {x.format(side=side, other=other) for x in later}
    if s.sides:
        assert per_side[0] == pytest.approx(per_side[1], abs=EPS)


def check_counts(cues: list[Cue], s: Stretch, dose: dict, options: ComposeOptions,
                 length: Callable[[str], float]) -> None:
    runs = count_runs(cues)
    if s.style == "hold":
        assert not runs
        return
    assert runs == [list(range(1, dose["reps"] + 1))] * (dose["sets"] * dose["sides"])
    counts = [i for i, c in enumerate(cues) if c.role == "count" and c.text in COUNT_WORDS]
    for i, j in pairwise(counts):
        if COUNT_WORDS[str(cues[j].text)] != COUNT_WORDS[str(cues[i].text)] + 1:
            continue  # a new set or side starts
        spacing = cues[j].start_s - cues[i].start_s
        if s.style == "flow":  # an inhale at least between counts (the count's place in the exhale varies)
            assert spacing >= options.breath_in - EPS
        else:
            assert s.rep_seconds is not None
            assert spacing >= s.rep_seconds / 2 + (dose["hold_s"] or 0) - EPS
    for i in counts:  # the count sits inside its breath phase, right after the breath line if one is said
        prev = cues[i - 1]
        assert prev.kind == "silence" or prev.role == "breath", (s.id, prev, cues[i])


def check_sides(cues: list[Cue], s: Stretch) -> None:
    switches = [k for k, c in enumerate(cues) if c.kind == "speech" and str(c.text).startswith("Switch to your")]
    if not s.sides:
        assert not switches
        return
    assert any(cues[k].text == "Switch to your left side." for k in switches)
    assert all(cues[k].role == "transition" for k in switches)
    if s.style in ("reps", "flow"):  # all of the right side, then all of the left
        (k,) = switches
        assert work_span(cues[:k]) == pytest.approx(work_span(cues[k:]), abs=EPS)


def check_timeline(tl: Timeline, case: Case, length: Callable[[str], float], fitted: bool) -> None:
    catalog = bundled()
    stretches = [catalog.stretch(i.stretch) for i in case.routine.items]
    check_order(tl)
    check_kinds(tl, length)
    check_chapters(tl, case.routine, catalog)
    check_frame(tl, stretches)
    check_doses(tl, case.routine, catalog, fitted)
    for index, (s, dose) in enumerate(zip(stretches, tl.meta["doses"], strict=True)):
        cues = chapter_cues(tl, index)
        check_holds(cues, s, dose, length)
        check_counts(cues, s, dose, case.options, length)
        check_sides(cues, s)
    for cue in tl.speech():
        assert "{" not in str(cue.text) and "}" not in str(cue.text)


def with_items(routine: Routine, make: Callable[[Stretch, RoutineItem], RoutineItem]) -> Routine:
    catalog = bundled()
    return Routine(routine.id, routine.title, routine.description, None,
                   tuple(make(catalog.stretch(i.stretch), i) for i in routine.items))


def all_min(s: Stretch, item: RoutineItem) -> RoutineItem:
    """Every number the routine leaves open at its minimum; pinned numbers as written."""
    return RoutineItem(s.id, item.hold if item.hold is not None else s.hold_seconds.min if s.hold_seconds else None,
                       item.reps if item.reps is not None else int(s.reps.min) if s.reps else None,
                       item.sets if item.sets is not None else int(s.sets.min))


def all_max(s: Stretch, item: RoutineItem) -> RoutineItem:
    """Every number the routine leaves open at its maximum; pinned numbers as written."""
    # alternating repetitions come in even numbers: an odd maximum steps down to the even one below it
    reps = int(s.reps.max) - (int(s.reps.max) % 2 if s.alternating else 0) if s.reps else None
    return RoutineItem(s.id, item.hold if item.hold is not None else s.hold_seconds.max if s.hold_seconds else None,
                       item.reps if item.reps is not None else reps,
                       item.sets if item.sets is not None else int(s.sets.max))


def check_fit_error(error: FitError, case: Case, length: Callable[[str], float], target_s: float) -> None:
    message = error.format_message()
    assert "\n" not in message
    assert error.exit_code == 1
    assert any(w in message for w in ("as short as", "as long as", "cannot land")), message
    plain = ComposeOptions(None, case.options.breath_in, case.options.breath_out)
    if "as short as" in message:
        shortest = compose(with_items(case.routine, all_min), bundled(), plain, length).duration_s
        assert shortest > target_s, (shortest, target_s)
        assert "too long" in message
    elif "as long as" in message:
        longest = compose(with_items(case.routine, all_max), bundled(), plain, length).duration_s
        assert longest < target_s, (longest, target_s)
        assert "too short" in message


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("length_name", sorted(LENGTHS))
@PROPERTY_SETTINGS
@given(case=cases())
def test_composed_timeline_properties(length_name: str, case: Case) -> None:
    length = LENGTHS[length_name]
    try:
        tl = compose(case.routine, bundled(), case.options, length)
    except FitError as e:
        assert case.options.minutes is not None
        check_fit_error(e, case, length, case.options.minutes * 60)
        return
    check_timeline(tl, case, length, fitted=case.options.minutes is not None)
    if case.options.minutes is not None:
        assert abs(tl.duration_s - case.options.minutes * 60) <= 2


@pytest.mark.parametrize("length_name", sorted(LENGTHS))
@PROPERTY_SETTINGS
@given(case=cases(with_minutes=False), factor=st.floats(0.3, 3.0))
def test_minutes_are_met_or_refused_with_a_reason(length_name: str, case: Case, factor: float) -> None:
    length = LENGTHS[length_name]
    natural = compose(case.routine, bundled(), case.options, length).duration_s
    minutes = max(0.5, round(natural / 60 * factor, 2))
    options = ComposeOptions(minutes, case.options.breath_in, case.options.breath_out, strict=True)
    fitted_case = Case(case.routine, options)
    try:
        tl = compose(case.routine, bundled(), options, length)
    except FitError as e:
        check_fit_error(e, fitted_case, length, minutes * 60)
        return
    assert abs(tl.duration_s - minutes * 60) <= 2
    assert tl.meta["options"]["minutes"] == minutes
    check_timeline(tl, fitted_case, length, fitted=True)


def test_minutes_near_the_natural_length_are_met() -> None:
    """Asking for the length a routine has anyway never fails."""
    catalog = bundled()
    for routine in catalog.routines.values():
        plain = Routine(routine.id, routine.title, routine.description, None, routine.items)
        natural = compose(plain, catalog).duration_s
        tl = compose(plain, catalog, ComposeOptions(minutes=natural / 60))
        assert abs(tl.duration_s - natural) <= 2


@pytest.mark.parametrize("length_name", sorted(LENGTHS))
def test_bundled_routines_compose_to_their_own_minutes(length_name: str) -> None:
    catalog = bundled()
    length = LENGTHS[length_name]
    for routine in catalog.routines.values():
        tl = compose(routine, catalog, speech_length=length)
        case = Case(routine, ComposeOptions())
        check_timeline(tl, case, length, fitted=routine.minutes is not None)
        if routine.minutes is not None:
            assert abs(tl.duration_s - routine.minutes * 60) <= 2, routine.id


def test_minutes_option_overrides_the_routine_minutes() -> None:
    catalog = bundled()
    routine = catalog.routines["kneeling-back"]
    assert routine.minutes is not None
    longer = routine.minutes + 2
    tl = compose(routine, catalog, ComposeOptions(minutes=longer))
    assert abs(tl.duration_s - longer * 60) <= 2


def test_shortest_possible_request_says_how_much_too_long() -> None:
    catalog = bundled()
    routine = catalog.routines["lower-back-relief"]
    with pytest.raises(FitError) as info:
        compose(routine, catalog, ComposeOptions(minutes=1))
    message = info.value.format_message()
    m = re.search(r"the shortest it gets is (\d+):(\d\d), (\d+) s too long", message)
    assert m, message
    shortest = int(m[1]) * 60 + int(m[2])
    assert abs((shortest - 60) - int(m[3])) <= 1


def test_longest_possible_request_says_how_much_too_short() -> None:
    catalog = bundled()
    with pytest.raises(FitError) as info:
        compose(Routine("one", "One", "", None, (RoutineItem("cat-cow"),)), catalog, ComposeOptions(minutes=200))
    message = info.value.format_message()
    m = re.search(r"the longest it gets is (\d+):(\d\d), (\d+) s too short", message)
    assert m, message
    longest = int(m[1]) * 60 + int(m[2])
    assert abs((200 * 60 - longest) - int(m[3])) <= 1


def test_sided_hold_has_equal_sides_and_a_spoken_switch() -> None:
    catalog = bundled()
    routine = Routine("ff", "Figure four", "", None, (RoutineItem("figure-four", hold=40, sets=2),))
    tl = compose(routine, catalog, speech_length=fake_length)
    texts = [c.text for c in tl.speech()]
    assert texts.count("Switch to your left side.") == 2
    assert texts.count("Switch to your right side.") == 1
    # the second round says the side's first move again, not its whole setup
    assert texts.count("Cross your right ankle over your left knee.") == 2
    assert texts.count("Lift your left foot off the floor.") == 1
    assert sum(t in RELEASE_WORDS for t in texts) == 4
    check_timeline(tl, Case(routine, ComposeOptions()), fake_length, fitted=False)


def test_breath_pace_changes_flow_spacing() -> None:
    catalog = bundled()
    routine = Routine("cc", "Cat-Cow", "", None, (RoutineItem("cat-cow", reps=6, sets=1),))
    for pace in ((4.0, 6.0), (3.0, 5.0), (5.0, 8.0)):
        tl = compose(routine, catalog, ComposeOptions(None, *pace), fake_length)
        counts = [c for c in tl.cues if c.role == "count"]
        assert [c.text for c in counts] == ["One.", "Two.", "Three.", "Four.", "Five.", "Six."]
        gaps = [b.start_s - a.start_s for a, b in pairwise(counts)]
        # after the first repetitions the count keeps one place in the breath out: one breath apart
        assert gaps[2:] == pytest.approx([sum(pace)] * 3, abs=EPS)


def user_stretch(text: str, catalog: Catalog) -> tuple[Stretch, Catalog]:
    s = stretch_from_document(parse_document(text, "user.yaml"))
    return s, Catalog({**catalog.stretches, s.id: s}, dict(catalog.routines))


def test_hold_dose_stays_in_range_for_fine_grained_ranges() -> None:
    text = (VALID / "wall-lean.yaml").read_text(encoding="utf-8").replace(
        "hold_seconds: {default: 20, min: 10, max: 40}", "hold_seconds: {default: 12.25, min: 12.25, max: 20}")
    s, catalog = user_stretch(text, bundled())
    assert s.hold_seconds is not None and s.hold_seconds.min == 12.25
    tl = compose(Routine("w", "Wall", "", None, (RoutineItem(s.id),)), catalog)
    (dose,) = tl.meta["doses"]
    assert 12.25 <= dose["hold_s"] <= 20


def test_a_valid_stretch_never_speaks_a_placeholder() -> None:
    text = (VALID / "wall-lean.yaml").read_text(encoding="utf-8").replace(
        "Keep both hands on the wall if you feel unsteady.", "Keep your {other} hand on the wall.")
    s, catalog = user_stretch(text, bundled())  # validation accepts it
    tl = compose(Routine("w", "Wall", "", None, (RoutineItem(s.id),)), catalog)
    assert not [c.text for c in tl.speech() if "{" in str(c.text)]


REPS_STRETCH = """\
id: head-nod
name: Head Nod
position: seated
focus: [neck]
style: reps
sides: false
reps: {default: 6, min: 4, max: 10}
rep_seconds: 6
sets: {default: 1, min: 1, max: 2}
breath:
  inhale: Breathe in and lift your chin.
  exhale: Breathe out and lower your chin.
setup:
  - Sit tall on your chair.
"""


def test_a_length_reachable_inside_the_ranges_is_not_refused() -> None:
    s, catalog = user_stretch(REPS_STRETCH, bundled())
    assert s.reps is not None and s.sets.max == 2

    def natural(reps: int, sets: int) -> float:
        routine = Routine("n", "Nod", "", None, (RoutineItem(s.id, reps=reps, sets=sets),))
        return compose(routine, catalog, speech_length=fake_length).duration_s

    one_set_most = natural(int(s.reps.max), 1)
    two_sets_most = natural(int(s.reps.max), 2)
    # a length past what a longer closing rest (at most half a minute) adds to one set, and short of
    # the two sets fitting reaches by adding a set at the most repetitions
    candidates = [(natural(r, 2) + 5, r) for r in range(int(s.reps.min), int(s.reps.max) + 1)]
    between = [(t, r) for t, r in candidates if one_set_most + 30 + 2 < t < two_sets_most - 2]
    assert between
    target, reps = between[0]
    # proof that doses inside the ranges land on the target: start from two sets and let fitting finish
    start_at_two = Routine("n", "Nod", "", None, (RoutineItem(s.id, reps=reps, sets=2),))
    try:
        landed = compose(start_at_two, catalog, ComposeOptions(minutes=target / 60), fake_length)
    except FitError as e:  # not the bug under test: the premise itself is wrong
        pytest.fail(f"two sets cannot land on {target:.0f} s either: {e}")
    assert abs(landed.duration_s - target) <= 2
    (dose,) = landed.meta["doses"]
    assert s.reps.min <= dose["reps"] <= s.reps.max and dose["sets"] == 2
    # so the plain stretch, with its defaults, must land there too
    plain = Routine("n", "Nod", "", None, (RoutineItem(s.id),))
    tl = compose(plain, catalog, ComposeOptions(minutes=target / 60), fake_length)
    assert abs(tl.duration_s - target) <= 2


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"), (1, "one"), (7, "seven"), (13, "thirteen"), (19, "nineteen"), (20, "twenty"),
        (21, "twenty-one"), (45, "forty-five"), (90, "ninety"), (99, "ninety-nine"), (100, "one hundred"),
        (101, "one hundred and one"), (342, "three hundred and forty-two"), (999, "nine hundred and ninety-nine"),
    ],
)
def test_number_words(n: int, words: str) -> None:
    assert number_words(n) == words


def test_number_words_are_distinct() -> None:
    spelled = [number_words(n) for n in range(1000)]
    assert len(set(spelled)) == 1000
    assert all(re.fullmatch(r"[a-z -]+", w) for w in spelled)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("4-6", (4.0, 6.0)), (" 3.5 - 7 ", (3.5, 7.0)), ("1-1", (1.0, 1.0)), ("20-20", (20.0, 20.0)),
     ("10-2.25", (10.0, 2.25))],
)
def test_parse_breath_good(value: str, expected: tuple[float, float]) -> None:
    assert parse_breath(value) == expected


@pytest.mark.parametrize("value", ["4x6", "4", "", "-", "4-", "-6", "a-b", "4-6-8", "0-6", "4-0", "21-6", "4-25",
                                   "-4-6", "4 6"])
def test_parse_breath_bad(value: str) -> None:
    with pytest.raises(BadOptionError) as info:
        parse_breath(value)
    assert info.value.exit_code == 2
    assert "--breath" in info.value.format_message()


words = st.lists(st.from_regex(r"[a-z]{1,10}", fullmatch=True), min_size=1, max_size=30)


@given(words=words, extra=st.from_regex(r"[a-z]{1,10}", fullmatch=True))
def test_estimate_grows_with_words(words: list[str], extra: str) -> None:
    text = " ".join(words)
    longer = text + " " + extra
    assert estimate_speech_seconds(longer) > estimate_speech_seconds(text) > 0


def test_estimate_is_reasonable_speech() -> None:
    short = estimate_speech_seconds("One.")
    sentence = estimate_speech_seconds("Come onto your hands and knees, and stack your wrists under your shoulders.")
    assert 0 < short < 1.5
    assert 3 < sentence < 8  # 13 words at a calm pace
    # a sentence break adds a pause
    assert estimate_speech_seconds("Breathe in. Breathe out.") > estimate_speech_seconds("Breathe in breathe out")
