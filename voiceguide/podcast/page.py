"""The page of a built pack: one self-contained ``index.html`` that plays every episode.

Everything is inline (CSS, script, chapters, transcripts) and every link is relative, so the page
works from the LAN server, from any static host and straight from the folder, offline, with no
CDN, web font or build step. Text is escaped with :func:`html.escape`; nothing is templated from
strings a user wrote without it.
"""

from __future__ import annotations

import datetime
from html import escape
from urllib.parse import quote

from voiceguide.podcast.feed import EpisodeInfo, ShowInfo

STYLE = """
:root { color-scheme: light dark; --bg: #f7f5ef; --fg: #1d2733; --muted: #5b6672; --card: #ffffff;
  --accent: #175e6b; --now: #f7c470; --line: #d9d4c7; }
@media (prefers-color-scheme: dark) { :root { --bg: #10161d; --fg: #e9edf1; --muted: #9aa6b2;
  --card: #18212b; --accent: #7cc7d3; --now: #6b5320; --line: #2b3642; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.5;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.show { display: flex; gap: 1.5rem; align-items: flex-start; flex-wrap: wrap; padding: 1.5rem;
  max-width: 60rem; margin: 0 auto; }
header.show img { width: 12rem; height: 12rem; border-radius: 0.75rem; object-fit: cover; flex: none; }
header.show div { flex: 1 1 20rem; }
h1 { margin: 0 0 0.25rem; font-size: 1.9rem; line-height: 1.2; }
.author, .meta { color: var(--muted); margin: 0 0 0.5rem; }
.subscribe { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; }
.subscribe a { background: var(--accent); color: var(--bg); padding: 0.45rem 0.9rem; border-radius: 999px;
  text-decoration: none; font-weight: 600; }
.subscribe code { font-size: 0.85rem; color: var(--muted); word-break: break-all; }
main { max-width: 60rem; margin: 0 auto; padding: 0 1rem 2rem; }
article.episode { background: var(--card); border: 1px solid var(--line); border-radius: 0.75rem;
  padding: 1rem 1.25rem; margin: 0 0 1rem; }
article h2 { margin: 0 0 0.25rem; font-size: 1.3rem; }
article h2 .num { color: var(--accent); margin-right: 0.4rem; }
audio { width: 100%; margin: 0.5rem 0; }
h3 { font-size: 1rem; margin: 0.75rem 0 0.25rem; }
ol.chapters, ol.lines { list-style: none; margin: 0; padding: 0; }
ol.chapters li, ol.lines li { margin: 0; }
button.seek { all: unset; cursor: pointer; display: flex; gap: 0.75rem; width: 100%; padding: 0.3rem 0.5rem;
  border-radius: 0.4rem; }
button.seek:hover, button.seek:focus-visible { background: var(--line); outline: none; }
button.seek[aria-current="true"] { background: var(--now); }
.at { font-variant-numeric: tabular-nums; color: var(--muted); min-width: 3.5rem; }
details.transcript { margin-top: 0.5rem; }
details.transcript summary { cursor: pointer; font-weight: 600; }
ol.lines { max-height: 22rem; overflow-y: auto; margin-top: 0.5rem; }
.files { font-size: 0.9rem; color: var(--muted); }
.files a { color: var(--accent); }
footer { text-align: center; color: var(--muted); font-size: 0.85rem; padding: 1rem; }
footer a { color: var(--accent); }
"""

