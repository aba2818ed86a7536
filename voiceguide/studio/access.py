"""Who may use the studio: whoever holds its key, and only from its own page.

The key is random, made the first time the studio starts and kept in the library folder (so a
podcast app subscribed once keeps working after a restart; ``serve --new-key`` replaces it), and
printed in the studio's address. Opening that
address once stores the key in a cookie (HttpOnly, SameSite=Strict) and drops it from the address
bar. Every private request needs the key (the cookie, or the key in the path for a podcast app,
which cannot keep cookies); a request that changes something also needs the page's token in a
header and, when the browser names one, the studio's own origin, so another site open in the same
browser cannot forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request

COOKIE = "voiceguide_key"
KEY_FILE = ".studio-key"
_KEY = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
TOKEN_HEADER = "x-voiceguide-token"
SAFE_METHODS = ("GET", "HEAD")


class Access:
    """The studio's key, and the checks made with it."""

    def __init__(self, key: str | None = None) -> None:
        self.key = key or secrets.token_urlsafe(18)
        self.token = hmac.new(self.key.encode(), b"state-changing requests", hashlib.sha256).hexdigest()[:32]

    def matches(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.key.encode())

    def allowed(self, request: Request) -> bool:
        """Whether the request carries the key (in its cookie)."""
        return self.matches(request.cookies.get(COOKIE))

    def forged(self, request: Request) -> str | None:
        """Why a state-changing request is refused, or None when it comes from the studio's page."""
        if request.method in SAFE_METHODS:
            return None
        token = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            return "refused: this request did not come from the studio's page (no valid token)"
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
            return "refused: this request came from another site"
        return None

    def cookie_header(self) -> str:
        return f"{COOKIE}={self.key}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000"


def kept_key(folder: Path, renew: bool = False) -> str:
    """The key kept in ``folder`` (readable by this user only), made when there is none or ``renew``."""
    path = folder / KEY_FILE
    if not renew:
        try:
            key = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            key = ""
        if _KEY.match(key):
            return key
    key = secrets.token_urlsafe(18)
    temporary = folder / f"{KEY_FILE}.{os.getpid()}.part"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as f:
        f.write(key + "\n")
    os.replace(temporary, path)
    return key
