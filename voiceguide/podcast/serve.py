"""Serve a built pack on the local network, so a phone on the same Wi-Fi can play or subscribe.

The pack's folder as files (ranges, validators, HEAD and 405 from Starlette, see
:mod:`voiceguide.studio.http`), nothing outside it however the path is spelled, and ``/feed.xml``
made from the build's manifest with the address the client used, whatever base URL the pack was
built with: once per address and build, then served from memory with an ETag of its bytes.
"""

from __future__ import annotations

import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import Scope

from voiceguide.errors import VoiceguideError
from voiceguide.podcast.feed import build_feed
from voiceguide.podcast.manifest import MANIFEST, read_manifest
from voiceguide.studio.http import (
    ALLOWED,
    CONTENT_TYPES,
    Files,
    HttpVersions,
    Unsatisfiable,
    body_response,
    parse_range,
    request_base_url,
)
from voiceguide.studio.server import ServeError, Server, base_url, lan_address, qr_text, reach_note

__all__ = ["ALLOWED", "MAX_FEEDS", "NotAPackError", "PackServer", "ServeError", "Unsatisfiable", "lan_address",
           "make_server", "parse_range", "public_urls", "qr_text", "reach_note"]

MAX_FEEDS = 16
"""Feeds kept in memory, one per address clients use (LAN address, localhost, a name)."""


class NotAPackError(VoiceguideError):
    """Raised when ``serve`` is given a folder that holds no built pack (no manifest or feed)."""


class PackFiles(Files):
    """A pack folder's files, its page at ``/`` and its feed made for the address the client used."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.feeds: dict[str, tuple[tuple[int, int], bytes]] = {}
        self._feeds_lock = threading.Lock()
        super().__init__(self.root, index="index.html")

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path == "feed.xml" and scope["method"] in ("GET", "HEAD"):
            feed = self.feed_for(request_base_url(scope))
            if feed is not None:
                body, mtime = feed
                return body_response(body, CONTENT_TYPES[".xml"], Headers(scope=scope), mtime)
        return await super().get_response(path, scope)

    def feed_for(self, base: str) -> tuple[bytes, float] | None:
        """The feed for clients reaching the server at ``base``, and when its build was written.

        Made once per address and per build (the manifest's size and time), then served from
        memory: a burst of feed requests costs one build of the feed, not one each.
        """
        try:
            stat = (self.root / MANIFEST).stat()
        except OSError:
            return None
        version = (stat.st_mtime_ns, stat.st_size)
        with self._feeds_lock:
            cached = self.feeds.get(base)
            if cached is None or cached[0] != version:
                built = read_manifest(self.root)
                if built is None:
                    return None
                if len(self.feeds) >= MAX_FEEDS:
                    self.feeds.clear()  # a client inventing Host names cannot grow memory
                cached = (version, build_feed(built[0], built[1], base))
                self.feeds[base] = cached
        return cached[1], stat.st_mtime


def not_found(request: object, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = exc.headers if isinstance(exc, HTTPException) else None
    phrase = {404: "Not Found", 405: "Method Not Allowed"}.get(status, "Error")
    return Response(f"{status} {phrase}\n", status_code=status, media_type="text/plain", headers=headers)


class PackServer(Server):
    """A server for one pack folder."""

    def __init__(self, folder: Path, host: str, port: int) -> None:
        self.files = PackFiles(folder)
        app = Starlette(routes=[Mount("/", app=self.files)], middleware=[Middleware(HttpVersions)],
                        exception_handlers={HTTPException: not_found})
        super().__init__(app, host, port)
        self.files.feed_for(base_url(self, host))  # the usual feed is made before the first phone asks


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
    return PackServer(folder, host, port)


def public_urls(server: Server, host: str) -> tuple[str, str]:
    """The page URL and the feed URL as a phone on the network would open them."""
    base = base_url(server, host)
    return base, base + "feed.xml"