SCRIPT = """
(function () {
  "use strict";
  function seek(audio, seconds) {
    function go() {
      audio.currentTime = seconds;
      var playing = audio.play();
      if (playing && playing.catch) { playing.catch(function () {}); }
    }
    if (audio.readyState >= 1) { go(); }
    else { audio.addEventListener("loadedmetadata", go, { once: true }); audio.load(); }
  }
  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-start]");
    if (!target) { return; }
    var audio = target.closest("article").querySelector("audio");
    seek(audio, parseFloat(target.getAttribute("data-start")));
  });
  function mark(audio) {
    var article = audio.closest("article");
    var t = audio.currentTime + 0.05;
    article.querySelectorAll("ol").forEach(function (list) {
      var items = list.querySelectorAll("[data-start]");
      var current = null;
      items.forEach(function (item) { if (parseFloat(item.getAttribute("data-start")) <= t) { current = item; } });
      items.forEach(function (item) {
        if (item === current) { item.setAttribute("aria-current", "true"); }
        else { item.removeAttribute("aria-current"); }
      });
    });
  }
  var players = document.querySelectorAll("audio");
  players.forEach(function (audio) {
    audio.addEventListener("play", function () {
      players.forEach(function (other) { if (other !== audio) { other.pause(); } });
    });
    audio.addEventListener("timeupdate", function () { mark(audio); });
    audio.addEventListener("seeked", function () { mark(audio); });
  });
  if (location.protocol === "http:" || location.protocol === "https:") {
    var feed = new URL("feed.xml", location.href);
    var app = document.getElementById("subscribe-app");
    app.href = "podcast://" + feed.host + feed.pathname;
    app.hidden = false;
    var shown = document.getElementById("feed-url");
    shown.textContent = feed.href;
    shown.hidden = false;
  }
})();
"""


def clock(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    total = int(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _date(iso: str) -> str:
    day = datetime.datetime.fromisoformat(iso)
    return f"{day:%a} {day.day} {day:%b %Y}"


def stretch_count(episode: EpisodeInfo) -> int:
    """The stretches of an episode: as recorded, else its chapters less the welcome and closing."""
    if episode.stretches:
        return episode.stretches
    return len([c for c in episode.chapters if c.get("title") not in ("Welcome", "Closing")])


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _seek_button(start: float, label: str) -> str:
    return (f'<button type="button" class="seek" data-start="{start:g}">'
            f'<span class="at">{clock(start)}</span><span>{escape(label)}</span></button>')


def _episode(episode: EpisodeInfo) -> str:
    audio = quote(episode.audio)
    chapters = "\n".join(f"      <li>{_seek_button(c['startTime'], c['title'])}</li>" for c in episode.chapters)
    lines = "\n".join(f"        <li>{_seek_button(start, line)}</li>" for start, line in episode.transcript)
    return f"""  <article class="episode" id="ep-{episode.number}" data-guid="{escape(episode.guid)}">
    <h2><span class="num">{episode.number}</span>{escape(episode.title)}</h2>
    <p class="meta"><time datetime="{escape(episode.pub_date)}">{_date(episode.pub_date)}</time>
      · {clock(episode.duration_s)} · {_count(stretch_count(episode), "stretch", "stretches")}</p>
    <p>{escape(episode.description)}</p>
    <audio controls preload="metadata" src="{audio}"></audio>
    <h3>Chapters</h3>
    <ol class="chapters">
{chapters}
    </ol>
    <details class="transcript">
      <summary>Transcript</summary>
      <ol class="lines">
{lines}
      </ol>
      <p class="files"><a href="{quote(episode.transcript_file)}">WebVTT</a> ·
        <a href="{quote(episode.chapters_file)}">Chapters (JSON)</a> ·
        <a href="{audio}" download>Download MP3</a></p>
    </details>
  </article>"""


def build_page(show: ShowInfo, episodes: list[EpisodeInfo]) -> str:
    """The whole page as one HTML document."""
    title = escape(show.title)
    body = "\n".join(_episode(e) for e in sorted(episodes, key=lambda e: e.number))
    return f"""<!doctype html>
<html lang="{escape(show.language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="voiceguide">
<title>{title}</title>
<link rel="alternate" type="application/rss+xml" title="{title}" href="feed.xml">
<link rel="icon" href="{quote(show.cover)}">
<style>{STYLE}</style>
</head>
<body>
<header class="show">
  <img src="{quote(show.cover)}" alt="Cover of {title}" width="1400" height="1400">
  <div>
    <h1>{title}</h1>
    <p class="author">by {escape(show.author)} · {_count(len(episodes), "episode", "episodes")}</p>
    <p>{escape(show.description)}</p>
    <p class="subscribe">
      <a id="subscribe" href="feed.xml" type="application/rss+xml">Subscribe (RSS)</a>
      <a id="subscribe-app" href="feed.xml" hidden>Open in a podcast app</a>
      <code id="feed-url" hidden>feed.xml</code>
    </p>
  </div>
</header>
<main>
{body}
</main>
<footer>Made with voiceguide · <a href="feed.xml">feed.xml</a></footer>
<script>{SCRIPT}</script>
</body>
</html>
"""
