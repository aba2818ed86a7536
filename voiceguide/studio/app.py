"""The studio as an ASGI app: the page, the API a phone makes sessions with, the library's files
and its podcast feed. Routes are the table at the end; everything but the page's address with its
key and the feed (whose URLs carry the key) needs the key's cookie, and every change the page's token.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from voiceguide.catalog.types import CAUTION_TAGS, FOCUS_AREAS, Catalog
from voiceguide.errors import VoiceguideError
from voiceguide.session.compose import LEVELS
from voiceguide.session.timeline import Timeline
from voiceguide.studio.access import COOKIE, Access, kept_key
from voiceguide.studio.asks import Ask, AskError, preview, read_ask
from voiceguide.studio.http import CONTENT_TYPES, Files, HttpVersions, body_response, request_base_url
from voiceguide.studio.jobs import FINAL, Busy, Job, Jobs
from voiceguide.studio.library import SESSION_ID, SHOW_TITLE, Library
from voiceguide.studio.page import page_html, refused_html
from voiceguide.voice.settings import DEFAULT_RATE_WPM, MAX_RATE_WPM, MIN_RATE_WPM

MAX_BODY = 16 * 1024
"""Bytes a request's JSON may have: a request for a session is a few hundred."""
EVENT_POLL_S = 0.1
KEEPALIVE_S = 15.0
NO_KEY = "this needs the studio's key: open the address 'voiceguide serve' printed, with its key"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "img-src 'self' data:; media-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class Studio:
    """What the routes share: the catalog, the library, the jobs and the key."""

    def __init__(self, catalog: Catalog, library: Library, jobs: Jobs, access: Access, engine: str | None) -> None:
        self.catalog = catalog
        self.library = library
        self.jobs = jobs
        self.access = access
        self.engine = engine
        self.files = Files(library.root)
        self._cover: bytes | None = None

    def cover(self) -> bytes:
        if self._cover is None:
            from voiceguide.podcast.cover import generate_cover

            self._cover = generate_cover(SHOW_TITLE, "voiceguide")
        return self._cover


def studio_of(request: Request) -> Studio:
    studio: Studio = request.app.state.studio
    return studio


def refusal(request: Request, studio: Studio) -> Response | None:
    """403 for a request without the key, or a change not made from the studio's page."""
    if not studio.access.allowed(request):
        return JSONResponse({"error": NO_KEY}, status_code=403)
    reason = studio.access.forged(request)
    if reason:
        return JSONResponse({"error": reason}, status_code=403)
    return None


def problem(message: str, status: int, field: str | None = None, headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers=headers)


async def read_json(request: Request) -> Any:
    """The request's JSON body, at most :data:`MAX_BODY` bytes."""
    if "application/json" not in request.headers.get("content-type", ""):
        raise HTTPException(415, "send JSON (Content-Type: application/json)")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HTTPException(413, f"a request may have at most {MAX_BODY} bytes")
    try:
        return json.loads(body or b"null")
    except ValueError:
        raise HTTPException(400, "the body is not JSON") from None


# --------------------------------------------------------------------------- the page


async def page(request: Request) -> Response:
    studio = studio_of(request)
    key = request.query_params.get("key")
    if key is not None:
        if not studio.access.matches(key):
            return Response(refused_html(), status_code=403, media_type="text/html", headers=SECURITY_HEADERS)
        response = RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
        response.headers["set-cookie"] = studio.access.cookie_header()
        return response  # the key leaves the address bar (and the history) at once
    if not studio.access.allowed(request):
        return Response(refused_html(), status_code=403, media_type="text/html", headers=SECURITY_HEADERS)
    feed = f"{request_base_url(request.scope)}k/{studio.access.key}/feed.xml"
    return Response(page_html(studio.access.token, feed), media_type="text/html",
                    headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})


# --------------------------------------------------------------------------- the API


async def choices(request: Request) -> Response:
    studio = studio_of(request)
    if (refused := refusal(request, studio)) is not None:
        return refused
    routines = [{"id": r.id, "title": r.title, "minutes": r.minutes} for r in studio.catalog.routines.values()]
    voices = await anyio.to_thread.run_sync(_voices, studio.engine)
    return JSONResponse({
        "routines": sorted(routines, key=lambda r: r["title"]), "focus": list(FOCUS_AREAS),
        "positions": ["any", "floor", "seated", "standing"], "levels": list(LEVELS), "avoid": list(CAUTION_TAGS),
        "voices": voices, "pace": {"min": MIN_RATE_WPM, "max": MAX_RATE_WPM, "default": DEFAULT_RATE_WPM},
    })


