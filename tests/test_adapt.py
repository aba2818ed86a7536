"""Sessions shaped to the person: --avoid, make, breath-counted holds, levels, the opening."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import bundled, fake_length
from voiceguide.catalog.load import check_files, resolve_routine
from voiceguide.catalog.types import CAUTION_TAGS, FLOOR_POSITIONS, Catalog
from voiceguide.cli import main
from voiceguide.errors import BadOptionError, FitError
from voiceguide.session.adapt import avoid_cautions, parse_tags, spared_lines
from voiceguide.session.compose import ComposeOptions, compose
from voiceguide.session.make import NoStretchesError, Request, make_routine, parse_focus, routine_yaml
from voiceguide.session.timeline import Timeline

ROUTINES = sorted(bundled().routines)


@pytest.mark.parametrize("tag", CAUTION_TAGS)
@pytest.mark.parametrize("routine_id", ROUTINES)
def test_avoid_keeps_out_the_caution_and_keeps_the_focus(catalog: Catalog, routine_id: str, tag: str) -> None:
    routine = catalog.routines[routine_id]
    adapted, changes = avoid_cautions(routine, catalog, [tag])
    for item in adapted.items:
        assert tag not in catalog.stretch(item.stretch).avoid_tags
    for change in changes:
        assert tag in change.original.avoid_tags
        if change.replacement is not None:
            assert set(change.replacement.focus) & set(change.original.focus)
            assert tag not in change.replacement.avoid_tags
    untouched = [i.stretch for i in routine.items if tag not in catalog.stretch(i.stretch).avoid_tags]
    assert all(any(i.stretch == s for i in adapted.items) for s in untouched)
    # the session still fits its minutes, and says plainly what it spares, not which stretch became which
    timeline = compose(routine, catalog, ComposeOptions(avoid=(tag,)))
    assert abs(timeline.duration_s - (routine.minutes or 0) * 60) <= 2
    spoken = " ".join(c.text or "" for c in timeline.speech() if c.role == "safety")
    assert all(line in spoken for line in spared_lines([tag])) == bool(changes)
    for change in changes:
        assert change.original.name not in spoken
    assert all(tag not in catalog.stretch(d["stretch"]).avoid_tags for d in timeline.meta["doses"])


def test_knees_swap_kneeling_stretches_for_ones_that_spare_them(catalog: Catalog) -> None:
    _, changes = avoid_cautions(catalog.routines["kneeling-back"], catalog, ["knees"])
    swaps = {c.original.id: c.replacement.id if c.replacement else None for c in changes}
    assert swaps["childs-pose"] == "knee-to-chest"
    assert catalog.stretch(swaps["kneeling-thoracic-rotation"] or "").position in ("side-lying", "seated")


def test_avoid_on_a_desk_routine_stays_off_the_floor(catalog: Catalog) -> None:
    adapted, _ = avoid_cautions(catalog.routines["desk-break"], catalog, ["shoulders", "neck"])
    assert all(catalog.stretch(i.stretch).position not in FLOOR_POSITIONS for i in adapted.items)


@pytest.mark.parametrize("bad", ["knee", "elbows", "knees,teeth"])
def test_unknown_caution_lists_the_known_ones(bad: str) -> None:
    with pytest.raises(BadOptionError, match="known: knees, wrists"):
        parse_tags(bad)


def hold_spans(timeline: Timeline) -> list[tuple[float, float]]:
    starts = [c.end_s for c in timeline.cues if c.kind == "tone" and c.role == "hold-start"]
    ends = [c.start_s for c in timeline.cues if c.kind == "tone" and c.role == "hold-end"]
    return list(zip(starts, ends))


@pytest.mark.parametrize("spec", ["childs-pose", "figure-four", "evening-wind-down"])
@pytest.mark.parametrize("breath", [(4.0, 6.0), (3.0, 3.0)])
def test_breath_counted_holds_have_the_right_number_of_breaths(
    catalog: Catalog, spec: str, breath: tuple[float, float]
) -> None:
    options = ComposeOptions(None, *breath, hold_by="breaths")
    timeline = compose(resolve_routine(spec, catalog), catalog, options, fake_length)
    doses = [d for d in timeline.meta["doses"] if catalog.stretch(d["stretch"]).style == "hold"]
    spans = hold_spans(timeline)
    assert len(spans) == sum(d["sets"] * d["sides"] for d in doses)
    expected = [d["breaths"] for d in doses for _ in range(d["sets"] * d["sides"])]
    for (start, end), breaths in zip(spans, expected):
        inside = [c for c in timeline.cues if start <= c.start_s < end]
        inhales = [c for c in inside if c.kind == "silence" and c.role == "inhale"]
        exhales = [c for c in inside if c.kind == "silence" and c.role == "exhale"]
        assert len(inhales) == len(exhales) == breaths
        assert end - start == pytest.approx(breaths * sum(breath), abs=0.01)
        # the first breaths are guided aloud, then the voice mostly leaves the silence alone
        words = [c.text for c in inside if c.kind == "speech"]
        assert str(words[0]).startswith("Breathe in") and str(words[1]).startswith("Breathe out")
        assert len(words) <= 4 + breaths // 3 + 1


def test_levels_shift_holds_and_guidance(catalog: Catalog) -> None:
    routine = resolve_routine("childs-pose,figure-four", catalog)
    by_level = {
        lv: compose(routine, catalog, ComposeOptions(level=lv), fake_length) for lv in ("gentle", "standard", "deep")
    }
    holds = {lv: [d["hold_s"] for d in tl.meta["doses"]] for lv, tl in by_level.items()}
    assert all(g <= s <= d for g, s, d in zip(holds["gentle"], holds["standard"], holds["deep"]))
    assert sum(holds["gentle"]) < sum(holds["standard"]) < sum(holds["deep"])

    def words_per_hold_minute(tl: Timeline) -> float:
        spans = hold_spans(tl)
        spoken = sum(len((c.text or "").split()) for c in tl.speech() for a, b in spans if a <= c.start_s < b)
        return spoken / (sum(b - a for a, b in spans) / 60)

    assert words_per_hold_minute(by_level["gentle"]) > words_per_hold_minute(by_level["deep"])


def test_intro_options(catalog: Catalog) -> None:
    routine = catalog.routines["kneeling-back"]
    custom = compose(routine, catalog, ComposeOptions(intro="Good morning, let us begin gently."), fake_length)
    assert custom.speech()[0].text == "Good morning, let us begin gently."
    bare = compose(routine, catalog, ComposeOptions(no_intro=True), fake_length)
    # no welcome, but the props are still named before the first stretch
    opening = [c.text for c in bare.speech()[:2]]
    assert opening[0] == "Have a folded blanket and a cushion nearby."
    assert opening[1] == "Move slowly, and ease off at once if you feel any sharp or shooting pain."
    for tl in (custom, bare):
        assert abs(tl.duration_s - 8 * 60) <= 2  # the time still fits


# --------------------------------------------------------------------------- make


@pytest.mark.parametrize(
    ("focus", "minutes", "position", "avoid", "seed"),
    [
        ("lower-back", 10, "any", "", 1),
        ("lower-back,hips", 15, "floor", "knees", 2),
        ("neck,shoulders", 8, "seated", "", 3),
        ("hamstrings,calves", 12, "any", "balance", 4),
        ("shoulders", 6, "standing", "", 7),
        ("upper-back,core", 20, "any", "wrists", 5),
        ("glutes", 30, "any", "", 6),
    ],
)
def test_make_hits_the_minutes_and_round_trips(
    tmp_path: Path, catalog: Catalog, focus: str, minutes: float, position: str, avoid: str, seed: int
) -> None:
    request = Request(parse_focus(focus), minutes, position, "standard", parse_tags(avoid), seed)
    routine = make_routine(catalog, request)
    path = tmp_path / "mine.yaml"
    path.write_text(routine_yaml(routine, request))
    assert check_files([path], catalog) == []
    again = resolve_routine(str(path), catalog)
    assert [i.stretch for i in again.items] == [i.stretch for i in routine.items]
    timeline = compose(again, catalog, ComposeOptions(minutes=minutes))
    assert abs(timeline.duration_s - minutes * 60) <= 2
    stretches = [catalog.stretch(i.stretch) for i in routine.items]
    assert all(set(s.focus) & set(request.focus) for s in stretches)
    assert all(not set(s.avoid_tags) & set(request.avoid) for s in stretches)
    if position == "floor":
        assert all(s.position in FLOOR_POSITIONS for s in stretches)
    elif position != "any":
        assert all(s.position == position for s in stretches)
    # one trip down: positions never go back up
    order = ["standing", "seated", "seated-floor", "kneeling", "lunge", "prone", "side-lying", "supine"]
    ranks = [order.index(s.position) for s in stretches]
    assert ranks == sorted(ranks)
    assert stretches[-1].style in ("hold", "reps", "flow")


def test_make_is_repeatable_by_seed_and_varies_without(catalog: Catalog) -> None:
    def ids(seed: int) -> list[str]:
        return [i.stretch for i in make_routine(catalog, Request(("lower-back",), 15, seed=seed)).items]

    assert ids(11) == ids(11)
    assert len({tuple(ids(s)) for s in range(6)}) > 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["make", "--focus", "backside", "--minutes", "10"], 2, "unknown area 'backside'"),
        (["make", "--focus", "neck", "--minutes", "10", "--avoid", "kneez"], 2, "did you mean 'knees'"),
        (["make", "--focus", "neck", "--minutes", "10", "--position", "floor"], 1, "no stretch in the catalog fits"),
        (
            ["make", "--focus", "neck", "--minutes", "10", "--avoid", "neck,shoulders"],
            1,
            "no stretch in the catalog fits",
        ),
        (["make", "--focus", "calves", "--minutes", "200"], 1, "cannot make a 200-minute session"),
        (["script", "kneeling-back", "--avoid", "elbows"], 2, "unknown caution 'elbows'"),
    ],
)
def test_make_and_avoid_bad_input(args: list[str], code: int, message: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_make_writes_a_file_and_script_says_what_it_spares(tmp_path: Path) -> None:
    out = tmp_path / "r.yaml"
    result = CliRunner().invoke(
        main, ["make", "--focus", "lower-back", "--minutes", "10", "--seed", "3", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.exists() and "stretches:" in out.read_text()
    script = CliRunner().invoke(main, ["script", "kneeling-back", "--avoid", "knees"])
    assert script.exit_code == 0
    assert "Nothing today kneels or puts weight through your knees." in script.output
    assert "we swap" not in script.output


def test_errors_in_make_are_named(catalog: Catalog) -> None:
    with pytest.raises(NoStretchesError):
        make_routine(catalog, Request(("neck",), 10, position="floor"))
    with pytest.raises(FitError):
        make_routine(catalog, Request(("calves",), 200))


def test_a_made_routine_that_avoids_knees_says_so_though_nothing_was_swapped(catalog: Catalog) -> None:
    """``make --avoid knees`` picks knee-free stretches, so nothing is swapped when it is spoken;
    the opening still tells the person that nothing kneels (the routine says it avoids them)."""
    from voiceguide.session.make import Request, make_routine

    routine = make_routine(catalog, Request(("lower-back",), 10, avoid=("knees",), seed=3))
    assert routine.avoid == ("knees",)
    assert avoid_cautions(routine, catalog, ["knees"])[1] == []
    timeline = compose(routine, catalog, ComposeOptions())
    spoken = [c.text for c in timeline.speech() if c.role == "safety"]
    assert "Nothing today kneels or puts weight through your knees." in spoken
