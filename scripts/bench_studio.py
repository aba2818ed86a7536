"""Benchmark: the studio server's idle memory, its page's size and time to first byte, and what
making a session costs next to ``voiceguide render`` of the same routine.

Starts ``voiceguide serve`` on 127.0.0.1 (any free port, a temporary library, the tone engine unless
--engine is given), reads its resident memory from /proc once started and again after making one
session through the API, fetches the page with the printed key, and times a session made through
the studio against ``voiceguide render`` of the same routine and minutes.
Run: .venv/bin/python scripts/bench_studio.py [--engine tone] [--routine cat-cow] [--minutes 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (speech workers), in MB."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        ppid = int(re.search(r"^PPid:\s+(\d+)", text, re.M)[1])  # type: ignore[index]
        if int(status.parent.name) == pid or ppid == pid:
            found = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
            total += int(found[1]) if found else 0
    return total / 1024


def request(port: int, method: str, path: str, headers: dict[str, str],
            body: object = None) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        data = json.dumps(body).encode() if body is not None else None
        kind = {"Content-Type": "application/json"} if data else {}
        conn.request(method, path, body=data, headers={**headers, **kind})
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="tone")
    parser.add_argument("--routine", default="cat-cow")
    parser.add_argument("--minutes", type=float, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "VOICEGUIDE_ENGINE": args.engine, "VOICEGUIDE_CACHE_DIR": str(Path(tmp) / "cache")}
        server = subprocess.Popen(
            [sys.executable, "-m", "voiceguide", "serve", "--host", "127.0.0.1", "--port", "0", "--no-qr",
             "--library", str(Path(tmp) / "library")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            port, key = 0, ""
            for line in server.stdout:
                if match := re.search(r"^Open on your phone: http://127\.0\.0\.1:(\d+)/\?key=(\S+)", line):
                    port, key = int(match[1]), match[2]
                    break
            time.sleep(1)
            print(f"idle after start: {rss_mb(server.pid):.0f} MB resident")
            started = time.perf_counter()
            _, _, headers = request(port, "GET", f"/?key={key}", {})
            cookie = headers["set-cookie"].split(";")[0]
            status, page, _ = request(port, "GET", "/", {"Cookie": cookie})
            print(f"page: {len(page)} bytes ({len(page) / 1024:.1f} KB), everything inline; "
                  f"opened in {(time.perf_counter() - started) * 1000:.0f} ms (two requests) [{status}]")
            status, html_page, _ = request(port, "GET", "/", {"Cookie": cookie})
            token = re.search(rb'name="csrf-token" content="([0-9a-f]+)"', html_page)[1].decode()  # type: ignore[index]
            auth = {"Cookie": cookie, "X-Voiceguide-Token": token}
            started = time.perf_counter()
            asked = {"routine": args.routine, "minutes": args.minutes}
            status, body, _ = request(port, "POST", "/api/sessions", auth, asked)
            job = json.loads(body)["id"]
            peak = 0.0
            while True:
                _, body, _ = request(port, "GET", f"/api/jobs/{job}", auth)
                peak = max(peak, rss_mb(server.pid))
                if json.loads(body)["state"] in ("done", "failed", "cancelled"):
                    break
                time.sleep(0.1)
            studio_s = time.perf_counter() - started
            print(f"studio: {args.routine} {args.minutes:g} min made in {studio_s:.1f} s "
                  f"({json.loads(body)['state']}), peak {peak:.0f} MB with its workers")
            time.sleep(2)
            print(f"idle after one session: {rss_mb(server.pid):.0f} MB resident")
        finally:
            server.send_signal(signal.SIGINT)
            server.communicate(timeout=30)
        env["VOICEGUIDE_CACHE_DIR"] = str(Path(tmp) / "cache-for-render")  # cold, as the studio's was
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "voiceguide", "render", args.routine, "--minutes", str(args.minutes),
                        "-o", str(Path(tmp) / "render.mp3")], env=env, check=True, capture_output=True)
        print(f"render: the same session in {time.perf_counter() - started:.1f} s "
              f"(a fresh process and a cold clip cache, as the studio had)")


if __name__ == "__main__":
    main()