def _voices(engine: str | None) -> list[dict[str, str]]:
    """The chosen engine's voices, for the voice menu (the engine's default first, as 'default')."""
    from voiceguide.voice.choose import choose_voice
    from voiceguide.voice.speech import list_voices

    try:
        choice = choose_voice(engine, None)
        found = list_voices(choice.factory)
    except VoiceguideError:
        return []
    return [{"id": v.id, "name": v.name} for v in found][:60]


async def preview_route(request: Request) -> Response:
    studio = studio_of(request)
    if (refused := refusal(request, studio)) is not None:
        return refused
    data = await read_json(request)
    try:
        ask, timeline = await anyio.to_thread.run_sync(_preview, studio, data)
    except AskError as e:
        return problem(e.format_message(), 400, e.field)
    return JSONResponse({"title": timeline.title, "minutes": round(timeline.duration_s / 60, 1),
                         "stretches": [c.title for c in timeline.chapters], "seed": ask.seed})


def _preview(studio: Studio, data: Any) -> tuple[Ask, Timeline]:
    ask = read_ask(data, studio.catalog, studio.engine)
    return ask, preview(ask, studio.catalog)


async def sessions(request: Request) -> Response:
    studio = studio_of(request)
    if (refused := refusal(request, studio)) is not None:
        return refused
    if request.method == "POST":
        data = await read_json(request)
        try:
            ask = await anyio.to_thread.run_sync(lambda: read_ask(data, studio.catalog, studio.engine))
            await anyio.to_thread.run_sync(preview, ask, studio.catalog)  # a request that cannot fit fails here
            job = studio.jobs.submit(ask)
        except AskError as e:
            return problem(e.format_message(), 400, e.field)
        except Busy as e:
            return problem(e.format_message(), 503, headers={"Retry-After": "30"})
        return JSONResponse(_job_body(job), status_code=202, headers={"Location": f"/api/jobs/{job.id}"})
    entries = await anyio.to_thread.run_sync(studio.library.entries)
    return JSONResponse({"sessions": [e.to_dict() for e in entries],
                         "feed": f"{request_base_url(request.scope)}k/{studio.access.key}/feed.xml"})


async def session(request: Request) -> Response:
    studio = studio_of(request)
    if (refused := refusal(request, studio)) is not None:
        return refused
    session_id = request.path_params["id"]
    if request.method == "DELETE":
        if not await anyio.to_thread.run_sync(studio.library.delete, session_id):
            return problem("no such session", 404)
        return Response(status_code=204)
    entry = studio.library.get(session_id)
    if entry is None:
        return problem("no such session", 404)
    return JSONResponse(entry.to_dict())


def _job_body(job: Job) -> dict[str, Any]:
    return {**job.snapshot(), "events": f"/api/jobs/{job.id}/events"}


async def job_route(request: Request) -> Response:
    studio = studio_of(request)
    if (refused := refusal(request, studio)) is not None:
        return refused
    job_id = request.path_params["id"]
    job = studio.jobs.cancel(job_id) if request.method == "DELETE" else studio.jobs.jobs.get(job_id)
    if job is None:
        return problem("no such job", 404)
    return JSONResponse(_job_body(job), status_code=202 if request.method == "DELETE" else 200)


async def job_events(request: Request) -> Response:
    """The job's progress as server-sent events: one ``data:`` line of JSON per change, until it ends."""
    studio = studio_of(request)
    if (refused := refusal(request, studio)) is not None:
        return refused
    job = studio.jobs.jobs.get(request.path_params["id"])
    if job is None:
        return problem("no such job", 404)

    async def events() -> AsyncIterator[str]:
        seen = -1
        quiet = 0.0
        while True:
            snapshot = job.snapshot()
            if snapshot["version"] != seen:
                seen = snapshot["version"]
                quiet = 0.0
                yield f"data: {json.dumps(snapshot)}\n\n"
                if snapshot["state"] in FINAL:
                    return
            elif quiet >= KEEPALIVE_S:
                quiet = 0.0
                yield ": still working\n\n"
            await anyio.sleep(EVENT_POLL_S)
            quiet += EVENT_POLL_S

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# --------------------------------------------------------------------------- files and the feed


