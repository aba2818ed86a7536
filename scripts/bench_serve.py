"""Benchmark: 200 concurrent /feed.xml requests against ``voiceguide serve`` on 127.0.0.1.

Builds the bundled back-care-week pack with the tone engine into a temporary folder, starts the
server in a process of its own (127.0.0.1 only, any free port), then sends 200 feed requests at
once from 200 client threads, for a few rounds, and reports per-request latency (median, 95th
percentile, slowest), failures and the rounds' wall time. Also times ranged MP3 requests.
Run: .venv/bin/python scripts/bench_serve.py [--rounds 3] [--clients 200]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def one(port: int, path: str, headers: dict[str, str]) -> tuple[float, int | str]:
    start = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        return time.perf_counter() - start, response.status
    except OSError as e:
        return time.perf_counter() - start, type(e).__name__


def burst(port: int, clients: int, path: str, headers: dict[str, str]) -> tuple[list[float], list[str], float]:
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda _: one(port, path, headers), range(clients)))
    wall = time.perf_counter() - start
    failures = [str(status) for _, status in results if status not in (200, 206)]
    return [t for t, _ in results], failures, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=200)
    args = parser.parse_args()
    env = {**os.environ, "VOICEGUIDE_ENGINE": "tone"}
    with tempfile.TemporaryDirectory() as tmp:
        env["VOICEGUIDE_CACHE_DIR"] = str(Path(tmp) / "cache")
        folder = Path(tmp) / "pack"
        subprocess.run([sys.executable, "-m", "voiceguide", "pack", "build", "back-care-week", "-o", str(folder)],
                       env=env, check=True, capture_output=True)
        server = subprocess.Popen(
            [sys.executable, "-m", "voiceguide", "serve", str(folder), "--host", "127.0.0.1", "--port", "0", "--no-qr"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            port = 0
            for line in server.stdout:
                if match := re.search(r"^Page: http://127\.0\.0\.1:(\d+)/", line):
                    port = int(match[1])
                    break
            for label, path, headers in [("feed.xml", "/feed.xml", {}),
                                         ("mp3 range", "/episodes/01-desk-break.mp3",
                                          {"Range": "bytes=100000-164999"})]:
                for n in range(1, args.rounds + 1):
                    times, failures, wall = burst(port, args.clients, path, headers)
                    times.sort()
                    p95 = times[int(0.95 * len(times)) - 1]
                    print(f"{label} round {n}: {args.clients} at once, wall {wall:.2f} s; latency median "
                          f"{statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
                          f"slowest {times[-1] * 1000:.0f} ms; failed {len(failures)} {sorted(set(failures))}")
        finally:
            server.send_signal(signal.SIGINT)
            server.communicate(timeout=15)


if __name__ == "__main__":
    main()
