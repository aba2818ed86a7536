"""The bundled catalog loads and is complete; bad catalog files are reported with file, line and field."""

from __future__ import annotations

import re
import shutil
import string
import time
from pathlib import Path

import pytest
import yaml

from voiceguide.catalog.load import check_files, load_catalog, resolve_routine
from voiceguide.catalog.types import CAUTION_TAGS, FOCUS_AREAS, POSITIONS, STYLES, Catalog, Routine, Stretch
from voiceguide.catalog.yamlio import parse_document
from voiceguide.errors import CatalogError, Problem, UnknownIdError

from .conftest import CATALOG_DIR, INVALID, VALID, error_lines

KEBAB_CHARS = set(string.ascii_lowercase + string.digits + "-")


def stretch_files() -> list[Path]:
    return sorted((CATALOG_DIR / "stretches").glob("*.yaml"))


def routine_files() -> list[Path]:
    return sorted((CATALOG_DIR / "routines").glob("*.yaml"))


def spoken_fields(s: Stretch) -> dict[str, str]:
    """Where {side}/{other} may appear (setup, cues, breath, release), by field name."""
    out = {"breath.inhale": s.breath_in, "breath.exhale": s.breath_out}
    out.update({f"setup[{i}]": line for i, line in enumerate(s.setup)})
    out.update({f"side_setup[{i}]": line for i, line in enumerate(s.side_setup)})
    out.update({f"cues[{i}]": line for i, line in enumerate(s.cues)})
    for key, line in (("breath.inhale_short", s.breath_in_short), ("breath.exhale_short", s.breath_out_short)):
        if line:
            out[key] = line
    if s.release:
        out["release"] = s.release
    return out


SIDE_WORDS = re.compile(r"\b(right|left)\b", re.IGNORECASE)


@pytest.mark.parametrize("path", stretch_files(), ids=lambda p: p.stem)
def test_every_side_line_names_a_side_and_mirrors_cleanly(path: Path, catalog: Catalog) -> None:
    """Side lines are written once with {side}/{other} and mirrored by rule, never with a literal side."""
    s = catalog.stretches[path.stem]
    for line in s.side_setup:
        assert placeholders(line) & {"side", "other"}, f"{s.id}: {line!r} does not name a side"
    for name, text in spoken_fields(s).items():
        assert not SIDE_WORDS.search(text), f"{s.id} {name}: a literal side in {text!r}; use {{side}}/{{other}}"
        right, left = text.format(side="right", other="left"), text.format(side="left", other="right")
        if placeholders(text) & {"side", "other"}:
            assert right != left
            assert SIDE_WORDS.sub(lambda m: {"right": "left", "left": "right"}[m[1]], right) == left


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


# --------------------------------------------------------------------------- the bundled catalog


def test_bundled_catalog_has_stretches_and_routines(catalog: Catalog) -> None:
    assert {p.stem for p in stretch_files()} == set(catalog.stretches)
    assert {p.stem for p in routine_files()} == set(catalog.routines)
    assert catalog.stretches, "the catalog has no stretches"
    assert catalog.routines, "the catalog has no routines"


@pytest.mark.parametrize("path", stretch_files(), ids=lambda p: p.stem)
def test_every_stretch_has_the_fields_the_spec_needs(path: Path, catalog: Catalog) -> None:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    s = catalog.stretches[path.stem]
    assert s.id == raw["id"] == path.stem
    assert set(s.id) <= KEBAB_CHARS and not s.id.startswith("-") and "--" not in s.id
    assert s.name.strip()
    assert s.position in POSITIONS
    assert s.focus and set(s.focus) <= set(FOCUS_AREAS)
    assert len(set(s.focus)) == len(s.focus), "a focus area is listed twice"
    assert s.style in STYLES
    assert isinstance(s.sides, bool)
    assert s.breath_in.strip() and s.breath_out.strip()
    assert (s.setup or s.start) and all(line.strip() for line in s.setup)
    assert s.start is not None, "every bundled stretch names the shape it starts from"
    if s.sides:
        assert s.side_setup, "a sided stretch sets each side up on its own"
    assert all(line.strip() for line in s.cues)
    assert 0 <= s.settle_seconds <= 60
    for rng in (s.hold_seconds, s.reps, s.sets):
        if rng is not None:
            assert rng.min <= rng.default <= rng.max
            assert rng.min > 0
    for rng in (s.reps, s.sets):
        if rng is not None:
            assert all(float(v).is_integer() for v in (rng.min, rng.default, rng.max))
    if s.style == "hold":
        assert s.hold_seconds is not None and s.reps is None
    elif s.style == "reps":
        assert s.reps is not None and s.rep_seconds is not None and s.rep_seconds > 0
    else:
        assert s.reps is not None and s.hold_seconds is None
    for caution in s.cautions:
        assert caution.tag in CAUTION_TAGS
        assert caution.say.strip()