class KeyRequired:
    """The library's files, for whoever holds the key's cookie."""

    def __init__(self, app: ASGIApp, studio: Studio) -> None:
        self.app = app
        self.studio = studio

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.studio.access.allowed(Request(scope)):
            await PlainTextResponse(NO_KEY, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def keyed(request: Request, studio: Studio) -> Response | None:
    """403 unless the path carries the key (the feed's URLs, for podcast apps that keep no cookie)."""
    if not studio.access.matches(request.path_params.get("key")):
        return PlainTextResponse(NO_KEY, status_code=403)
    return None


async def keyed_page(request: Request) -> Response:
    """The feed's own link (``/k/KEY/``): the studio's page, opened as the printed address opens it."""
    studio = studio_of(request)
    if (refused := keyed(request, studio)) is not None:
        return refused
    return RedirectResponse(f"/?key={studio.access.key}", status_code=303)


async def feed(request: Request) -> Response:
    studio = studio_of(request)
    if (refused := keyed(request, studio)) is not None:
        return refused
    base = f"{request_base_url(request.scope)}k/{studio.access.key}/"
    body = await anyio.to_thread.run_sync(studio.library.feed, base)
    return body_response(body, CONTENT_TYPES[".xml"], request.headers)


async def cover(request: Request) -> Response:
    studio = studio_of(request)
    if (refused := keyed(request, studio)) is not None:
        return refused
    return body_response(await anyio.to_thread.run_sync(studio.cover), "image/png", request.headers)


EPISODE_FILES = {".mp3": "session.mp3", ".chapters.json": "chapters.json", ".vtt": "session.vtt"}


async def episode(request: Request) -> Response:
    """``episodes/ID.mp3`` (and ``.chapters.json``, ``.vtt``) as the feed names them."""
    studio = studio_of(request)
    if (refused := keyed(request, studio)) is not None:
        return refused
    name = request.path_params["name"]
    for suffix, file in EPISODE_FILES.items():
        session_id = name.removesuffix(suffix)
        if name.endswith(suffix) and SESSION_ID.match(session_id):
            return await studio.files.get_response(f"{session_id}/{file}", request.scope)
    raise HTTPException(404)


def plain_errors(request: Request, exc: Exception) -> Response:
    """Errors as one line of text (JSON under /api/), with the headers they came with (405's Allow)."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    headers = exc.headers if isinstance(exc, HTTPException) else None
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": detail}, status_code=status, headers=headers)
    return PlainTextResponse(f"{status} {detail}\n", status_code=status, headers=headers)


def studio_app(catalog: Catalog, library_root: Path, engine: str | None = None, access: Access | None = None,
               jobs: Jobs | None = None, renew_key: bool = False) -> Starlette:
    """The studio for ``catalog``, keeping its sessions (and, unless ``access`` is given, its key) in
    ``library_root``; ``app.state.studio`` holds its parts (``jobs.stop()`` when the server ends)."""
    library = Library(library_root)
    access = access or Access(kept_key(library_root, renew_key))
    if jobs is None:
        def work(job: Job) -> str:
            from voiceguide.studio.making import make_session  # numpy and the audio modules: when first needed

            return make_session(job, library, catalog, engine)

        jobs = Jobs(work)
    studio = Studio(catalog, library, jobs, access, engine)
    routes = [
        Route("/", page, methods=["GET"]),
        Route("/api/choices", choices, methods=["GET"]),
        Route("/api/preview", preview_route, methods=["POST"]),
        Route("/api/sessions", sessions, methods=["GET", "POST"]),
        Route("/api/sessions/{id}", session, methods=["GET", "DELETE"]),
        Route("/api/jobs/{id}", job_route, methods=["GET", "DELETE"]),
        Route("/api/jobs/{id}/events", job_events, methods=["GET"]),
        Mount("/sessions", app=KeyRequired(studio.files, studio)),
        Route("/k/{key}/", keyed_page, methods=["GET"]),
        Route("/k/{key}/feed.xml", feed, methods=["GET"]),
        Route("/k/{key}/cover.png", cover, methods=["GET"]),
        Route("/k/{key}/episodes/{name}", episode, methods=["GET"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(HttpVersions)],
                    exception_handlers={HTTPException: plain_errors, Exception: plain_errors})
    app.state.studio = studio
    return app


__all__ = ["COOKIE", "Studio", "studio_app"]
