"""Text views of a timeline: captions parse back, JSON keeps its contract, the listing reads in mm:ss."""

from __future__ import annotations

import json
import re
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiceguide.session.compose import ComposeOptions, compose
from voiceguide.session.export import FORMATS, render_text, to_srt, to_text, to_vtt
from voiceguide.session.timeline import Chapter, Cue, Timeline

from .conftest import bundled, fake_length

SRT_TIME = re.compile(r"^(\d{2}):([0-5]\d):([0-5]\d),(\d{3}) --> (\d{2}):([0-5]\d):([0-5]\d),(\d{3})$")
VTT_TIME = re.compile(r"^(\d{2}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2}):([0-5]\d):([0-5]\d)\.(\d{3})$")


def seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_srt(text: str) -> list[tuple[int, float, float, str]]:
    """(number, start, end, text) of each SubRip block; fails on anything malformed."""
    assert text.endswith("\n") and not text.endswith("\n\n\n")
    blocks = text.strip("\n").split("\n\n")
    out = []
    for block in blocks:
        lines = block.split("\n")
        assert len(lines) >= 3, block
        assert lines[0].isdigit(), block
        m = SRT_TIME.match(lines[1])
        assert m, lines[1]
        out.append((int(lines[0]), seconds(*m.groups()[:4]), seconds(*m.groups()[4:]), "\n".join(lines[2:])))
    return out


def parse_vtt(text: str) -> list[tuple[str, float, float, str]]:
    """(identifier, start, end, text) of each WebVTT cue; fails on anything malformed."""
    assert text.startswith("WEBVTT\n\n")
    body = text[len("WEBVTT\n\n"):]
    out = []
    for block in body.strip("\n").split("\n\n"):
        lines = block.split("\n")
        assert len(lines) >= 3, block
        assert "-->" not in lines[0]
        m = VTT_TIME.match(lines[1])
        assert m, lines[1]
        out.append((lines[0], seconds(*m.groups()[:4]), seconds(*m.groups()[4:]), "\n".join(lines[2:])))
    return out


@pytest.fixture(scope="module")
def timeline() -> Timeline:
    catalog = bundled()
    return compose(catalog.routines["kneeling-back"], catalog)


@pytest.fixture(scope="module")
def sided_timeline() -> Timeline:
    catalog = bundled()
    from voiceguide.catalog.load import resolve_routine

    return compose(resolve_routine("cat-cow,figure-four", catalog), catalog, ComposeOptions(), fake_length)


def check_srt(tl: Timeline) -> None:
    parsed = parse_srt(to_srt(tl))
    speech = tl.speech()
    assert [n for n, *_ in parsed] == list(range(1, len(speech) + 1))
    assert [t for *_, t in parsed] == [c.text for c in speech]
    for (_, start, end, _), cue in zip(parsed, speech, strict=True):
        assert start < end
        assert start == pytest.approx(cue.start_s, abs=0.0005 + 1e-9)
        assert end == pytest.approx(cue.end_s, abs=0.0005 + 1e-9)
    for a, b in pairwise(parsed):
        assert b[1] >= a[2]


def check_vtt(tl: Timeline) -> None:
    parsed = parse_vtt(to_vtt(tl))
    speech = tl.speech()
    assert len(parsed) == len(speech)
    assert [t for *_, t in parsed] == [c.text for c in speech]
    idents = [ident for ident, *_ in parsed]
    assert len(set(idents)) == len(idents)
    for n, (ident, start, end, _), cue in zip(range(1, len(speech) + 1), parsed, speech, strict=True):
        assert ident.split(" ")[0] == str(n)
        if cue.chapter is not None:
            assert ident == f"{n} {tl.chapters[cue.chapter].stretch}"
        assert start < end
        assert start == pytest.approx(cue.start_s, abs=0.0005 + 1e-9)
        assert end == pytest.approx(cue.end_s, abs=0.0005 + 1e-9)
    for a, b in pairwise(parsed):
        assert b[1] >= a[2]


def test_srt_parses_back(timeline: Timeline, sided_timeline: Timeline) -> None:
    check_srt(timeline)
    check_srt(sided_timeline)


def test_vtt_parses_back(timeline: Timeline, sided_timeline: Timeline) -> None:
    check_vtt(timeline)
    check_vtt(sided_timeline)


def handmade(times: list[tuple[float, float]], texts: list[str] | None = None) -> Timeline:
    texts = texts or [f"Line {n}." for n in range(len(times))]
    cues = tuple(Cue(a, b, "speech", "instruction", t, 0) for (a, b), t in zip(times, texts, strict=True))
    end = times[-1][1]
    return Timeline("Hand made", "hand-made", end, (Chapter("Cat-Cow", "cat-cow", 0.0, end),), cues)


