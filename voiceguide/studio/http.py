"""HTTP pieces shared by every page the server answers: files with ranges, bodies with validators.

Starlette's ``FileResponse`` and ``StaticFiles`` do ranges, ``If-Range``, conditional requests, HEAD
and 405. Two things are put in front of them: its range parser answers 400 to a range RFC 9110
says to ignore (``bytes=5-2``, ``seconds=0-10``, numbers of thousands of digits), so the header is
first checked here and passed on in a canonical form or dropped; and several ranges get the whole
file (allowed by RFC 9110, and no player asks for them). Made bodies (feeds, lists) get an ETag
from their bytes, never from a size and a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any, BinaryIO

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

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
ALLOWED = "GET, HEAD"


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
        length = _position(last_text)
        if length == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - length), size - 1
    first = _position(first_text)
    if last_text and _position(last_text) < first:
        return None  # invalid: ignored
    if first >= size:
        raise Unsatisfiable
    last = min(_position(last_text), size - 1) if last_text else size - 1
    return first, last


_HUGE = 1 << 63


def _position(digits: str) -> int:
    """A byte position as written; any number past 2**63 (even thousands of digits) counts as 2**63."""
    digits = digits.lstrip("0") or "0"
    return _HUGE if len(digits) > 19 else min(int(digits), _HUGE)


def canonical_range(scope: Scope, size: int) -> None:
    """Put ``scope``'s Range header the way Starlette should see it: one ``bytes=FIRST-LAST``, a
    range past the end (which it answers 416), or none at all (the whole file)."""
    headers = Headers(scope=scope)
    try:
        selected = parse_range(headers.get("range"), size)
    except Unsatisfiable:
        value: str | None = f"bytes={size}-"
    else:
        value = f"bytes={selected[0]}-{selected[1]}" if selected else None
    raw = [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]
    if value is not None:
        raw.append((b"range", value.encode("latin-1")))
    scope["headers"] = raw


# --------------------------------------------------------------------------- files


class Files(StaticFiles):
    """A folder's files: no hidden file or folder (a manifest, a half-made session), no link out,
    explicit content types, ranges checked as above."""

    def __init__(self, directory: str | os.PathLike[str], *, index: str | None = None) -> None:
        super().__init__(directory=directory)
        self.index = index

    async def get_response(self, path: str, scope: Scope) -> Response:
        """As StaticFiles does, but the file is looked up in the event loop (a stat on a local disk
        costs less than a trip to a worker thread), and ``/`` is the index file."""
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(status_code=405, headers={"Allow": ALLOWED})
        if path == "." and self.index:
            path = self.index
        try:
            full_path, stat_result = self.lookup_path(path)
        except (OSError, ValueError):  # a name too long, a NUL byte, no permission
            raise HTTPException(status_code=404) from None
        if stat_result is None or not stat.S_ISREG(stat_result.st_mode):
            raise HTTPException(status_code=404)
        return self.file_response(full_path, stat_result, scope)

    def get_path(self, scope: Scope) -> str:
        path = super().get_path(scope)
        if "\\" in path or any(part.startswith(".") and part != "." for part in path.split(os.sep)):
            raise HTTPException(status_code=404)
        return path

    def file_response(self, full_path: Any, stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        canonical_range(scope, stat_result.st_size)  # the same scope answers the request
        suffix = os.path.splitext(str(full_path))[1].lower()
        response = LocalFileResponse(full_path, status_code=status_code, stat_result=stat_result,
                                     media_type=CONTENT_TYPES.get(suffix, "application/octet-stream"),
                                     headers={"Cache-Control": "no-cache"})
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


class LocalFileResponse(FileResponse):
    """A file on a local disk, read in the event loop, and sent without a task listening for the
    client to hang up.

    Under 200 concurrent range requests, Starlette's defaults made each answer several times slower
    than the threaded server before: five trips to a worker thread per file (open, seek, read, read,
    close; a 64 KB read from the page cache costs less in the loop) and, for a server speaking ASGI
    below 2.4 as uvicorn does, a task group per response to watch for a disconnect. Without that
    watcher, a client that hangs up mid-file costs the rest of its range read into a send that
    uvicorn drops: no more than a client that stays, and MP3 sessions are a few MB.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = {**scope, "asgi": {**scope.get("asgi", {}), "spec_version": "2.4"}}
        await super().__call__(streaming, receive, send)

    @contextlib.asynccontextmanager
    async def _open_file(self) -> AsyncIterator[Any]:
        with open(self.path, "rb") as file:
            yield _AwaitableFile(file)


class _AwaitableFile:
    """A binary file with the awaitable ``read`` and ``seek`` that FileResponse calls."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file

    async def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    async def seek(self, offset: int) -> int:
        return self.file.seek(offset)


# --------------------------------------------------------------------------- made bodies


def body_response(body: bytes, media_type: str, request_headers: Headers, mtime: float | None = None) -> Response:
    """``body`` with an ETag made from its bytes, answering a matching ``If-None-Match`` with 304."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if mtime is not None:
        headers["Last-Modified"] = formatdate(mtime, usegmt=True)
    tags = [t.strip().removeprefix("W/") for t in request_headers.get("if-none-match", "").split(",")]
    if "*" in tags or etag in tags:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")


def request_base_url(scope: Scope) -> str:
    """Where the client reached us: the Host header when it is a plain host[:port]."""
    host = Headers(scope=scope).get("host", "")
    if not _HOST.match(host):
        address, port = scope["server"] if scope.get("server") else ("127.0.0.1", 80)
        host = f"[{address}]:{port}" if ":" in str(address) else f"{address}:{port}"
    return f"http://{host}/"


# --------------------------------------------------------------------------- the protocol


class HttpVersions:
    """Answer 505 to an HTTP version other than 1.0 and 1.1 (uvicorn's parser lets 9.9 through);
    a request line with no version at all (HTTP/0.9) or garbage gets uvicorn's 400, with a status line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("http_version") not in ("1.0", "1.1"):
            response = PlainTextResponse("505 HTTP Version Not Supported\n", status_code=505,
                                         headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
