"""Sessions name their props before the first stretch, protect a joint before they load it, say a
condition note once, and move the body between the floor, the chair and standing as few times as
they can — with a knee-free way down and up when the knees are spared.

Every rule is checked on the composed script of every bundled routine at every level, under every
``--avoid`` tag, and on many ``make`` sessions.
"""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from tests.conftest import bundled
from voiceguide.catalog.shapes import DEFAULT_SHAPE, SHAPES
from voiceguide.catalog.types import CAUTION_TAGS, PROP_WORDS, Stretch
from voiceguide.catalog.yamlio import load_document
from voiceguide.session.adapt import SPARED
from voiceguide.session.compose import ComposeOptions, compose
from voiceguide.session.make import Request, make_routine
from voiceguide.session.safety import DECIDING_TAGS
from voiceguide.session.timeline import Cue, Timeline

CATALOG = bundled()
ROUTINES = sorted(CATALOG.routines)


def _sessions() -> list[tuple[str, tuple[str, ...], Timeline]]:
    out = []
    for rid in ROUTINES:
        for level in ("gentle", "standard", "deep"):
            out.append((f"{rid}/{level}", (), compose(CATALOG.routines[rid], CATALOG, ComposeOptions(level=level))))
        for tag in CAUTION_TAGS:
            try:
                tl = compose(CATALOG.routines[rid], CATALOG, ComposeOptions(avoid=(tag,)))
            except Exception as e:  # a routine with nothing left is refused with its own error
                assert "leaves nothing" in str(e)
                continue
            out.append((f"{rid}--avoid-{tag}", (tag,), tl))
    focuses = (("lower-back", "hips"), ("upper-back", "shoulders"), ("hamstrings", "calves"), ("glutes", "core"))
    for seed in range(8):
        for focus in focuses:
            avoid = ((), ("knees",), ("wrists",), ("pregnancy",))[seed % 4]
            level = ("gentle", "standard", "deep")[seed % 3]
            routine = make_routine(CATALOG, Request(focus, 8 + 2 * seed, level=level, avoid=avoid, seed=seed))
            tl = compose(routine, CATALOG, ComposeOptions(level=level, avoid=avoid))
            out.append((f"make-{'-'.join(focus)}-{seed}", avoid, tl))
    return out


SESSIONS = _sessions()
IDS = [name for name, _, _ in SESSIONS]


def _stretches(tl: Timeline) -> list[Stretch]:
    return [CATALOG.stretch(d["stretch"]) for d in tl.meta["doses"]]


def _shape_of(stretch: Stretch) -> str:
    return stretch.start or DEFAULT_SHAPE[stretch.position]


def _place(stretch: Stretch) -> str:
    level = SHAPES[_shape_of(stretch)].level
    return "floor" if level in ("lying", "floor") else level


def _opening(tl: Timeline) -> list[str]:
    first = next(c.start_s for c in tl.cues if c.chapter is not None)
    return [str(c.text) for c in tl.speech() if c.start_s < first]


def _chapter(tl: Timeline, index: int) -> list[Cue]:
    return [c for c in tl.cues if c.chapter == index and c.kind == "speech"]


def _names(text: str, prop: str) -> bool:
    return any(re.search(rf"\b{word}", text, re.IGNORECASE) for word in PROP_WORDS[prop])


@pytest.mark.parametrize(("name", "avoid", "tl"), SESSIONS, ids=IDS)
def test_every_prop_a_line_asks_for_is_named_before_the_first_stretch(
    name: str, avoid: tuple[str, ...], tl: Timeline
) -> None:
    opening = " ".join(_opening(tl))
    for cue in tl.speech():
        if cue.chapter is None and cue.role != "outro":
            continue
        for prop in PROP_WORDS:
            if _names(str(cue.text), prop):
                assert _names(opening, prop), (name, prop, cue.text)


@pytest.mark.parametrize(("name", "avoid", "tl"), SESSIONS, ids=IDS)
def test_an_option_that_protects_a_joint_comes_before_the_load(name: str, avoid: tuple[str, ...], tl: Timeline) -> None:
    for index, stretch in enumerate(_stretches(tl)):
        cues = _chapter(tl, index)
        texts = [c.text for c in cues]
        # the shape loads the joint as the body gets into it; the stretch's own load comes with the work
        into_shape = next(i for i, c in enumerate(cues) if i > 0 and c.role in ("setup", "transition"))
        work = next((i for i, c in enumerate(cues) if c.role in ("breath", "count")), len(cues))
        for caution in stretch.cautions:
            if caution.say not in texts or caution.tag in DECIDING_TAGS:
                continue
            at = texts.index(caution.say)
            if caution.tag in SHAPES[_shape_of(stretch)].loads:
                assert at < into_shape, (name, stretch.id, caution.say)
            elif caution.tag in stretch.loads:
                assert at < work, (name, stretch.id, caution.say)


