"""Text views of a timed script: a readable listing, JSON, and SRT/WebVTT captions."""

from __future__ import annotations

from voiceguide.session.timeline import Timeline

FORMATS = ("text", "json", "srt", "vtt")


def _clock(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_text(timeline: Timeline) -> str:
    """A mm:ss listing of what is said when, with a heading per stretch."""
    lines = [f"{timeline.title} ({_mmss(timeline.duration_s)})", ""]
    chapter = None
    for cue in timeline.cues:
        if cue.chapter != chapter and cue.chapter is not None:
            c = timeline.chapters[cue.chapter]
            lines += ["", f"== {c.title} ({_mmss(c.start_s)}-{_mmss(c.end_s)})"]
        chapter = cue.chapter
        if cue.kind == "speech":
            lines.append(f"{_mmss(cue.start_s)}  {cue.role:<11}  {cue.text}")
        elif cue.kind == "silence" and cue.duration_s >= 3:
            lines.append(f"{_mmss(cue.start_s)}  {'':<11}  ... {cue.role} {cue.duration_s:.0f} s")
    lines += ["", f"{_mmss(timeline.duration_s)}  end"]
    return "\n".join(lines) + "\n"


def _mmss(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m:02d}:{s:02d}"


def to_srt(timeline: Timeline) -> str:
    """SubRip captions, one per spoken line."""
    blocks = [
        f"{n}\n{_clock(c.start_s, ',')} --> {_clock(c.end_s, ',')}\n{c.text}\n"
        for n, c in enumerate(timeline.speech(), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(timeline: Timeline) -> str:
    """WebVTT captions, one cue per spoken line, with the stretch as the cue identifier's prefix."""
    out = ["WEBVTT", ""]
    for n, c in enumerate(timeline.speech(), start=1):
        ident = f"{n}" if c.chapter is None else f"{n} {timeline.chapters[c.chapter].stretch}"
        out += [ident, f"{_clock(c.start_s, '.')} --> {_clock(c.end_s, '.')}", str(c.text), ""]
    return "\n".join(out)


def render_text(timeline: Timeline, fmt: str) -> str:
    """The script in one of :data:`FORMATS`."""
    return {"text": to_text, "json": Timeline.to_json, "srt": to_srt, "vtt": to_vtt}[fmt](timeline)
