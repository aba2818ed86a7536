"""The LAN server, started on 127.0.0.1 in the test: byte ranges (RFC 9110), content types, the
per-request feed, and paths that try to leave the pack's folder."""

from __future__ import annotations

import contextlib
import http.client
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from voiceguide.cli import main
from voiceguide.podcast.serve import (
    NotAPackError,
    PackServer,
    Unsatisfiable,
    make_server,
    parse_range,
    public_urls,
    qr_text,
)
from voiceguide.studio import server as server_module
from voiceguide.studio.server import lan_address

from .test_pack import NS, build_tone_pack

BUILT_WITH = "https://example.org/pack/"
MP3 = "/episodes/01-tilts-and-rolls.mp3"
SECRET = b"TOP SECRET: outside the pack"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-episode pack, with a secret file beside it and links that point in and out."""
    result = build_tone_pack(tmp_path_factory, "served", 1, base_url=BUILT_WITH)
    root = result.folder.parent
    (root / "secret.txt").write_bytes(SECRET)
    (result.folder / "link-out.txt").symlink_to(root / "secret.txt")
    (result.folder / "up").symlink_to(root, target_is_directory=True)
    (result.folder / "link-in.png").symlink_to(result.folder / "cover.png")
    return result.folder


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[PackServer]:
    """A real server for FOLDER on a free port of 127.0.0.1, in a thread, shut down afterwards."""
    srv = make_server(folder, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def server(folder: Path) -> Iterator[PackServer]:
    with serving(folder) as srv:
        yield srv


def get(server: PackServer, path: str, headers: dict[str, str] | None = None,
        method: str = "GET") -> tuple[int, http.client.HTTPMessage, bytes]:
    """One raw request: http.client sends the path exactly as given (no normalising of ../)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def mp3(folder: Path) -> bytes:
    return (folder / MP3.lstrip("/")).read_bytes()


# --------------------------------------------------------------------------- ranges


@pytest.mark.parametrize(("header", "size", "expected"), [
    (None, 100, None),
    ("bytes=0-9", 100, (0, 9)),
    ("bytes=10-", 100, (10, 99)),
    ("bytes=-10", 100, (90, 99)),
    ("bytes=-1000", 100, (0, 99)),
    ("bytes=90-1000", 100, (90, 99)),
    ("bytes=99-99", 100, (99, 99)),
    (" BYTES = 5 - 6 ", 100, (5, 6)),
    ("bytes=5-2", 100, None),          # invalid: last before first, ignored
    ("bytes=0-1,5-6", 100, None),      # several ranges: the whole file instead
    ("items=0-9", 100, None),          # unknown unit
    ("bytes=-", 100, None),
    ("bytes=a-b", 100, None),
])
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=100-", 100), ("bytes=150-200", 100), ("bytes=-0", 100),
                                              ("bytes=0-", 0), ("bytes=-5", 0)])
def test_parse_range_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, size)


def test_whole_file_says_it_accepts_ranges(server: PackServer, mp3: bytes) -> None:
    status, headers, body = get(server, MP3)
    assert status == 200 and body == mp3
    assert headers["Content-Length"] == str(len(mp3))
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Type"] == "audio/mpeg"


def test_start_end_range(server: PackServer, mp3: bytes) -> None:
    status, headers, body = get(server, MP3, {"Range": "bytes=0-99"})
    assert status == 206
    assert headers["Content-Range"] == f"bytes 0-99/{len(mp3)}"
    assert headers["Content-Length"] == "100" and body == mp3[:100]
    status, headers, body = get(server, MP3, {"Range": "bytes=1000-1999"})
    assert status == 206 and body == mp3[1000:2000]


def test_open_range(server: PackServer, mp3: bytes) -> None:
    status, headers, body = get(server, MP3, {"Range": "bytes=4096-"})
    assert status == 206 and body == mp3[4096:]
    assert headers["Content-Range"] == f"bytes 4096-{len(mp3) - 1}/{len(mp3)}"


def test_suffix_range(server: PackServer, mp3: bytes) -> None:
    status, headers, body = get(server, MP3, {"Range": "bytes=-500"})
    assert status == 206 and body == mp3[-500:]
    assert headers["Content-Range"] == f"bytes {len(mp3) - 500}-{len(mp3) - 1}/{len(mp3)}"


def test_range_past_the_end_is_clamped(server: PackServer, mp3: bytes) -> None:
    status, headers, body = get(server, MP3, {"Range": f"bytes=100-{len(mp3) + 5000}"})
    assert status == 206 and body == mp3[100:]
    assert headers["Content-Range"] == f"bytes 100-{len(mp3) - 1}/{len(mp3)}"


