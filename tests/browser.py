"""Helpers shared by the tests that drive a real browser."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path(shutil.which("chromedriver") or "/usr/bin/chromedriver")
HEADLESS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--no-first-run", "--mute-audio",
)  # fmt: skip
"""Chromium's switches for a quiet headless run that fetches nothing of its own."""


@contextlib.contextmanager
def headless_chromium(*arguments: str, mobile: dict[str, Any] | None = None) -> Iterator[Any]:
    """Debian's Chromium driven by Selenium, with :data:`HEADLESS` and ``arguments``, emulating a
    phone where ``mobile`` is given (Chrome's ``mobileEmulation``); quit however the test ends.

    The caller checks that the browser and Selenium are installed before asking for one.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not try to download anything
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (*HEADLESS, *arguments):
        options.add_argument(argument)
    if mobile is not None:
        options.add_experimental_option("mobileEmulation", mobile)
    browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()


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