@pytest.mark.parametrize("path", stretch_files(), ids=lambda p: p.stem)
def test_side_placeholders_only_in_sided_stretches(path: Path, catalog: Catalog) -> None:
    s = catalog.stretches[path.stem]
    for name, text in spoken_fields(s).items():
        found = placeholders(text)
        if s.sides:
            assert found <= {"side", "other"}, f"{s.id} {name}: {text!r}"
            spoken = text.format(side="right", other="left")
            assert "{" not in spoken and "}" not in spoken
        elif s.alternating and name.startswith("breath"):
            assert found <= {"side"}, f"{s.id} {name}: {text!r}"
        else:
            assert not found and "{" not in text and "}" not in text, f"{s.id} {name}: {text!r}"
    for caution in s.cautions:  # spoken as written in the safety note, never per side
        assert "{" not in caution.say and "}" not in caution.say, f"{s.id} caution: {caution.say!r}"


@pytest.mark.parametrize("path", routine_files(), ids=lambda p: p.stem)
def test_every_routine_resolves(path: Path, catalog: Catalog) -> None:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    routine = resolve_routine(path.stem, catalog)
    assert routine.id == raw["id"] == path.stem
    assert routine.title.strip()
    assert [i.stretch for i in routine.items] == [e if isinstance(e, str) else e["id"] for e in raw["stretches"]]
    for item in routine.items:
        stretch = catalog.stretch(item.stretch)
        for value, rng in ((item.hold, stretch.hold_seconds), (item.reps, stretch.reps), (item.sets, stretch.sets)):
            if value is not None:
                assert rng is not None and rng.min <= value <= rng.max


# --------------------------------------------------------------------------- resolve_routine


def test_resolve_routine_id_returns_the_catalog_routine(catalog: Catalog) -> None:
    for routine_id, routine in catalog.routines.items():
        assert resolve_routine(routine_id, catalog) is routine


def test_resolve_stretch_id_is_a_one_stretch_session(catalog: Catalog) -> None:
    routine = resolve_routine("cat-cow", catalog)
    assert isinstance(routine, Routine)
    assert [i.stretch for i in routine.items] == ["cat-cow"]
    assert routine.items[0].hold is None and routine.items[0].reps is None and routine.items[0].sets is None
    assert routine.title == catalog.stretch("cat-cow").name
    assert routine.minutes is None


def test_resolve_comma_list_keeps_order_and_ignores_spaces(catalog: Catalog) -> None:
    routine = resolve_routine("childs-pose, cat-cow ,figure-four", catalog)
    assert [i.stretch for i in routine.items] == ["childs-pose", "cat-cow", "figure-four"]
    for name in ("Child's Pose", "Cat-Cow"):
        assert name in routine.title


def test_resolve_long_comma_list_has_a_short_id(catalog: Catalog) -> None:
    ids = sorted(catalog.stretches)[:5]
    routine = resolve_routine(",".join(ids), catalog)
    assert [i.stretch for i in routine.items] == ids
    assert len(routine.id) < len("-".join(ids))


def test_resolve_yaml_path(catalog: Catalog) -> None:
    path = VALID / "short-routine.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    routine = resolve_routine(str(path), catalog)
    assert routine.id == raw["id"]
    assert routine.title == raw["title"]
    assert routine.minutes is None
    got = [(i.stretch, i.hold, i.reps, i.sets) for i in routine.items]
    want = [(e["id"], e.get("hold"), e.get("reps"), e.get("sets")) for e in raw["stretches"]]
    assert got == want


