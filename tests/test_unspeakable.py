"""Lines a voice cannot speak are caught by validation, with file, line and field (issue 10, item 11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from voiceguide.catalog.load import check_files
from voiceguide.catalog.types import Catalog
from voiceguide.cli import main

from .conftest import FIXTURES, error_lines

UNSPEAKABLE = FIXTURES / "unspeakable"
CASES: dict[str, tuple[str, str]] = {
    "only-punctuation.yaml": ("setup[1]", "has no words in it"),
    "zero-width-space.yaml": ("setup[1]", "U+200B"),
    "invisible-character.yaml": ("breath.exhale", "U+200D"),
    "nul-in-title.yaml": ("title", "control character U+0000"),
    "over-long-line.yaml": ("setup[1]", "is 19999 characters long; keep it to 300"),
    "over-long-name.yaml": ("name", "is 1199 characters long; keep it to 1000"),
}


def test_every_fixture_has_a_case() -> None:
    assert {p.name for p in UNSPEAKABLE.glob("*.yaml")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_unspeakable_line_is_reported_with_file_line_and_field(name: str, catalog: Catalog) -> None:
    path = UNSPEAKABLE / name
    field, fragment = CASES[name]
    (line,) = error_lines(path)
    (problem,) = check_files([path], catalog)
    assert (problem.file, problem.line, problem.field) == (str(path), line, field)
    assert fragment in problem.message


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_fails_in_one_line_per_problem(name: str) -> None:
    result = CliRunner().invoke(main, ["check", str(UNSPEAKABLE / name)])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith(f"Error: {UNSPEAKABLE / name}:")


@pytest.mark.parametrize("intro", ["...", "\u200b", "a\0b", "word " * 100])
def test_an_unspeakable_intro_is_a_usage_error(intro: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["script", "cat-cow", "--intro", intro])
    assert result.exit_code == 2, result.output
    assert "--intro:" in result.output and "Traceback" not in result.output