@pytest.mark.parametrize("spec", ["bytes={size}-", "bytes={size5}-{size10}", "bytes=-0"])
def test_unsatisfiable_range_is_416_with_content_range(server: PackServer, mp3: bytes, spec: str) -> None:
    header = spec.format(size=len(mp3), size5=len(mp3) + 5, size10=len(mp3) + 10)
    status, headers, body = get(server, MP3, {"Range": header})
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{len(mp3)}"
    assert body == b""


@pytest.mark.parametrize("header", ["bytes=5-2", "bytes=0-1,5-6", "seconds=0-10"])
def test_invalid_range_is_ignored(server: PackServer, mp3: bytes, header: str) -> None:
    status, _, body = get(server, MP3, {"Range": header})
    assert status == 200 and body == mp3


def test_head_with_range_sends_headers_only(server: PackServer, mp3: bytes) -> None:
    status, headers, body = get(server, MP3, {"Range": "bytes=10-19"}, method="HEAD")
    assert status == 206 and body == b""
    assert headers["Content-Length"] == "10"
    assert headers["Content-Range"] == f"bytes 10-19/{len(mp3)}"


def test_if_range_honours_only_a_current_validator(server: PackServer, mp3: bytes) -> None:
    _, headers, _ = get(server, MP3, method="HEAD")
    etag = headers["ETag"]
    status, _, body = get(server, MP3, {"Range": "bytes=0-9", "If-Range": etag})
    assert status == 206 and body == mp3[:10]
    status, _, body = get(server, MP3, {"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert status == 200 and body == mp3


def test_several_requests_on_one_connection(server: PackServer, mp3: bytes) -> None:
    """Players keep the connection open and seek with range after range."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    try:
        for first in (0, 5000, len(mp3) - 10, len(mp3)):
            conn.request("GET", MP3, headers={"Range": f"bytes={first}-{first + 9}"})
            response = conn.getresponse()
            body = response.read()
            if first >= len(mp3):
                assert response.status == 416
            else:
                assert response.status == 206 and body == mp3[first:first + 10]
    finally:
        conn.close()


# --------------------------------------------------------------------------- content types


@pytest.mark.parametrize(("path", "content_type"), [
    ("/", "text/html; charset=utf-8"),
    ("/index.html", "text/html; charset=utf-8"),
    ("/feed.xml", "application/rss+xml; charset=utf-8"),
    ("/cover.png", "image/png"),
    (MP3, "audio/mpeg"),
    ("/episodes/01-tilts-and-rolls.chapters.json", "application/json"),
    ("/episodes/01-tilts-and-rolls.vtt", "text/vtt; charset=utf-8"),
    ("/link-in.png", "image/png"),
])
def test_content_types(server: PackServer, path: str, content_type: str) -> None:
    status, headers, body = get(server, path)
    assert status == 200, path
    assert headers["Content-Type"] == content_type
    assert int(headers["Content-Length"]) == len(body) > 0


def test_page_is_the_built_page(server: PackServer, folder: Path) -> None:
    _, _, body = get(server, "/")
    assert body == (folder / "index.html").read_bytes()


# --------------------------------------------------------------------------- the feed


def test_served_feed_points_at_this_server(server: PackServer, folder: Path) -> None:
    port = server.server_address[1]
    status, _, body = get(server, "/feed.xml")
    assert status == 200
    root = ET.fromstring(body)
    urls = [e.get("url") for e in root.iter("enclosure")]
    urls += [e.get("url") for e in root.iter(f"{{{NS['podcast']}}}chapters")]
    urls += [e.get("url") for e in root.iter(f"{{{NS['podcast']}}}transcript")]
    urls += [e.get("href") for e in root.iter(f"{{{NS['itunes']}}}image")]
    assert len(urls) == 4
    for url in urls:
        assert url is not None and url.startswith(f"http://127.0.0.1:{port}/"), url
        status, _, _ = get(server, url.removeprefix(f"http://127.0.0.1:{port}"))
        assert status == 200, url
    (enclosure,) = root.iter("enclosure")
    assert enclosure.get("length") == str((folder / MP3.lstrip("/")).stat().st_size)
    on_disk = ET.parse(folder / "feed.xml").getroot()
    assert [g.text for g in root.iter("guid")] == [g.text for g in on_disk.iter("guid")]
    assert next(on_disk.iter("enclosure")).get("url", "").startswith(BUILT_WITH)  # the file is untouched


def test_served_feed_follows_the_host_the_phone_used(server: PackServer) -> None:
    _, _, body = get(server, "/feed.xml", {"Host": "192.168.1.23:8000"})
    assert next(ET.fromstring(body).iter("enclosure")).get("url") == f"http://192.168.1.23:8000{MP3}"


def test_a_strange_host_header_is_not_echoed_into_the_feed(server: PackServer) -> None:
    _, _, body = get(server, "/feed.xml", {"Host": 'evil.example/"><x a="'})
    url = next(ET.fromstring(body).iter("enclosure")).get("url", "")
    assert url.startswith(f"http://127.0.0.1:{server.server_address[1]}/")
    assert b"evil" not in body


# --------------------------------------------------------------------------- containment


@pytest.mark.parametrize("path", [
    "/../secret.txt",
    "/episodes/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E%2Fsecret.txt",
    "/episodes/..%2f..%2fsecret.txt",
    "/..%5csecret.txt",
    "/%252e%252e/secret.txt",
    "/link-out.txt",
    "/up/secret.txt",
    "/secret.txt%00.mp3",
    "/.voiceguide-pack.json",
    "//etc/passwd",
    "/%2Fetc%2Fpasswd",
    "/no-such-file.mp3",
    "/episodes",
])
def test_nothing_outside_the_folder_is_served(server: PackServer, folder: Path, path: str) -> None:
    assert (folder.parent / "secret.txt").read_bytes() == SECRET  # it is there to be stolen
    status, _, body = get(server, path)
    assert status == 404, path
    assert SECRET not in body


def test_absolute_paths_are_not_served(server: PackServer, folder: Path) -> None:
    secret = folder.parent / "secret.txt"
    for path in (f"/{secret}", f"/{str(secret).replace('/', '%2F')}", f"http://127.0.0.1{secret}"):
        status, _, body = get(server, path)
        assert status == 404, path
        assert SECRET not in body


# --------------------------------------------------------------------------- starting and stopping


def test_a_folder_without_a_built_pack_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotAPackError, match="voiceguide pack build"):
        make_server(tmp_path, "127.0.0.1", 0)
    result = CliRunner().invoke(main, ["serve", str(tmp_path), "--host", "127.0.0.1", "--port", "0"])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1


def test_urls_use_the_lan_address_when_listening_everywhere(server: PackServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    port = server.server_address[1]
    monkeypatch.setattr(server_module, "lan_address", lambda: "192.168.1.23")
    assert public_urls(server, "0.0.0.0") == (f"http://192.168.1.23:{port}/", f"http://192.168.1.23:{port}/feed.xml")
    assert public_urls(server, "127.0.0.1") == (f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/feed.xml")


def test_the_real_lan_address_is_one_of_this_machines(server: PackServer) -> None:
    """Not a fake: the address found is a dotted IPv4 address this machine can bind to, and the
    printed URLs use it when the server listens everywhere."""
    address = lan_address()
    assert re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", address) and not address.startswith("0."), address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((address, 0))  # fails with EADDRNOTAVAIL for an address that is not this machine's
    assert public_urls(server, "0.0.0.0")[0] == f"http://{address}:{server.server_address[1]}/"


def test_qr_code_is_a_square_of_blocks() -> None:
    text = qr_text("http://192.168.1.23:8000/")
    lines = text.rstrip("\n").splitlines()
    assert len({len(line) for line in lines}) == 1
    assert set("".join(lines)) <= set("\xa0 █▀▄")
    assert qr_text("http://192.168.1.23:8000/") == text != qr_text("http://192.168.1.24:8000/")


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float = 20) -> str:
    """The process's output up to a line holding ``marker``; fails after ``timeout`` seconds even
    when the process prints nothing at all (lines are read in a thread, waited for with a deadline)."""
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    stdout = process.stdout

    def pump() -> None:
        for line in iter(stdout.readline, ""):
            lines.put(line)
            if marker in line:
                return
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {marker!r} within {timeout} s in: {seen}") from None
        assert line, f"the server exited early: {seen}"
        seen += line
    return seen


def test_reading_a_silent_server_fails_at_its_deadline() -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        with pytest.raises(AssertionError, match=r"within 0\.5 s"):  # not 'exited early' 30 s later
            _read_until(process, "never printed", timeout=0.5)
    finally:
        process.kill()
        process.wait()


def test_serve_command_prints_urls_and_stops_on_ctrl_c(folder: Path) -> None:
    env = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "voiceguide", "serve", str(folder), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", env=env,
    )
    try:
        out = _read_until(process, "Press Ctrl-C to stop.")
        page = re.search(r"^Page: (http://127\.0\.0\.1:(\d+)/)$", out, re.M)
        feed = re.search(r"^Feed: (http://127\.0\.0\.1:\d+/feed\.xml)$", out, re.M)
        assert page and feed, out
        assert "█" in out  # the QR code
        port = int(page[2])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/feed.xml")
        response = conn.getresponse()
        assert response.status == 200 and f"http://127.0.0.1:{port}/episodes/".encode() in response.read()
        conn.close()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signal.SIGINT, stderr  # as every command stopped by a signal
    assert "Stopped." in stdout
    assert "Traceback" not in stderr
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
