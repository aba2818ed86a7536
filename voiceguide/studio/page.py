"""The studio's page: one HTML file with its style and script inline (no build step, nothing from
outside), given the page's token and the feed's address when it is served."""

from __future__ import annotations

import functools
import html
from importlib.resources import files


@functools.cache
def _template() -> str:
    return (files("voiceguide.studio") / "page.html").read_text(encoding="utf-8")


def page_html(token: str, feed_url: str) -> str:
    """The page for a visitor holding the key."""
    return (_template().replace("{{TOKEN}}", html.escape(token, quote=True))
            .replace("{{FEED}}", html.escape(feed_url, quote=True)))


def refused_html() -> str:
    """What a visitor without the key sees: how to get in, and nothing private."""
    return ("<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            "<title>voiceguide studio</title><body style='font:18px system-ui;margin:2em'>"
            "<h1>voiceguide studio</h1><p>This studio needs its key. Open the address that "
            "<code>voiceguide serve</code> printed (or scan its QR code); it ends in <code>?key=…</code>.</p>")
