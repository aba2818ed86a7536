"""Serve a built pack on the local network, so a phone on the same Wi-Fi can play or subscribe.

A small threaded HTTP server: GET and HEAD only, byte ranges as RFC 9110 describes them (podcast
players and iOS Safari will not play or seek audio without them), explicit content types, and
nothing outside the pack's folder, however the path is spelled. ``/feed.xml`` is made per request
from the build's manifest with this server's address, whatever base URL the pack was built with.
"""

from __future__ import annotations

import contextlib
import email.utils
import io
import posixpath
import re
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from voiceguide.errors import VoiceguideError
from voiceguide.podcast.feed import build_feed
from voiceguide.podcast.manifest import MANIFEST, read_manifest

CONTENT_TYPES = {
    ".mp3": "audio/mpeg",
    ".json": "application/json",
    ".vtt": "text/vtt; charset=utf-8",
    ".xml": "application/rss+xml; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
CHUNK = 64 * 1024
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")


class NotAPackError(VoiceguideError):
    """Raised when ``serve`` is given a folder that holds no built pack (no manifest or feed)."""


class ServeError(VoiceguideError):
    """Raised when the server cannot listen on the host and port asked for."""


# --------------------------------------------------------------------------- byte ranges


class Unsatisfiable(Exception):
    """A syntactically valid range that selects no byte of the representation (answer 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) byte of a single ``bytes`` range, or None to send the whole file.

    Invalid or multi-part ranges are ignored (RFC 9110 allows a server to ignore Range); a valid
    one that selects nothing raises :class:`Unsatisfiable`.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = re.fullmatch(r"\s*(\d*)\s*-\s*(\d*)\s*", spec)
    if not match or (not match[1] and not match[2]):
        return None
    first_text, last_text = match[1], match[2]
    if not first_text:  # suffix range: the last N bytes
        length = int(last_text)
        if length == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - length), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # invalid: ignored
    if first >= size:
        raise Unsatisfiable
    last = min(int(last_text), size - 1) if last_text else size - 1
    return first, last


# --------------------------------------------------------------------------- the server


class PackServer(ThreadingHTTPServer):
    """A threaded HTTP server for one pack folder."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], root: Path) -> None:
        self.root = root.resolve()
        super().__init__(address, PackRequestHandler)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up mid-request (players do, all the time) is no error worth a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class PackRequestHandler(BaseHTTPRequestHandler):
    """GET and HEAD of the pack's files, with ranges; a per-request feed; 404 for anything else."""

    server: PackServer
    server_version = "voiceguide"
    protocol_version = "HTTP/1.1"
    timeout = 120
    """Seconds an idle kept-alive connection may hold a thread before it is closed."""

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a phone seeking through an episode makes dozens of range requests."""

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    # ------------------------------------------------------------------ routing

    def _respond(self, send_body: bool) -> None:
        path = self._request_path()
        if path is None:
            self._error(HTTPStatus.NOT_FOUND)
            return
        if path == "feed.xml":
            feed = self._feed()
            if feed is not None:
                self._send(io.BytesIO(feed), len(feed), CONTENT_TYPES[".xml"], None, send_body)
                return
        file = self._resolve(path)
        if file is None:
            self._error(HTTPStatus.NOT_FOUND)
            return
        stat = file.stat()
        content_type = CONTENT_TYPES.get(file.suffix.lower(), "application/octet-stream")
        with open(file, "rb") as f:
            self._send(f, stat.st_size, content_type, stat.st_mtime, send_body)

    def _request_path(self) -> str | None:
        """The request's path relative to the pack folder, decoded, or None if it cannot be one."""
        raw = urlsplit(self.path).path
        decoded = unquote(raw)
        if "\0" in decoded or "\\" in decoded:
            return None
        parts = [p for p in decoded.split("/") if p]
        if any(p in ("..", ".") or p.startswith(".") for p in parts):
            return None  # no traversal and no hidden files (the manifest), whatever the spelling
        relative = posixpath.join(*parts) if parts else ""
        return relative or "index.html"

    def _resolve(self, relative: str) -> Path | None:
        """The file under the root that ``relative`` names, following no link out of the root."""
        root = self.server.root
        candidate = (root / relative).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
        return candidate

    def _feed(self) -> bytes | None:
        """The feed with this server's address, or None to fall back to the file on disk."""
        built = read_manifest(self.server.root)
        if built is None:
            return None
        show, episodes = built
        return build_feed(show, episodes, self._base_url())

    def _base_url(self) -> str:
        """Where the client reached us: the Host header when it is a plain host[:port]."""
        host = self.headers.get("Host", "")
        if not _HOST.match(host):
            address, port = self.server.server_address[:2]
            host = f"{address!s}:{port}"
        return f"http://{host}/"

    # ------------------------------------------------------------------ responses

    def _send(self, body: BinaryIO, size: int, content_type: str, mtime: float | None, send_body: bool) -> None:
        etag = f'"{size:x}-{int(mtime * 1000):x}"' if mtime is not None else None
        header = self.headers.get("Range")
        if header and self.headers.get("If-Range") and not self._if_range_matches(etag, mtime):
            header = None  # the client's copy is stale: send the whole new file
        try:
            selected = parse_range(header, size)
        except Unsatisfiable:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            return
        first, last = selected if selected else (0, size - 1)
        length = max(0, last - first + 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT if selected else HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        if selected:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        if etag and mtime is not None:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", email.utils.formatdate(mtime, usegmt=True))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if not send_body:
            return
        body.seek(first)
        remaining = length
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while remaining > 0:
                chunk = body.read(min(CHUNK, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)

    def _if_range_matches(self, etag: str | None, mtime: float | None) -> bool:
        value = (self.headers.get("If-Range") or "").strip()
        if value.startswith(('"', "W/")):
            return etag is not None and value == etag
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return parsed is not None and mtime is not None and int(parsed.timestamp()) >= int(mtime)

    def _error(self, status: HTTPStatus) -> None:
        body = f"{status.value} {status.phrase}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)


# --------------------------------------------------------------------------- starting it


def check_pack_folder(folder: Path) -> Path:
    """``folder`` if it holds a built pack; else a clear error saying how to make one."""
    if not folder.is_dir():
        raise NotAPackError(f"{folder}: no such folder; build a pack first with 'voiceguide pack build'")
    if not (folder / MANIFEST).is_file() or not (folder / "index.html").is_file():
        raise NotAPackError(f"{folder}: not a built pack (no {MANIFEST} or index.html); "
                            "build one with 'voiceguide pack build PACK -o FOLDER'")
    return folder


def make_server(folder: Path, host: str = "0.0.0.0", port: int = 8000) -> PackServer:
    """A server for ``folder`` bound to ``host:port`` (port 0: any free port), not yet serving."""
    check_pack_folder(folder)
    try:
        return PackServer((host, port), folder)
    except OSError as e:
        raise ServeError(f"cannot listen on {host}:{port} ({e.strerror or e}); try another --port") from e


def lan_address() -> str:
    """This machine's address on the local network, for URLs a phone can open.

    Connecting a UDP socket sends nothing; it only asks the kernel which interface and address
    would be used for the route, which is the LAN address on a typical home network.
    """
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: never contacted, only routed
        address: str = s.getsockname()[0]
        if not address.startswith("0."):
            return address
    with contextlib.suppress(OSError):
        address = socket.gethostbyname(socket.gethostname())
        if not address.startswith("127."):
            return address
    return "127.0.0.1"


def public_urls(server: PackServer, host: str) -> tuple[str, str]:
    """The page URL and the feed URL as a phone on the network would open them."""
    port = server.server_address[1]
    shown = lan_address() if host in ("", "0.0.0.0", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    base = f"http://{shown}:{port}/"
    return base, base + "feed.xml"


def qr_text(data: str) -> str:
    """A QR code of ``data`` drawn with block characters, for a phone's camera to read off a terminal."""
    import qrcode  # type: ignore[import-untyped]

    qr = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_L)
    qr.add_data(data)
    qr.make(fit=True)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def running(server: PackServer) -> Iterator[PackServer]:
    """Stop on Ctrl-C or SIGTERM, and close the listening socket however serving ends.

    SIGINT is set to raise even when the process was started with it ignored (as a background
    job of a non-interactive shell is), so Ctrl-C and ``kill -INT`` always stop the server.
    """
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        for sig in previous:
            signal.signal(sig, _interrupt)
    try:
        yield server
    finally:
        server.server_close()
        if in_main:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
