"""The studio in a real headless Chromium at a phone's size (390 x 844), against a real
``voiceguide serve`` process on 127.0.0.1 using the tone engine: open the printed address with its
key, make a three-minute session, watch its progress, play it, follow the current line, jump to the
next stretch, find it in My sessions and in the feed. Screenshots of each step are saved in the
test's temporary folder (``screens/``)."""

from __future__ import annotations

import http.client
import re
import signal
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .browser import CHROMEDRIVER, CHROMIUM, headless_chromium
from .browser import wait_for as _wait_for
from .processes import kill_started, needs_proc, start
from .test_serve import _read_until

if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
    pytest.skip("needs Debian's chromium and chromium-driver: run .ci/install-browser", allow_module_level=True)
pytest.importorskip("selenium.webdriver", reason="needs the selenium package (pip install selenium)")

from selenium.webdriver.common.by import By

pytestmark = [pytest.mark.slow, needs_proc]
PHONE = (390, 844)


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real studio server process; yields the address it printed (with its key) and its library."""
    library = tmp_path / "library"
    process = start(["serve", "--host", "127.0.0.1", "--port", "0", "--library", str(library), "--no-qr"], tmp_path,
                    VOICEGUIDE_ENGINE="tone", VOICEGUIDE_CACHE_DIR=str(tmp_path / "clips"), PYTHONUNBUFFERED="1")
    try:
        out = _read_until(process, "Press Ctrl-C to stop.")
        address = re.search(r"^Open on your phone: (http://127\.0\.0\.1:\d+/\?key=\S+)$", out, re.M)
        assert address, out
        yield address[1], library
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert "Traceback" not in stderr, stderr
    finally:
        kill_started()


@pytest.fixture
def phone() -> Iterator[Any]:
    with headless_chromium("--autoplay-policy=no-user-gesture-required", mobile={
        "deviceMetrics": {"width": PHONE[0], "height": PHONE[1], "pixelRatio": 2.0},
        "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/120.0 Mobile Safari/537.36"}) as browser:  # fmt: skip
        yield browser



def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    return _wait_for(check, timeout, what, poll=0.05)


def text(phone: Any, element_id: str) -> str:
    return str(phone.execute_script(f"return document.getElementById('{element_id}').textContent"))


def test_make_play_and_find_a_session_from_a_phone(studio: tuple[str, Path], phone: Any, tmp_path: Path) -> None:
    address, library = studio
    screens = tmp_path / "screens"
    screens.mkdir()

    def shot(name: str) -> None:
        phone.save_screenshot(str(screens / f"{name}.png"))

    # open the printed address: the key goes into a cookie and out of the address bar
    phone.get(address)
    assert phone.current_url == address.split("?")[0]
    assert phone.execute_script("return window.innerWidth") == PHONE[0]
    wait_for(lambda: phone.find_elements(By.CSS_SELECTOR, "#focus input"), what="the choices")
    assert "key=" not in phone.execute_script("return document.cookie")  # HttpOnly: scripts cannot read it
    shot("1-make")

    # ask for three minutes for the lower back, preview it
    minutes = phone.find_element(By.ID, "minutes")
    minutes.clear()
    minutes.send_keys("3")
    phone.find_element(By.ID, "preview-button").click()
    wait_for(lambda: "about 3" in text(phone, "preview"), what="the preview")
    previewed = [li.text for li in phone.find_elements(By.CSS_SELECTOR, "#preview li")]
    assert previewed
    phone.execute_script("document.getElementById('preview').scrollIntoView()")
    shot("2-preview")

    # make it: the progress bar advances, pushed by the server
    phone.find_element(By.ID, "make-button").click()
    wait_for(lambda: phone.find_element(By.ID, "progress").is_displayed(), what="the progress view")
    seen: list[str] = []
    widths: list[float] = []
    while not phone.find_element(By.ID, "play").is_displayed():
        message = text(phone, "progress-text")
        width = float(phone.execute_script(
            "return parseFloat(document.getElementById('progress-bar').style.width) || 0"))
        if not seen or seen[-1] != message:
            seen.append(message)
            if len(seen) == 4:
                shot("3-progress")
        widths.append(width)
        assert len(widths) < 3000, seen[-5:]
        time.sleep(0.02)
    speaking = [m for m in seen if re.fullmatch(r"speaking \d+ of \d+ lines", m)]
    assert len(speaking) >= 2, seen
    assert any(m.startswith("building the audio") for m in seen), seen
    assert widths == sorted(widths) and widths[-1] > widths[0]

    # play along: the session plays, its first stretch large, the spoken line changing
    title = wait_for(lambda: text(phone, "stretch"), what="the stretch name")
    assert title == "Welcome"
    wait_for(lambda: phone.execute_script("return document.getElementById('audio').currentTime > 0.3"),
             what="playback")
    first_line = wait_for(lambda: text(phone, "line"), what="the first line")
    shot("4-play")
    phone.execute_script("document.getElementById('audio').playbackRate = 2")
    wait_for(lambda: text(phone, "line") not in ("", first_line), what="the next line")
    assert phone.find_element(By.CSS_SELECTOR, "#transcript li.now").text.endswith(text(phone, "line"))

    # jump to the next stretch, as the lock screen's next button does
    chapters = phone.execute_script("return state.chapters")
    assert len(chapters) >= 3 and chapters[0]["title"] == "Welcome"
    assert [c["title"] for c in chapters[1:-1]] == previewed  # what the preview showed is what was made
    phone.find_element(By.ID, "next-stretch").click()
    wait_for(lambda: text(phone, "stretch") == chapters[1]["title"], what="the next stretch")
    now = phone.execute_script("return document.getElementById('audio').currentTime")
    assert chapters[1]["startTime"] <= now < chapters[1]["startTime"] + 3
    assert phone.execute_script("return navigator.mediaSession.metadata.title") == chapters[1]["title"]
    shot("5-next-stretch")

    # My sessions lists it; the feed carries it
    phone.find_element(By.CSS_SELECTOR, 'nav button[data-tab="library"]').click()
    item = wait_for(lambda: phone.find_elements(By.CSS_SELECTOR, "#sessions li"), what="the library list")[0]
    session_id = item.get_attribute("data-id")
    assert (library / session_id / "session.mp3").is_file()
    assert "lower back" in item.text.lower() and "3:00" in item.text
    shot("6-my-sessions")
    feed_url = text(phone, "feed-url")
    port = int(re.search(r":(\d+)/", feed_url)[1])  # type: ignore[index]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", feed_url.split(str(port), 1)[1])  # as a podcast app: no cookie, the key in the path
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 200
    guids = [g.text for g in ET.fromstring(body).iter("guid")]
    assert guids == [f"voiceguide-studio-{session_id}"]
    print(f"screenshots: {screens}")