def test_a_protective_option_is_set_up_on_every_side_not_left_to_a_cue() -> None:
    for stretch in CATALOG.stretches.values():
        for cue in stretch.cues:
            assert not re.search(r"\b(protect|spare)", cue), (stretch.id, cue)
    figure_four = compose(CATALOG.routines["lower-back-relief"], CATALOG)
    said = [c.text for c in figure_four.speech()]
    for side in ("right", "left"):
        assert f"Flex your {side} foot to protect the knee." in said


@pytest.mark.parametrize(("name", "avoid", "tl"), SESSIONS, ids=IDS)
def test_a_condition_note_is_said_once_where_it_first_matters(name: str, avoid: tuple[str, ...], tl: Timeline) -> None:
    said: dict[tuple[str, str], int] = {}
    seen: set[tuple[str, str]] = set()
    for index, stretch in enumerate(_stretches(tl)):
        texts = [c.text for c in _chapter(tl, index)]
        place = _shape_of(stretch).replace("back-legs-long", "back-knees-bent")
        for caution in stretch.cautions:
            if caution.tag not in DECIDING_TAGS:
                continue
            key = (caution.tag, place)
            count = texts.count(caution.say)
            said[key] = said.get(key, 0) + count
            if key not in seen:  # the first stretch in this place with this condition says it
                assert count == 1 or any(
                    c.say == caution.say for s in _stretches(tl)[:index] for c in s.cautions
                ), (name, stretch.id, caution.say)
            seen.add(key)
    assert all(n <= 1 for n in said.values()), (name, said)


def test_no_condition_note_only_says_skip() -> None:
    for stretch in CATALOG.stretches.values():
        for caution in stretch.cautions:
            assert "skip" not in caution.say.lower(), (stretch.id, caution.say)


@pytest.mark.parametrize(("name", "avoid", "tl"), SESSIONS, ids=IDS)
def test_never_three_if_lines_in_a_row(name: str, avoid: tuple[str, ...], tl: Timeline) -> None:
    lines = [str(c.text) for c in tl.speech()]
    for a, b, c in zip(lines, lines[1:], lines[2:]):
        assert not all(x.startswith("If you") for x in (a, b, c)), (name, a, b, c)


@pytest.mark.parametrize(("name", "avoid", "tl"), SESSIONS, ids=IDS)
def test_the_body_changes_place_as_few_times_as_the_session_allows(
    name: str, avoid: tuple[str, ...], tl: Timeline
) -> None:
    stretches = _stretches(tl)
    places = [_place(s) for s in stretches]
    changes = sum(a != b for a, b in pairwise(places))
    assert changes == len(set(places)) - 1, (name, places)
    for index, (before, after) in enumerate(pairwise(stretches), start=1):
        if _place(before) != _place(after):  # every change of place is said, step by step
            moves = [c.text for c in _chapter(tl, index) if c.role == "transition"]
            assert moves, (name, after.id)


@pytest.mark.parametrize(
    ("name", "avoid", "tl"), [s for s in SESSIONS if "knees" in s[1]], ids=[n for n, a, _ in SESSIONS if "knees" in a]
)
def test_sparing_the_knees_goes_down_and_up_by_the_chair(name: str, avoid: tuple[str, ...], tl: Timeline) -> None:
    said = [str(c.text) for c in tl.speech() if tl.title not in str(c.text) and c.text not in SPARED.values()]
    kneels = re.compile(r"\bkneel|hands and knees|hands around your \w+ shin|knee down", re.IGNORECASE)
    assert not [t for t in said if kneels.search(t)], name
    stretches = _stretches(tl)
    previous = None
    for index, stretch in enumerate(stretches):
        moves = " ".join(str(c.text) for c in _chapter(tl, index) if c.role == "transition")
        if _place(stretch) == "floor" and previous != "floor":
            assert "hands on the seat" in moves and "sit on the mat" in moves, (name, stretch.id, moves)
        if _place(stretch) != "floor" and previous == "floor":
            assert "lift your hips onto the seat" in moves, (name, stretch.id, moves)
        previous = _place(stretch)
    outro = " ".join(str(c.text) for c in tl.speech() if c.role == "outro")
    assert ("lift your hips onto the seat" in outro) == (previous == "floor"), name
    if previous == "floor" or "floor" in {_place(s) for s in stretches}:
        assert "chair" in " ".join(_opening(tl)), name


