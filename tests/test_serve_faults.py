"""The server against hostile and heavy requests, on a real server on 127.0.0.1 (issue 10,
items 13-15): huge and garbage ranges, other methods and versions, 200 feed requests at once."""

from __future__ import annotations

import concurrent.futures
import http.client
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from voiceguide.podcast import serve as serve_module
from voiceguide.podcast.serve import PackServer, reach_note

from .test_pack import build_tone_pack
from .test_serve import serving

MP3 = "/episodes/01-tilts-and-rolls.mp3"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tone_pack(tmp_path_factory, "served-faults", 1).folder


@pytest.fixture
def server(folder: Path) -> Iterator[PackServer]:
    with serving(folder) as srv:
        yield srv


def request(server: PackServer, path: str, headers: dict[str, str] | None = None,
            method: str = "GET", body: bytes | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def raw(server: PackServer, data: bytes) -> bytes:
    """Send bytes as they are and return the whole answer (the server closes the connection)."""
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


NINES = "9" * 5000


@pytest.mark.parametrize(("range_header", "status", "content_range"), [
    (f"bytes={NINES}-", 416, "bytes */{size}"),
    (f"bytes={NINES}-{NINES}", 416, "bytes */{size}"),
    (f"bytes=0-{NINES}", 206, "bytes 0-{last}/{size}"),
    (f"bytes=-{NINES}", 206, "bytes 0-{last}/{size}"),
    (f"bytes=000000000000000000000000000000-{NINES}", 206, "bytes 0-{last}/{size}"),
])
def test_huge_range_numbers_get_an_answer_not_a_dropped_connection(
        server: PackServer, folder: Path, capfd: pytest.CaptureFixture[str], range_header: str, status: int,
        content_range: str) -> None:
    size = (folder / MP3.lstrip("/")).stat().st_size
    got, headers, body = request(server, MP3, {"Range": range_header})
    assert got == status
    assert headers["Content-Range"] == content_range.format(size=size, last=size - 1)
    assert len(body) == (size if status == 206 else 0)
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("if_range", ["garbage", "Mon, 99 Foo 2025 99:99:99 GMT", '"not-the-etag"', "W/\"x\""])
def test_an_if_range_that_does_not_match_gets_the_whole_file(
        server: PackServer, folder: Path, capfd: pytest.CaptureFixture[str], if_range: str) -> None:
    size = (folder / MP3.lstrip("/")).stat().st_size
    status, headers, body = request(server, MP3, {"Range": "bytes=0-99", "If-Range": if_range})
    assert status == 200 and len(body) == size and "Content-Range" not in headers
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_get_405_with_allow(server: PackServer, method: str) -> None:
    status, headers, _ = request(server, "/feed.xml", method=method, body=b"x" * 100)
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


def test_an_unknown_http_version_gets_505(server: PackServer) -> None:
    answer = raw(server, b"GET /feed.xml HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 505 ")


def test_the_feed_is_built_once_per_host_and_served_with_validators(
        server: PackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real = serve_module.build_feed

    def counting(show, episodes, base_url):  # type: ignore[no-untyped-def]
        built.append(base_url)
        return real(show, episodes, base_url)

    monkeypatch.setattr(serve_module, "build_feed", counting)
    answers = [request(server, "/feed.xml", {"Host": host}) for host in ["a.local:8000", "b.local:8000"] * 10]
    assert sorted(built) == ["http://a.local:8000/", "http://b.local:8000/"]
    assert {a[2] for a in answers[0::2]} == {answers[0][2]} and b"http://a.local:8000/" in answers[0][2]
    status, headers, body = answers[0]
    assert status == 200 and headers["ETag"] and headers["Last-Modified"]
    status, _, body = request(server, "/feed.xml", {"Host": "a.local:8000", "If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")


def test_a_rebuilt_pack_is_served_with_its_new_feed(server: PackServer, folder: Path) -> None:
    manifest = folder / ".voiceguide-pack.json"
    _, before, _ = request(server, "/feed.xml")
    text = manifest.read_text().replace('"title": "Tilts and rolls"', '"title": "Tilts, then rolls"')
    manifest.write_text(text)
    _, after, body = request(server, "/feed.xml")
    assert b"Tilts, then rolls" in body and after["ETag"] != before["ETag"]


def test_many_hosts_cannot_grow_the_feed_cache(server: PackServer) -> None:
    for n in range(3 * serve_module.MAX_FEEDS):
        assert request(server, "/feed.xml", {"Host": f"h{n}.local"})[0] == 200
    assert len(server.files.feeds) <= serve_module.MAX_FEEDS


def test_two_hundred_feed_requests_at_once_are_all_answered(server: PackServer) -> None:
    assert server.request_queue_size >= 200
    with concurrent.futures.ThreadPoolExecutor(200) as pool:
        statuses = list(pool.map(lambda _: request(server, "/feed.xml")[0], range(200)))
    assert statuses == [200] * 200


def test_serving_on_every_interface_says_so_and_how_to_keep_it_local() -> None:
    note = reach_note("0.0.0.0")
    assert "Anyone on this network can open it" in note and "--host 127.0.0.1" in note
    assert reach_note("127.0.0.1").startswith("Only this machine can reach it")


@pytest.mark.parametrize("line", [b"GET /feed.xml\r\n\r\n", b"GET /\r\n", b"\x16\x03\x01\x02\x00garbage\r\n\r\n",
                                  b"hello there\r\n\r\n", b"GET / HTTP/1.1 extra\r\n\r\n"])
def test_an_http_09_or_garbage_request_gets_a_status_line(server: PackServer, line: bytes) -> None:
    answer = raw(server, line)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]
    assert b"<html" not in answer.lower()


def test_two_hosts_of_one_length_get_two_etags(server: PackServer) -> None:
    """The feed's validator comes from its bytes: same size and time, different bodies, different tags."""
    _, a, body_a = request(server, "/feed.xml", {"Host": "aaaa.local:8000"})
    _, b, body_b = request(server, "/feed.xml", {"Host": "bbbb.local:8000"})
    assert len(body_a) == len(body_b) and body_a != body_b
    assert a["ETag"] != b["ETag"]
    status, _, _ = request(server, "/feed.xml", {"Host": "bbbb.local:8000", "If-None-Match": a["ETag"]})
    assert status == 200


def test_a_thousand_overlapping_ranges_get_the_whole_file_once(server: PackServer, folder: Path) -> None:
    size = (folder / MP3.lstrip("/")).stat().st_size
    status, headers, body = request(server, MP3, {"Range": "bytes=" + ",".join(["0-"] * 1000)})
    assert status == 200 and len(body) == size and "Content-Range" not in headers


def test_head_of_the_feed_has_its_length_and_no_body(server: PackServer) -> None:
    _, _, body = request(server, "/feed.xml")
    status, headers, empty = request(server, "/feed.xml", method="HEAD")
    assert (status, empty) == (200, b"") and headers["Content-Length"] == str(len(body))
