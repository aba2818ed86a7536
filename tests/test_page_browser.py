"""The pack's page in a real headless Chromium (Debian's chromium and chromium-driver, driven by
Selenium): every episode is listed, audio loads its metadata through the LAN server's range
requests, a chapter click seeks, and the page works straight from the folder with nothing from
outside. ``.ci/install-browser`` installs the browser where it is missing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from voiceguide.podcast.manifest import read_manifest
from voiceguide.podcast.serve import PackServer, make_server

from .browser import CHROMEDRIVER, CHROMIUM, headless_chromium, wait_for
from .required import missing
from .test_pack import build_tone_pack

if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
    missing(
        "needs Debian's chromium and chromium-driver (/usr/bin/chromium, chromedriver): run .ci/install-browser",
        module_level=True,
    )
try:
    import selenium  # noqa: F401
except ImportError:
    missing("needs the selenium package (pip install -e '.[test]')", module_level=True)

from selenium.webdriver.common.by import By

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-episode pack: the first with two chapters, the second with one."""
    return build_tone_pack(tmp_path_factory, "page", 2, jobs=2).folder


@pytest.fixture(scope="module")
def base_url(folder: Path) -> Iterator[str]:
    server: PackServer = make_server(folder, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with headless_chromium("--window-size=1200,1000") as browser:
        yield browser




def episodes(folder: Path) -> list[Any]:
    built = read_manifest(folder)
    assert built is not None
    return built[1]


def test_page_lists_every_episode(driver: Any, base_url: str, folder: Path) -> None:
    driver.get(base_url)
    infos = episodes(folder)
    articles = driver.find_elements(By.CSS_SELECTOR, "article.episode")
    assert len(articles) == len(infos) == 2
    for article, info in zip(articles, infos):
        assert info.title in article.find_element(By.TAG_NAME, "h2").text
        assert len(article.find_elements(By.CSS_SELECTOR, "audio")) == 1
        buttons = article.find_elements(By.CSS_SELECTOR, "ol.chapters [data-start]")
        assert [b.text.split("\n")[-1] for b in buttons] == [c["title"] for c in info.chapters]
    assert driver.find_element(By.ID, "subscribe").get_attribute("href") == base_url + "feed.xml"
    assert driver.find_element(By.ID, "feed-url").text == base_url + "feed.xml"
    app_link = driver.find_element(By.ID, "subscribe-app").get_attribute("href")
    assert app_link == "podcast://" + base_url.removeprefix("http://") + "feed.xml"
    cover = driver.find_element(By.CSS_SELECTOR, "header.show img")
    wait_for(lambda: driver.execute_script("return arguments[0].naturalWidth", cover) == 1400, what="the cover")


def test_audio_loads_its_metadata(driver: Any, base_url: str, folder: Path) -> None:
    driver.get(base_url)
    for audio, info in zip(driver.find_elements(By.TAG_NAME, "audio"), episodes(folder)):
        duration = wait_for(
            lambda a=audio: driver.execute_script(
                "return arguments[0].readyState >= 1 && arguments[0].duration > 0 && arguments[0].duration", a),
            what=f"metadata of {info.slug}",
        )
        assert abs(duration - info.duration_s) < 0.5, (duration, info.duration_s)


def _current_time(driver: Any, article: Any) -> float:
    return float(driver.execute_script("return arguments[0].querySelector('audio').currentTime", article))


def test_a_chapter_click_seeks_to_its_start(driver: Any, base_url: str, folder: Path) -> None:
    driver.get(base_url)
    info = episodes(folder)[0]
    assert [c["title"] for c in info.chapters][::len(info.chapters) - 1] == ["Welcome", "Closing"]
    assert len(info.chapters) == 4  # the welcome, two stretches, the closing
    article = driver.find_elements(By.CSS_SELECTOR, "article.episode")[0]
    start = info.chapters[1]["startTime"]
    assert start > 5
    article.find_elements(By.CSS_SELECTOR, "ol.chapters [data-start]")[1].click()
    wait_for(lambda: _current_time(driver, article) >= start - 0.05, what="the seek to the second chapter")
    assert _current_time(driver, article) < start + 3
    button = article.find_elements(By.CSS_SELECTOR, "ol.chapters [data-start]")[1]
    wait_for(lambda: button.get_attribute("aria-current") == "true", what="the chapter to be marked")
    article.find_elements(By.CSS_SELECTOR, "ol.chapters [data-start]")[0].click()
    wait_for(lambda: _current_time(driver, article) < start - 1, what="the seek back to the first chapter")


def test_a_transcript_line_click_seeks_there(driver: Any, base_url: str, folder: Path) -> None:
    driver.get(base_url)
    info = episodes(folder)[1]
    article = driver.find_elements(By.CSS_SELECTOR, "article.episode")[1]
    article.find_element(By.CSS_SELECTOR, "details.transcript summary").click()
    index = len(info.transcript) // 2
    start = info.transcript[index][0]
    article.find_elements(By.CSS_SELECTOR, "ol.lines [data-start]")[index].click()
    wait_for(lambda: _current_time(driver, article) >= start - 0.05, what="the seek to a transcript line")
    assert _current_time(driver, article) < start + 3


def test_page_fetches_nothing_from_outside(driver: Any, base_url: str) -> None:
    driver.get(base_url)
    wait_for(lambda: driver.execute_script("return document.readyState") == "complete", what="the page load")
    names = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert names, "the page loaded no resources at all (not even its cover)"
    assert all(name.startswith(base_url) for name in names), names


def test_page_works_offline_from_the_folder(driver: Any, folder: Path) -> None:
    driver.get((folder / "index.html").as_uri())
    articles = driver.find_elements(By.CSS_SELECTOR, "article.episode")
    assert len(articles) == 2
    audio = articles[0].find_element(By.TAG_NAME, "audio")
    wait_for(lambda: driver.execute_script("return arguments[0].duration > 0", audio), what="metadata from a file")
    start = episodes(folder)[0].chapters[1]["startTime"]
    articles[0].find_elements(By.CSS_SELECTOR, "ol.chapters [data-start]")[1].click()
    wait_for(lambda: _current_time(driver, articles[0]) >= start - 0.05, what="a seek on the offline page")
    assert driver.find_element(By.ID, "subscribe-app").get_attribute("hidden") is not None
