"""Shared helpers for the voiceguide tests."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from voiceguide.catalog.load import load_catalog
from voiceguide.catalog.types import Catalog

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"
INVALID = FIXTURES / "invalid"
VALID = FIXTURES / "valid"
CATALOG_DIR = REPO / "catalog"


def fake_length(text: str) -> float:
    """A deterministic speech length: 50 ms per character."""
    return 0.05 * len(text)


@functools.cache
def bundled() -> Catalog:
    """The bundled catalog, loaded once (hypothesis tests cannot take function fixtures)."""
    return load_catalog()


def error_lines(path: Path) -> list[int]:
    """The lines of a fixture marked with a trailing '# ERROR' comment (1-based)."""
    text = path.read_text(encoding="utf-8")
    return [n for n, line in enumerate(text.splitlines(), start=1) if line.rstrip().endswith("# ERROR")]


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return bundled()