def test_resolve_yml_path_in_a_folder(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "mine.yml"
    path.write_text("id: mine\ntitle: Mine\nstretches: [childs-pose]\n", encoding="utf-8")
    assert [i.stretch for i in resolve_routine(str(path), catalog).items] == ["childs-pose"]


def test_resolve_missing_yaml_path(tmp_path: Path, catalog: Catalog) -> None:
    with pytest.raises(UnknownIdError, match="no such routine file"):
        resolve_routine(str(tmp_path / "nope.yaml"), catalog)


def test_resolve_invalid_yaml_path_reports_file_line_field(catalog: Catalog) -> None:
    path = INVALID / "routine-unknown-stretch.yaml"
    with pytest.raises(CatalogError) as info:
        resolve_routine(str(path), catalog)
    (line,) = error_lines(path)
    assert f"{path}:{line}: stretches[1]: " in str(info.value)


@pytest.mark.parametrize(
    ("spec", "suggestion"),
    [
        ("cat-cwo", "did you mean cat-cow"),
        ("kneeling-bak", "kneeling-back"),
        ("cat-cow,chlds-pose", "did you mean childs-pose"),
    ],
)
def test_unknown_id_suggests_the_closest(spec: str, suggestion: str, catalog: Catalog) -> None:
    wrong = spec.split(",")[-1]
    with pytest.raises(UnknownIdError) as info:
        resolve_routine(spec, catalog)
    message = info.value.format_message()
    assert f"'{wrong}'" in message
    assert suggestion in message
    assert info.value.exit_code == 1


def test_unknown_id_with_nothing_close_gives_no_suggestion(catalog: Catalog) -> None:
    with pytest.raises(UnknownIdError) as info:
        resolve_routine("zzzzzzzzzzzz", catalog)
    assert "did you mean" not in info.value.format_message()


@pytest.mark.parametrize("spec", ["", ",", " , "])
def test_empty_routine_spec(spec: str, catalog: Catalog) -> None:
    with pytest.raises(UnknownIdError):
        resolve_routine(spec, catalog)


# --------------------------------------------------------------------------- validation

# fixture -> (field named in the problem, or None for file-level problems; fragments of the message)
INVALID_CASES: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "unknown-key.yaml": ("hold_secs", ("unknown key 'hold_secs'", "did you mean 'hold_seconds'")),
    "missing-required.yaml": (None, ("missing", "'setup'")),
    "bad-range-order.yaml": ("hold_seconds", ("min <= default <= max",)),
    "wrong-type.yaml": ("sides", ("true or false",)),
    "unknown-position.yaml": ("position", ("'supin'", "'supine'")),
    "unknown-caution-tag.yaml": ("cautions[0].tag", ("'knee'", "'knees'")),
    "hold-style-without-hold.yaml": ("style", ("hold_seconds",)),
    "placeholder-in-unsided.yaml": ("setup[1]", ("{side}", "sides: true")),
    "bad-placeholder.yaml": ("setup[1]", ("{knee}",)),
    "alias-bomb.yaml": (None, ("anchors and aliases",)),
    "deep-nesting.yaml": (None, ("nested more than",)),
    "not-yaml.yaml": (None, ("invalid YAML",)),
    "duplicate-key.yaml": (None, ("'name'", "twice")),
    "routine-unknown-stretch.yaml": ("stretches[1]", ("'cat-cwo'", "did you mean cat-cow")),
    "routine-override-out-of-range.yaml": ("stretches[1].hold", ("599", "outside")),
    "side-line-without-side.yaml": ("side_setup[1]", ("names its side",)),
    "alternating-without-side.yaml": ("breath.exhale", ("{side}",)),
    "unknown-start-shape.yaml": ("start", ("'all-fours'", "hands-and-knees")),
    "prop-not-declared.yaml": ("setup[0]", ("names a towel", "add 'towel' to props")),
    "prop-never-used.yaml": ("props[0]", ("'strap'", "no line asks for it")),
    "unknown-prop.yaml": ("props[1]", ("unknown value 'ball'",)),
}