def test_morning_mobility_sparing_the_knees_says_so_and_stays_on_the_floor_until_it_gets_up() -> None:
    routine = CATALOG.routines["morning-mobility"]
    tl = compose(routine, CATALOG, ComposeOptions(avoid=("knees",)))
    opening = _opening(tl)
    assert SPARED["knees"] in opening
    assert not any("swap" in line or "Cat-Cow" in line for line in opening)
    assert [_place(s) for s in _stretches(tl)] == ["floor", "floor", "floor", "chair", "chair"]
    assert "Hold behind your right thigh with both hands." in [c.text for c in tl.speech()]


@pytest.mark.parametrize(("name", "avoid", "tl"), SESSIONS, ids=IDS)
def test_resting_poses_are_not_counted_halfway(name: str, avoid: tuple[str, ...], tl: Timeline) -> None:
    halfway = set(CATALOG.phrases["halfway"])
    for index, stretch in enumerate(_stretches(tl)):
        if stretch.resting:
            assert not halfway & {c.text for c in _chapter(tl, index)}, (name, stretch.id)


@pytest.mark.parametrize(("name", "avoid", "tl"), SESSIONS, ids=IDS)
def test_an_instruction_does_not_repeat_the_breath_line_before_it(
    name: str, avoid: tuple[str, ...], tl: Timeline
) -> None:
    def runs(text: str) -> set[tuple[str, ...]]:
        words = re.findall(r"[a-z']+", text.lower())
        return set(zip(words, words[1:], words[2:], words[3:]))

    lines = tl.speech()
    for before, line in pairwise(lines):
        if line.role == "instruction" and before.role == "breath":
            assert not runs(str(before.text)) & runs(str(line.text)), (name, before.text, line.text)


def test_a_side_is_named_by_the_side_that_stretches() -> None:
    tl = compose(CATALOG.routines["desk-break"], CATALOG)
    said = [str(c.text) for c in tl.speech()]
    start = said.index("Start with your right side.")
    assert "Reach your right arm up toward the ceiling." in said[start:start + 4]
    assert any("bend gently to the left" in t for t in said[start:])


def test_the_closing_rest_after_childs_pose_does_not_sit_back_into_it() -> None:
    tl = compose(CATALOG.routines["kneeling-back"], CATALOG)
    outro = [str(c.text) for c in tl.speech() if c.role == "outro"]
    assert not any("heels" in line for line in outro), outro


def test_bundled_stretches_declare_the_props_their_lines_name() -> None:
    for path in sorted((CATALOG.root or bundled().root).glob("stretches/*.yaml")):  # type: ignore[union-attr]
        data = load_document(path).data
        stretch = CATALOG.stretch(path.stem)
        lines = [*stretch.setup, *stretch.side_setup, *stretch.cues, *(c.say for c in stretch.cautions)]
        if stretch.props:
            assert "props" in data, (path.name, "declare props instead of leaving them to the words")
        for prop in PROP_WORDS:
            if prop == "chair" and _shape_of(stretch) == "chair":
                continue
            assert any(_names(line, prop) for line in lines) == (prop in stretch.props), (path.name, prop)


def test_every_line_that_moves_the_body_between_shapes_has_a_kind_of_move() -> None:
    from voiceguide.catalog.shapes import MOVE_KINDS, MOVES, farewell, move_kind, transition

    lines: set[str] = set()
    for after in SHAPES.values():
        lines.update(after.arrive)
        for spare in (False, True):
            lines.update(transition(None, after, spare)[0])
            lines.update(farewell(after, spare)[:-1])
            for before in SHAPES.values():
                lines.update(transition(before, after, spare)[0])
                assert move_kind(before, after) in MOVE_KINDS
    missing = sorted(line for line in lines if line not in MOVES and not line.startswith("When you are ready"))
    assert not missing
    assert set(MOVES.values()) <= set(MOVE_KINDS)
    assert move_kind(SHAPES["chair"], SHAPES["back-knees-bent"]) == "down to the floor"
    assert move_kind(SHAPES["front"], SHAPES["standing"]) == "up from the floor"
