"""Helpers shared by the tests that drive a real browser."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition", poll: float = 0.1) -> Any:
    """``check()``'s first true value, polled until ``timeout`` seconds have passed (then an AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll)