def test_a_catalog_with_bad_phrases_reports_file_line_and_field(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "cat"
    shutil.copytree(CATALOG_DIR, root)
    text = (root / "phrases.yaml").read_text(encoding="utf-8")
    (root / "phrases.yaml").write_text(text.replace("  - Next, {name}.", "  - Next, {stretch}."), encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(root)
    (problem,) = caught.value.problems
    assert problem.file.endswith("phrases.yaml") and problem.field == "next[0]"
    assert problem.line == text.splitlines().index("  - Next, {name}.") + 1
    (root / "phrases.yaml").write_text("breathe_in: [Breathe in.]\n", encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(root)
    assert any("missing required key 'hold'" in p.message for p in caught.value.problems)


def test_every_invalid_fixture_is_in_the_table() -> None:
    on_disk = {p.name for p in INVALID.glob("*.yaml")}
    assert on_disk == set(INVALID_CASES) | {"empty.yaml", "several-problems.yaml"}


@pytest.mark.parametrize("name", sorted(INVALID_CASES))
def test_invalid_fixture_is_reported_with_file_line_and_field(name: str, catalog: Catalog) -> None:
    path = INVALID / name
    field, fragments = INVALID_CASES[name]
    (line,) = error_lines(path)
    problems = check_files([path], catalog)
    assert len(problems) == 1, problems
    (problem,) = problems
    assert problem.file == str(path)
    assert problem.line == line
    assert problem.field == field
    text = str(problem)
    prefix = f"{path}:{line}: {field}: " if field else f"{path}:{line}: "
    assert text.startswith(prefix), text
    for fragment in fragments:
        assert fragment in problem.message
    if field is None:  # a file-level problem still names what is wrong
        assert problem.message.strip()


def test_override_out_of_range_names_the_range(catalog: Catalog) -> None:
    (problem,) = check_files([INVALID / "routine-override-out-of-range.yaml"], catalog)
    hold = catalog.stretch("childs-pose").hold_seconds
    assert hold is not None
    assert f"{hold.min:g}-{hold.max:g}" in problem.message
    assert "childs-pose" in problem.message


def test_alias_bomb_is_rejected_fast(catalog: Catalog) -> None:
    path = INVALID / "alias-bomb.yaml"
    start = time.perf_counter()
    with pytest.raises(CatalogError):
        parse_document(path.read_text(encoding="utf-8"), path.name)
    problems = check_files([path], catalog)
    assert time.perf_counter() - start < 1.0
    assert problems and "alias" in problems[0].message


def test_single_anchor_is_rejected_even_without_an_alias() -> None:
    with pytest.raises(CatalogError, match="anchors and aliases"):
        parse_document("id: &x knees-hug\nname: Knees Hug\n", "anchor.yaml")


def test_nesting_at_the_limit_is_allowed_and_one_more_is_not() -> None:
    from voiceguide.catalog.yamlio import MAX_DEPTH

    def nested(depth: int) -> str:  # the top-level mapping is one level
        return "cues: " + "[" * (depth - 1) + "x" + "]" * (depth - 1) + "\n"

    doc = parse_document(nested(MAX_DEPTH), "ok.yaml")
    assert doc.data["cues"]
    with pytest.raises(CatalogError, match="nested more than"):
        parse_document(nested(MAX_DEPTH + 1), "deep.yaml")


def test_empty_file_is_reported(catalog: Catalog) -> None:
    path = INVALID / "empty.yaml"
    problems = check_files([path], catalog)
    assert len(problems) == 1
    assert problems[0].file == str(path)
    assert str(problems[0]).startswith(f"{path}: ")
    assert "mapping" in problems[0].message


def test_not_utf8_is_reported(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "not-utf8.yaml"
    path.write_bytes(b"id: knees-hug\nname: Caf\xe9 stretch\n")
    problems = check_files([path], catalog)
    assert len(problems) == 1
    assert problems[0].file == str(path)
    assert "UTF-8" in problems[0].message


def test_missing_file_is_reported(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "missing.yaml"
    (problem,) = check_files([path], catalog)
    assert problem.file == str(path)
    assert "cannot read" in problem.message


def test_several_problems_are_all_reported_each_with_its_line(catalog: Catalog) -> None:
    path = INVALID / "several-problems.yaml"
    marked = error_lines(path)
    problems = check_files([path], catalog)
    assert len(marked) >= 3
    assert len(problems) >= 3
    assert sorted(p.line for p in problems if p.line is not None) == marked
    assert all(p.file == str(path) and p.field for p in problems)
    by_field = {p.field: p for p in problems}
    assert {"position", "focus[1]", "sides", "relese"} <= set(by_field)
    assert "did you mean 'release'" in by_field["relese"].message


def test_problems_of_several_files_are_reported_together(catalog: Catalog) -> None:
    paths = [INVALID / "unknown-key.yaml", INVALID / "wrong-type.yaml", INVALID / "routine-unknown-stretch.yaml"]
    problems = check_files(paths, catalog)
    assert {p.file for p in problems} == {str(p) for p in paths}


def test_shape_and_reference_problems_are_reported_together(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "two-problems.yaml"
    path.write_text(
        "id: two-problems\ntitle: Two problems\nminutes: soon\nstretches:\n  - cat-cwo\n", encoding="utf-8"
    )
    problems = check_files([path], catalog)
    assert {(p.line, p.field) for p in problems} == {(3, "minutes"), (5, "stretches[0]")}


def test_routine_overrides_of_reps_and_sets_must_be_whole(tmp_path: Path, catalog: Catalog) -> None:
    cat_cow = catalog.stretch("cat-cow")
    assert cat_cow.reps is not None and cat_cow.reps.min < 7.5 < cat_cow.reps.max
    assert cat_cow.sets.min < 1.5 < cat_cow.sets.max
    path = tmp_path / "fractions.yaml"
    path.write_text(
        "id: fractions\ntitle: Fractions\nstretches:\n  - id: cat-cow\n    reps: 7.5\n    sets: 1.5\n",
        encoding="utf-8",
    )
    problems = check_files([path], catalog)
    assert {(p.line, p.field) for p in problems} == {(5, "stretches[0].reps"), (6, "stretches[0].sets")}


def test_valid_user_stretch_and_routine_check_together(catalog: Catalog) -> None:
    stretch, routine = VALID / "wall-lean.yaml", VALID / "wall-lean-routine.yaml"
    assert "wall-lean" not in catalog.stretches
    assert check_files([stretch, routine], catalog) == []
    assert check_files([routine, stretch], catalog) == []  # the order of the files does not matter
    alone = check_files([routine], catalog)  # without the stretch the routine is wrong
    assert len(alone) == 1 and "wall-lean" in alone[0].message


def test_all_valid_fixtures_pass(catalog: Catalog) -> None:
    assert check_files(sorted(VALID.glob("*.yaml")), catalog) == []


def test_problem_text_format() -> None:
    assert str(Problem("a.yaml", 3, "sides", "must be true or false")) == "a.yaml:3: sides: must be true or false"
    assert str(Problem("a.yaml", None, None, "file is empty")) == "a.yaml: file is empty"


# --------------------------------------------------------------------------- loading a catalog folder


def copy_catalog(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR / "stretches", root / "stretches")
    shutil.copytree(CATALOG_DIR / "routines", root / "routines")
    return root


def test_load_catalog_from_a_folder(tmp_path: Path, catalog: Catalog) -> None:
    root = copy_catalog(tmp_path)
    shutil.copy(VALID / "wall-lean.yaml", root / "stretches" / "wall-lean.yaml")
    loaded = load_catalog(root)
    assert set(loaded.stretches) == set(catalog.stretches) | {"wall-lean"}
    assert set(loaded.routines) == set(catalog.routines)


def test_load_catalog_reports_every_bad_file(tmp_path: Path) -> None:
    root = copy_catalog(tmp_path)
    shutil.copy(INVALID / "wrong-type.yaml", root / "stretches" / "knees-hug.yaml")
    shutil.copy(INVALID / "routine-unknown-stretch.yaml", root / "routines" / "typo-routine.yaml")
    with pytest.raises(CatalogError) as info:
        load_catalog(root)
    text = str(info.value)
    (stretch_line,) = error_lines(INVALID / "wrong-type.yaml")
    (routine_line,) = error_lines(INVALID / "routine-unknown-stretch.yaml")
    assert f"stretches/knees-hug.yaml:{stretch_line}: sides: " in text
    assert f"routines/typo-routine.yaml:{routine_line}: stretches[1]: " in text


def test_load_catalog_needs_id_equal_to_file_name(tmp_path: Path) -> None:
    root = copy_catalog(tmp_path)
    shutil.copy(VALID / "wall-lean.yaml", root / "stretches" / "wall-leaning.yaml")
    with pytest.raises(CatalogError) as info:
        load_catalog(root)
    (problem,) = info.value.problems
    assert problem.field == "id"
    assert problem.line == 2
    assert "wall-leaning.yaml" in problem.message