def test_clock_format_carries_into_minutes_and_hours() -> None:
    tl = handmade([(0.0, 1.25), (59.9996, 61.5), (3599.9996, 3661.042)])
    srt = to_srt(tl)
    assert "00:00:00,000 --> 00:00:01,250" in srt
    assert "00:01:00,000 --> 00:01:01,500" in srt  # 59.9996 s rounds up to a whole minute
    assert "01:00:00,000 --> 01:01:01,042" in srt
    vtt = to_vtt(tl)
    assert "01:00:00.000 --> 01:01:01.042" in vtt


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(
        st.tuples(st.floats(0, 5, allow_nan=False), st.floats(0.01, 30, allow_nan=False)), min_size=1, max_size=25
    ),
    offset=st.sampled_from([0.0, 59.0, 3590.0, 36000.0]),
)
def test_captions_parse_back_for_any_times(gaps: list[tuple[float, float]], offset: float) -> None:
    times, t = [], offset
    for gap, length in gaps:
        times.append((t + gap, t + gap + length))
        t += gap + length
    tl = handmade(times)
    check_srt(tl)
    check_vtt(tl)


def test_captions_skip_silence_and_tones(timeline: Timeline) -> None:
    assert any(c.kind != "speech" for c in timeline.cues)
    assert len(parse_srt(to_srt(timeline))) == sum(1 for c in timeline.cues if c.kind == "speech")


# --------------------------------------------------------------------------- JSON


def test_json_has_the_contract_keys(timeline: Timeline) -> None:
    data = json.loads(render_text(timeline, "json"))
    assert {"title", "routine", "duration_s", "chapters", "cues"} <= set(data)
    assert data["title"] == timeline.title
    assert data["routine"] == timeline.routine == "kneeling-back"
    assert data["duration_s"] == pytest.approx(timeline.duration_s, abs=0.0005)
    assert len(data["chapters"]) == len(timeline.chapters)
    for chapter in data["chapters"]:
        assert {"title", "stretch", "start_s", "end_s"} <= set(chapter)
        assert chapter["start_s"] < chapter["end_s"]
    assert len(data["cues"]) == len(timeline.cues)
    for cue, original in zip(data["cues"], timeline.cues, strict=True):
        assert {"start_s", "end_s", "kind", "role", "text"} <= set(cue)
        assert cue["kind"] in ("speech", "silence", "tone")
        assert (cue["text"] is None) == (cue["kind"] != "speech")
        assert cue["text"] == original.text
        assert cue["start_s"] == pytest.approx(original.start_s, abs=0.0005)


def test_json_round_trips(timeline: Timeline, sided_timeline: Timeline) -> None:
    for tl in (timeline, sided_timeline):
        data = json.loads(tl.to_json())
        back = Timeline.from_dict(data)
        assert back.to_dict() == data
        assert back.title == tl.title and back.routine == tl.routine
        assert [c.text for c in back.cues] == [c.text for c in tl.cues]
        assert [(c.kind, c.role, c.chapter) for c in back.cues] == [(c.kind, c.role, c.chapter) for c in tl.cues]
        assert [c.stretch for c in back.chapters] == [c.stretch for c in tl.chapters]
        assert back.meta == tl.meta  # options and doses survive


def test_json_is_utf8_text_not_escaped() -> None:
    tl = handmade([(0.0, 1.0)], ["Child’s Pose — rest."])
    out = tl.to_json()
    assert "Child’s Pose — rest." in out
    assert json.loads(out)["cues"][0]["text"] == "Child’s Pose — rest."


# --------------------------------------------------------------------------- text listing


def mmss(s: float) -> str:
    return f"{int(s) // 60:02d}:{int(s) % 60:02d}"


def test_text_listing_has_mm_ss_lines(timeline: Timeline) -> None:
    text = to_text(timeline)
    lines = text.splitlines()
    assert lines[0] == f"{timeline.title} ({mmss(timeline.duration_s)})"
    assert lines[-1] == f"{mmss(timeline.duration_s)}  end"
    said = [line for line in lines if re.match(r"^\d{2}:\d{2}  \S", line) and not line.endswith("  end")]
    speech = timeline.speech()
    assert len(said) == len(speech)
    for line, cue in zip(said, speech, strict=True):
        assert line.startswith(mmss(cue.start_s) + "  ")
        assert line.split(None, 2)[1] == cue.role
        assert line.endswith(str(cue.text))
    headings = [line for line in lines if line.startswith("== ")]
    assert headings == [f"== {c.title} ({mmss(c.start_s)}-{mmss(c.end_s)})" for c in timeline.chapters]
    stamps = [line[:5] for line in lines[1:] if re.match(r"^\d{2}:\d{2}", line)]
    assert stamps == sorted(stamps)


def test_text_listing_shows_long_silences(timeline: Timeline) -> None:
    text = to_text(timeline)
    long_quiet = [c for c in timeline.cues if c.kind == "silence" and c.duration_s >= 3]
    assert long_quiet
    assert text.count(" ... ") == len(long_quiet)


def test_render_text_covers_every_format(timeline: Timeline) -> None:
    assert set(FORMATS) == {"text", "json", "srt", "vtt"}
    assert render_text(timeline, "text") == to_text(timeline)
    assert render_text(timeline, "srt") == to_srt(timeline)
    assert render_text(timeline, "vtt") == to_vtt(timeline)
    assert json.loads(render_text(timeline, "json")) == timeline.to_dict()
