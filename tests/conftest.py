"""Shared helpers for the voiceguide tests."""

from __future__ import annotations

import functools
import signal
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from voiceguide.catalog.load import load_catalog
from voiceguide.catalog.types import Catalog

from .required import REQUIRE_VARIABLE, required

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


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt in this process for the test, as it does at a terminal,
    even where the test runner was started with it ignored (a shell's background job)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return bundled()


def pytest_report_header() -> str:
    if required():
        return f"real parts: required (CI or {REQUIRE_VARIABLE}); a test that would skip for want of one fails"
    return "real parts: a missing one skips its tests, saying why (CI=true makes them required)"


def _skip_fails(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Where the real parts are required, a skip is a failure: something did not run."""
    if report.skipped and required() and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped where every real part is required (CI): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    _skip_fails(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, None, None]:
    outcome = yield
    _skip_fails(outcome.get_result())
