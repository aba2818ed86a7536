"""Podcast packs: validation, building, the feed (read by feedparser and an XML parser), chapters,
transcripts, tags, the cover, and rebuilds that render only what changed.

Builds use the deterministic tone engine and short inline routines, so a pack takes seconds.
"""

from __future__ import annotations

import copy
import datetime
import email.utils
import io
import itertools
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import feedparser
import pytest
import yaml
from click.testing import CliRunner
from mutagen.id3 import ID3
from mutagen.mp3 import MP3
from PIL import Image

from voiceguide.catalog.types import FLOOR_POSITIONS
from voiceguide.cli import main
from voiceguide.errors import BadOptionError, PackBuildError, UnknownIdError
from voiceguide.podcast.build import BuildResult, build_pack
from voiceguide.podcast.cover import MAX_SIZE, MIN_SIZE, generate_cover, podcast_cover
from voiceguide.podcast.feed import ITUNES_NS, PODCAST_NS, normalize_base_url
from voiceguide.podcast.manifest import MANIFEST, read_manifest
from voiceguide.podcast.packfile import load_pack
from voiceguide.voice.engines import Pyttsx3Engine, ToneEngine

from .conftest import FIXTURES, bundled, error_lines
from .test_export import parse_vtt

PACK_FIXTURES = FIXTURES / "packs"
BASE_URL = "https://example.org/stretch/"
NS = {"itunes": ITUNES_NS, "podcast": PODCAST_NS, "atom": "http://www.w3.org/2005/Atom"}

SMALL_PACK: dict[str, Any] = {
    "id": "small-pack",
    "title": "Small & quick pack",
    "description": "Three short sessions <for tests>.",
    "author": "Test Author",
    "language": "en",
    "start_date": "2025-03-01",
    "email": "author@example.org",
    "episodes": [
        {
            "title": "Tilts and rolls",
            "description": "Neck tilts, then shoulder rolls.",
            "routine": {
                "id": "tilts-and-rolls", "title": "Tilts and rolls",
                "stretches": [{"id": "neck-tilt", "reps": 4}, {"id": "shoulder-rolls", "reps": 6}],
            },
        },
        {
            "title": "Side bends",
            "routine": {
                "id": "side-bends", "title": "Side bends", "description": "Just side bends.",
                "stretches": [{"id": "seated-side-bend", "reps": 2}],
            },
        },
        {"title": "A desk break", "routine": "desk-break"},
    ],
}
SLUGS = ["01-tilts-and-rolls", "02-side-bends", "03-desk-break"]


def write_pack(folder: Path, data: dict[str, Any], name: str = "pack.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def build(pack_file: Path, folder: Path, **options: Any) -> BuildResult:
    """Build with the tone engine, as the CLI would with VOICEGUIDE_ENGINE=tone."""
    catalog = bundled()
    options.setdefault("base_url", BASE_URL)
    options.setdefault("factory", ToneEngine)
    return build_pack(load_pack(pack_file, catalog), catalog, folder, **options)


def build_tone_pack(factory: pytest.TempPathFactory, name: str, episodes: int, **options: Any) -> BuildResult:
    """The first ``episodes`` of the small pack, built with the tone engine into a fresh folder."""
    root = factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VOICEGUIDE_ENGINE", "tone")
        mp.setenv("VOICEGUIDE_CACHE_DIR", str(factory.getbasetemp() / "clips"))
        data = dict(SMALL_PACK, episodes=SMALL_PACK["episodes"][:episodes])
        return build(write_pack(root, data), root / "pack", **options)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and modification time, by path."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def guids(folder: Path) -> dict[str, str]:
    root = ET.parse(folder / "feed.xml").getroot()
    return {item.findtext("title", ""): item.findtext("guid", "") for item in root.iter("item")}


@pytest.fixture(autouse=True)
def tone_engine(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every build here speaks with the tone engine and caches clips in a temporary folder."""
    monkeypatch.setenv("VOICEGUIDE_ENGINE", "tone")
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "clips"))


@dataclass
class Built:
    pack_file: Path
    folder: Path
    output: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The small pack built once through the command line, two episodes at a time."""
    root = tmp_path_factory.mktemp("small-pack")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VOICEGUIDE_ENGINE", "tone")
        mp.setenv("VOICEGUIDE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "clips"))
        pack_file = write_pack(root, SMALL_PACK)
        result = CliRunner().invoke(
            main, ["pack", "build", str(pack_file), "-o", str(root / "out"), "--base-url", BASE_URL, "-j", "2"]
        )
        assert result.exit_code == 0, result.output
        yield Built(pack_file, root / "out", result.output)


@pytest.fixture()
def rebuildable(built: Built, tmp_path: Path) -> Built:
    """A private copy of the built pack (file times kept) that a test may rebuild and change."""
    folder = tmp_path / "out"
    shutil.copytree(built.folder, folder)
    return Built(write_pack(tmp_path, SMALL_PACK), folder, built.output)


def manifest(folder: Path) -> list[Any]:
    recorded = read_manifest(folder)
    assert recorded is not None
    return recorded[1]


# --------------------------------------------------------------------------- what a build writes


def test_build_writes_every_file(built: Built) -> None:
    for slug in SLUGS:
        for suffix in (".mp3", ".chapters.json", ".vtt"):
            assert (built.folder / "episodes" / f"{slug}{suffix}").stat().st_size > 0, slug + suffix
    for name in ("cover.png", "feed.xml", "index.html", MANIFEST):
        assert (built.folder / name).is_file(), name
    assert "3 episodes" in built.output and "3 rendered, 0 up to date" in built.output
    rendered = sorted(line for line in built.output.splitlines() if line.startswith("Rendered "))
    assert rendered == [f"Rendered {s}" for s in SLUGS]


def test_feed_parses_with_feedparser(built: Built) -> None:
    parsed = feedparser.parse((built.folder / "feed.xml").read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert parsed.feed.title == SMALL_PACK["title"]
    assert parsed.feed.language == "en"
    assert len(parsed.entries) == len(SMALL_PACK["episodes"])
    assert [e.title for e in parsed.entries] == [ep["title"] for ep in SMALL_PACK["episodes"]]
    for entry, slug in zip(parsed.entries, SLUGS):
        (enclosure,) = entry.enclosures
        assert enclosure.href == f"{BASE_URL}episodes/{slug}.mp3"
        assert enclosure.type == "audio/mpeg"
        local = built.folder / enclosure.href.removeprefix(BASE_URL)
        assert int(enclosure.length) == local.stat().st_size
        assert entry.guidislink is False
        assert entry.id.startswith("urn:uuid:")
    assert len({e.id for e in parsed.entries}) == len(parsed.entries)


def test_feed_has_what_apple_podcasts_requires(built: Built) -> None:
    root = ET.parse(built.folder / "feed.xml").getroot()
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext("title") == SMALL_PACK["title"]
    assert channel.findtext("description") == SMALL_PACK["description"]
    assert channel.findtext("link") == BASE_URL
    assert channel.findtext("language") == "en"
    image = channel.find("itunes:image", NS)
    assert image is not None and image.get("href") == BASE_URL + "cover.png"
    category = channel.find("itunes:category", NS)
    assert category is not None and category.get("text") == "Health & Fitness"
    assert channel.findtext("itunes:explicit", namespaces=NS) in ("true", "false")
    assert channel.findtext("itunes:author", namespaces=NS) == "Test Author"
    assert channel.findtext("itunes:owner/itunes:email", namespaces=NS) == "author@example.org"
    self_link = channel.find("atom:link[@rel='self']", NS)
    assert self_link is not None and self_link.get("href") == BASE_URL + "feed.xml"


def test_feed_items_carry_itunes_and_podcast_tags(built: Built) -> None:
    root = ET.parse(built.folder / "feed.xml").getroot()
    items = root.findall("channel/item")
    assert len(items) == 3
    start = datetime.datetime(2025, 3, 1, 6, tzinfo=datetime.timezone.utc)
    for number, (item, slug) in enumerate(zip(items, SLUGS), start=1):
        assert item.findtext("title") and item.findtext("description")
        enclosure = item.find("enclosure")
        assert enclosure is not None
        mp3 = built.folder / "episodes" / f"{slug}.mp3"
        assert enclosure.get("url") == f"{BASE_URL}episodes/{slug}.mp3"
        assert enclosure.get("length") == str(mp3.stat().st_size)
        assert enclosure.get("type") == "audio/mpeg"
        guid = item.find("guid")
        assert guid is not None and guid.get("isPermaLink") == "false" and guid.text
        published = email.utils.parsedate_to_datetime(item.findtext("pubDate", ""))
        assert published == start + datetime.timedelta(days=number - 1)
        duration = item.findtext("itunes:duration", namespaces=NS) or ""
        assert re.fullmatch(r"\d\d:\d\d:\d\d", duration)
        h, m, s = map(int, duration.split(":"))
        assert abs(h * 3600 + m * 60 + s - MP3(mp3).info.length) <= 1.0
        assert item.findtext("itunes:episode", namespaces=NS) == str(number)
        chapters = item.find("podcast:chapters", NS)
        assert chapters is not None
        assert chapters.get("url") == f"{BASE_URL}episodes/{slug}.chapters.json"
        assert chapters.get("type") == "application/json+chapters"
        transcript = item.find("podcast:transcript", NS)
        assert transcript is not None
        assert transcript.get("url") == f"{BASE_URL}episodes/{slug}.vtt"
        assert transcript.get("type") == "text/vtt"
        for url in (chapters.get("url"), transcript.get("url")):
            assert (built.folder / str(url).removeprefix(BASE_URL)).is_file()


def test_chapters_json_follows_the_podcasting_2_spec(built: Built) -> None:
    for slug, stretches in zip(SLUGS, (2, 1, 4)):
        document = json.loads((built.folder / "episodes" / f"{slug}.chapters.json").read_text(encoding="utf-8"))
        assert document["version"] == "1.2.0"
        chapters = document["chapters"]
        assert isinstance(chapters, list) and len(chapters) == stretches + 2  # with a welcome and a closing
        assert (chapters[0]["title"], chapters[-1]["title"]) == ("Welcome", "Closing")
        starts = []
        for chapter in chapters:
            assert isinstance(chapter["startTime"], (int, float)) and not isinstance(chapter["startTime"], bool)
            assert isinstance(chapter["title"], str) and chapter["title"]
            if "endTime" in chapter:
                assert chapter["endTime"] > chapter["startTime"]
            starts.append(chapter["startTime"])
        assert starts[0] == 0
        assert starts == sorted(starts) and len(set(starts)) == len(starts)
        assert starts[-1] < MP3(built.folder / "episodes" / f"{slug}.mp3").info.length


def test_chapters_json_agrees_with_the_mp3_chapter_frames(built: Built) -> None:
    for slug in SLUGS:
        document = json.loads((built.folder / "episodes" / f"{slug}.chapters.json").read_text(encoding="utf-8"))
        frames = sorted(ID3(built.folder / "episodes" / f"{slug}.mp3").getall("CHAP"), key=lambda c: c.start_time)
        assert [f.sub_frames["TIT2"].text[0] for f in frames] == [c["title"] for c in document["chapters"]]
        for frame, chapter in zip(frames, document["chapters"]):
            assert abs(frame.start_time / 1000 - chapter["startTime"]) <= 0.001


def test_mp3_tags_name_the_pack_and_the_track(built: Built) -> None:
    for number, (slug, episode) in enumerate(zip(SLUGS, SMALL_PACK["episodes"]), start=1):
        tags = ID3(built.folder / "episodes" / f"{slug}.mp3")
        assert str(tags["TALB"]) == SMALL_PACK["title"]
        assert str(tags["TIT2"]) == episode["title"]
        assert str(tags["TRCK"]) == str(number)
        assert str(tags["TPE1"]) == "Test Author"
        assert str(tags.get("TYER") or tags.get("TDRC")) == "2025"
    comment = ID3(built.folder / "episodes" / f"{SLUGS[1]}.mp3").getall("COMM")[0].text[0]
    # as in render: the description, then the stretches; an episode without a description takes its routine's
    assert comment == "Just side bends. 1 stretches: Seated Side Bend."


def test_transcript_is_webvtt_of_every_spoken_line(built: Built) -> None:
    for info in manifest(built.folder):
        cues = parse_vtt((built.folder / info.transcript_file).read_text(encoding="utf-8"))
        assert [c[3] for c in cues] == [line for _, line in info.transcript]
        assert [round(c[1], 3) for c in cues] == [start for start, _ in info.transcript]
        assert all(a[1] <= b[1] for a, b in itertools.pairwise(cues))


def test_generated_cover_is_square_podcast_artwork(built: Built) -> None:
    with Image.open(built.folder / "cover.png") as image:
        assert image.format == "PNG"
        assert image.width == image.height
        assert MIN_SIZE <= image.width <= MAX_SIZE
        assert image.mode == "RGB"
        assert len(image.resize((64, 64)).getcolors(maxcolors=64 * 64) or []) > 10  # something is drawn on it


def test_page_lists_every_episode_and_uses_nothing_from_outside(built: Built) -> None:
    page = (built.folder / "index.html").read_text(encoding="utf-8")
    assert "Small &amp; quick pack" in page and "&lt;for tests&gt;" in page and "<for tests>" not in page
    assert page.count("<audio ") == 3
    for slug in SLUGS:
        assert f'src="episodes/{slug}.mp3"' in page
    assert 'href="feed.xml"' in page and 'src="cover.png"' in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "<script src" not in page and 'rel="stylesheet"' not in page and "@import" not in page


def test_bundled_pack_builds_a_sensible_week() -> None:
    catalog = bundled()
    pack = load_pack("back-care-week", catalog)
    assert len(pack.episodes) == 7
    assert {e.routine.id for e in pack.episodes} >= set(catalog.routines)
    days = [pack.pub_date(e) for e in pack.episodes]
    assert all(b - a == datetime.timedelta(days=1) for a, b in itertools.pairwise(days))
    assert len({pack.guid(e) for e in pack.episodes}) == 7
    assert len({pack.slug(e) for e in pack.episodes}) == 7
    assert len({e.title for e in pack.episodes}) == 7 and len({e.description for e in pack.episodes}) == 7
    # it starts off the floor and ends on it
    for episode in pack.episodes[:2]:
        positions = {catalog.stretch(i.stretch).position for i in episode.routine.items}
        assert not positions & FLOOR_POSITIONS, episode.title
    assert any(catalog.stretch(i.stretch).position in FLOOR_POSITIONS for i in pack.episodes[-1].routine.items)


# --------------------------------------------------------------------------- rebuilds


def test_rebuilding_an_unchanged_pack_renders_nothing_and_changes_no_byte(rebuildable: Built) -> None:
    before = snapshot(rebuildable.folder)
    ids = guids(rebuildable.folder)
    result = build(rebuildable.pack_file, rebuildable.folder, jobs=2)
    assert result.rendered == [] and result.skipped == SLUGS and result.removed == []
    assert snapshot(rebuildable.folder) == before  # bytes and modification times of every file
    assert guids(rebuildable.folder) == ids


def test_rebuild_through_the_cli_reports_everything_up_to_date(rebuildable: Built) -> None:
    result = CliRunner().invoke(main, ["pack", "build", str(rebuildable.pack_file), "-o", str(rebuildable.folder),
                                       "--base-url", BASE_URL])
    assert result.exit_code == 0, result.output
    assert "0 rendered, 3 up to date" in result.output


def test_changing_one_routine_renders_that_episode_only(rebuildable: Built) -> None:
    before = snapshot(rebuildable.folder)
    ids = guids(rebuildable.folder)
    old_size = (rebuildable.folder / "episodes" / "02-side-bends.mp3").stat().st_size
    data = copy.deepcopy(SMALL_PACK)
    data["episodes"][1]["routine"]["stretches"][0]["reps"] = 4
    write_pack(rebuildable.pack_file.parent, data)
    result = build(rebuildable.pack_file, rebuildable.folder, jobs=2)
    assert result.rendered == ["02-side-bends"]
    assert result.skipped == ["01-tilts-and-rolls", "03-desk-break"]
    after = snapshot(rebuildable.folder)
    for slug in ("01-tilts-and-rolls", "03-desk-break"):
        for suffix in (".mp3", ".chapters.json", ".vtt"):
            name = f"episodes/{slug}{suffix}"
            assert after[name] == before[name], name
    new_size = (rebuildable.folder / "episodes" / "02-side-bends.mp3").stat().st_size
    assert new_size > old_size  # twice the reps
    assert guids(rebuildable.folder) == ids
    enclosure = ET.parse(rebuildable.folder / "feed.xml").getroot().findall("channel/item/enclosure")[1]
    assert enclosure.get("length") == str(new_size)


def test_retitling_an_episode_keeps_its_guid_and_file(rebuildable: Built) -> None:
    ids = guids(rebuildable.folder)
    data = copy.deepcopy(SMALL_PACK)
    data["episodes"][0]["title"] = "Tilts, then rolls"
    write_pack(rebuildable.pack_file.parent, data)
    result = build(rebuildable.pack_file, rebuildable.folder, jobs=1)
    assert result.rendered == ["01-tilts-and-rolls"]  # its ID3 title changed
    assert guids(rebuildable.folder)["Tilts, then rolls"] == ids["Tilts and rolls"]
    assert str(ID3(rebuildable.folder / "episodes" / "01-tilts-and-rolls.mp3")["TIT2"]) == "Tilts, then rolls"


def test_forced_rebuild_renders_the_same_bytes(rebuildable: Built) -> None:
    before = snapshot(rebuildable.folder)
    result = build(rebuildable.pack_file, rebuildable.folder, jobs=2, force=True)
    assert sorted(result.rendered) == SLUGS
    after = snapshot(rebuildable.folder)
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}


def test_removing_an_episode_removes_its_files(rebuildable: Built) -> None:
    ids = guids(rebuildable.folder)
    data = copy.deepcopy(SMALL_PACK)
    del data["episodes"][1]
    write_pack(rebuildable.pack_file.parent, data)
    result = build(rebuildable.pack_file, rebuildable.folder, jobs=1)
    assert result.rendered == ["02-desk-break"]  # renumbered: its track number changed
    assert sorted(result.removed) == ["02-side-bends", "03-desk-break"]
    names = sorted(p.name for p in (rebuildable.folder / "episodes").iterdir())
    assert names == sorted(f"{s}{x}" for s in ("01-tilts-and-rolls", "02-desk-break")
                           for x in (".mp3", ".chapters.json", ".vtt"))
    assert guids(rebuildable.folder)["A desk break"] == ids["A desk break"]
    assert len(feedparser.parse((rebuildable.folder / "feed.xml").read_bytes()).entries) == 2


def test_progress_reaches_the_parent_from_worker_processes(tmp_path: Path) -> None:
    data = copy.deepcopy(SMALL_PACK)
    data["episodes"] = data["episodes"][:2]
    events: list[tuple[str, str, float, float]] = []
    build(write_pack(tmp_path, data), tmp_path / "out", jobs=2,
          progress=lambda slug, stage, done, total: events.append((slug, stage, done, total)))
    for slug in SLUGS[:2]:
        stages = [e[1] for e in events if e[0] == slug]
        assert "audio" in stages and stages[-1] == "done", stages
        audio = [e for e in events if e[0] == slug and e[1] == "audio"]
        assert audio[-1][3] > 0 and audio[-1][2] > 0  # seconds of audio built, out of the session's length
        assert all(a[2] <= b[2] for a, b in itertools.pairwise(audio))


class BrokenEngine(ToneEngine):
    """A voice that always fails, to see how a worker's failure is reported."""

    def synthesize(self, text: str) -> bytes:
        raise RuntimeError("no voice today")


def test_a_failing_episode_is_named_and_leaves_no_partial_files(tmp_path: Path) -> None:
    data = copy.deepcopy(SMALL_PACK)
    data["episodes"] = data["episodes"][:2]
    with pytest.raises(PackBuildError, match=r"episode 0[12]-[a-z-]+: speech failed 3 times .*no voice today"):
        build(write_pack(tmp_path, data), tmp_path / "out", jobs=2, factory=BrokenEngine, use_cache=False)
    assert not (tmp_path / "out").exists()  # a first build that made no episode leaves nothing


def test_a_failed_rebuild_leaves_a_feed_true_to_the_files(rebuildable: Built) -> None:
    data = copy.deepcopy(SMALL_PACK)
    data["episodes"][1]["routine"]["stretches"][0]["reps"] = 4
    write_pack(rebuildable.pack_file.parent, data)
    with pytest.raises(PackBuildError, match="no voice today"):
        build(rebuildable.pack_file, rebuildable.folder, jobs=1, factory=BrokenEngine, use_cache=False)
    parsed = feedparser.parse((rebuildable.folder / "feed.xml").read_bytes())
    assert len(parsed.entries) == 3
    for entry in parsed.entries:
        local = rebuildable.folder / entry.enclosures[0].href.removeprefix(BASE_URL)
        assert int(entry.enclosures[0].length) == local.stat().st_size
    assert not [p for p in (rebuildable.folder / "episodes").iterdir() if p.name.startswith(".")]
    assert build(rebuildable.pack_file, rebuildable.folder, jobs=1).rendered == ["02-side-bends"]


def test_base_url_must_be_absolute_http() -> None:
    assert normalize_base_url("http://192.168.1.5:8000") == "http://192.168.1.5:8000/"
    assert normalize_base_url("https://example.org/a/b") == "https://example.org/a/b/"
    for bad in ("example.org/pack", "ftp://example.org/", "/pack/", "https://example.org/?x=1"):
        with pytest.raises(BadOptionError):
            normalize_base_url(bad)


def test_cli_rejects_a_bad_base_url_as_usage(built: Built, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["pack", "build", str(built.pack_file), "-o", str(tmp_path / "o"),
                                       "--base-url", "ftp://example.org/"])
    assert result.exit_code == 2 and "--base-url" in result.output and "Traceback" not in result.output


def test_cli_rejects_an_output_that_is_a_file(built: Built, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(main, ["pack", "build", str(built.pack_file), "-o", str(tmp_path / "file")])
    assert result.exit_code in (1, 2) and "Traceback" not in result.output


# --------------------------------------------------------------------------- the cover


def test_a_given_podcast_ready_png_is_kept_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "c.png"
    Image.new("RGB", (1500, 1500), (200, 100, 50)).save(path)
    assert podcast_cover(path) == path.read_bytes()


@pytest.mark.parametrize(("size", "fmt", "expected"), [
    ((1600, 1000), "JPEG", 1400),   # cropped square, scaled up to the minimum
    ((4000, 3500), "PNG", 3000),    # cropped square, scaled down to the maximum
    ((2000, 2000), "JPEG", 2000),   # only converted to PNG
])
def test_a_given_cover_is_made_square_png_within_range(tmp_path: Path, size: tuple[int, int], fmt: str,
                                                       expected: int) -> None:
    path = tmp_path / f"c.{fmt.lower()}"
    Image.new("RGB", size, (10, 120, 90)).save(path, format=fmt)
    with Image.open(io.BytesIO(podcast_cover(path))) as image:
        assert image.format == "PNG" and image.size == (expected, expected) and image.mode == "RGB"


def test_generated_cover_is_deterministic_and_shows_the_title() -> None:
    a = generate_cover("Back Care Week", "voiceguide")
    assert a == generate_cover("Back Care Week", "voiceguide")
    assert a != generate_cover("Another Title", "voiceguide")


def test_a_pack_with_its_own_cover_uses_it(tmp_path: Path) -> None:
    Image.new("RGB", (1400, 1400), (1, 2, 3)).save(tmp_path / "art.png")
    data = copy.deepcopy(SMALL_PACK)
    data["cover"] = "art.png"
    data["episodes"] = data["episodes"][1:2]
    result = build(write_pack(tmp_path, data), tmp_path / "out")
    assert (result.folder / "cover.png").read_bytes() == (tmp_path / "art.png").read_bytes()


# --------------------------------------------------------------------------- validation

EXPECTED = {
    "bad-language.yaml": "language: must be a language code",
    "bad-start-date.yaml": "invalid value '2025-02-30': day is out of range for month",
    "cover-not-an-image.yaml": "cover: cover-not-an-image.yaml is not a readable image",
    "duplicate-episode-id.yaml": "episode id 'desk-break' is already used by episodes[0]",
    "empty-episodes.yaml": "episodes: must not be empty",
    "inline-routine-not-a-routine.yaml": "episodes[0].routine: must be a routine id or an inline routine",
    "inline-routine-override-out-of-range.yaml": "episodes[0].routine.stretches[0].reps: 99 is outside",
    "inline-routine-unknown-stretch.yaml": "episodes[0].routine.stretches[1].id: unknown stretch 'childs-poze'; "
                                           "did you mean childs-pose?",
    "minutes-too-short.yaml": "episodes[0].minutes: 'Lower back relief' cannot be as short as 1 min",
    "missing-cover.yaml": "cover: no such image file",
    "missing-required.yaml": "missing required key 'start_date'",
    "rate-out-of-range.yaml": "rate: must be a number from 60 to 400",
    "several-problems.yaml": "episodes[0].routine: unknown routine 'desk-brake'; did you mean desk-break?",
    "unknown-engine.yaml": "engine: unknown value 'festival' (one of: auto, piper, pyttsx3, tone)",
    "unknown-key.yaml": "episodes[0].descripton: unknown key 'descripton'; did you mean 'description'?",
    "unknown-routine.yaml": "unknown routine 'lower-back-releif'; did you mean lower-back-relief?",
}


def test_every_invalid_pack_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in PACK_FIXTURES.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_pack_reports_file_line_and_field(name: str) -> None:
    path = PACK_FIXTURES / name
    result = CliRunner().invoke(main, ["pack", "check", str(path)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("Error: ")
    reported = set()
    for line in lines:
        match = re.match(rf"(?:Error: )?{re.escape(str(path))}:(\d+): ", line)
        assert match, line
        reported.add(int(match[1]))
    assert reported == set(error_lines(path))
    assert EXPECTED[name] in result.output


def test_several_problems_are_all_reported_at_once() -> None:
    path = PACK_FIXTURES / "several-problems.yaml"
    result = CliRunner().invoke(main, ["pack", "check", str(path)])
    assert len(result.output.strip().splitlines()) == len(error_lines(path)) >= 5


def test_bundled_pack_checks_by_id() -> None:
    result = CliRunner().invoke(main, ["pack", "check", "back-care-week"])
    assert result.exit_code == 0, result.output
    listing = CliRunner().invoke(main, ["pack", "list"])
    assert "back-care-week" in listing.output and "7 episodes" in listing.output


def test_unknown_pack_id_suggests_the_closest() -> None:
    with pytest.raises(UnknownIdError, match="did you mean back-care-week"):
        load_pack("back-care-weak", bundled())
    result = CliRunner().invoke(main, ["pack", "build", "back-care-weak"])
    assert result.exit_code == 1 and "did you mean back-care-week" in result.output
    assert len(result.output.strip().splitlines()) == 1


# --------------------------------------------------------------------------- a real voice


@pytest.mark.engine
def test_real_engine_builds_a_small_pack(tmp_path: Path) -> None:
    data = copy.deepcopy(SMALL_PACK)
    data["episodes"] = [{
        "title": "Neck tilts",
        "routine": {"id": "neck", "title": "Neck tilts", "stretches": [{"id": "neck-tilt", "reps": 4}]},
    }]
    result = build(write_pack(tmp_path, data), tmp_path / "out", factory=Pyttsx3Engine, jobs=1)
    assert result.rendered == ["01-neck"]
    parsed = feedparser.parse((result.folder / "feed.xml").read_bytes())
    assert not parsed.bozo and len(parsed.entries) == 1
    mp3 = result.folder / "episodes" / "01-neck.mp3"
    assert int(parsed.entries[0].enclosures[0].length) == mp3.stat().st_size
    assert MP3(mp3).info.length > 30
    cues = parse_vtt((result.folder / "episodes" / "01-neck.vtt").read_text(encoding="utf-8"))
    assert any("Neck Tilt" in c[3] for c in cues)
    again = build(write_pack(tmp_path, data), tmp_path / "out", factory=Pyttsx3Engine, jobs=1)
    assert again.rendered == []


def test_the_command_line_and_the_library_agree_on_the_default_base_url() -> None:
    from voiceguide.commands import pack as command
    from voiceguide.podcast import build as library

    assert command.DEFAULT_BASE_URL == library.DEFAULT_BASE_URL


def test_avoid_applies_to_every_episode_and_rerenders_only_what_changes(tmp_path: Path) -> None:
    from voiceguide.session.compose import ComposeOptions

    data = {**SMALL_PACK, "episodes": [
        {"title": "Kneeling", "routine": {"id": "k", "title": "Kneeling", "stretches": ["cat-cow", "childs-pose"]}},
        {"title": "Seated", "routine": {"id": "s", "title": "Seated", "stretches": ["neck-tilt"]}},
    ]}
    pack_file = write_pack(tmp_path, data)
    folder = tmp_path / "out"
    build(pack_file, folder)
    result = build(pack_file, folder, compose_options=ComposeOptions(avoid=("knees",)))
    assert result.rendered == ["01-k"]  # the seated episode has nothing to swap, so it is unchanged
    chapters = json.loads((folder / "episodes" / "01-k.chapters.json").read_text())["chapters"]
    assert [c["title"] for c in chapters] == ["Welcome", "Seated Cat-Cow", "Knee-to-Chest Stretch", "Closing"]
    transcript = (folder / "episodes" / "01-k.vtt").read_text()
    assert "Nothing today kneels or puts weight through your knees." in transcript


def test_the_pack_file_names_its_engine_and_the_command_line_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voiceguide.commands.pack import pack_voice

    monkeypatch.delenv("VOICEGUIDE_ENGINE")
    data = dict(SMALL_PACK, episodes=SMALL_PACK["episodes"][:1], engine="tone")
    pack_file = write_pack(tmp_path, data)
    result = CliRunner().invoke(main, ["pack", "build", str(pack_file), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "voice: tone" in result.output
    spec = load_pack(write_pack(tmp_path, dict(data, engine="pyttsx3", voice="gmw/en-us"), "p2.yaml"), bundled())
    assert pack_voice(spec, None, None) == ("pyttsx3", "gmw/en-us")
    assert pack_voice(spec, "tone", None) == ("tone", None)  # the pack's voice is not the tone engine's
    assert pack_voice(spec, "pyttsx3", None) == ("pyttsx3", "gmw/en-us")
    assert pack_voice(spec, None, "joe") == (None, "joe")
    result = CliRunner().invoke(main, ["pack", "build", str(tmp_path / "p2.yaml"), "-o", str(tmp_path / "out2"),
                                       "--engine", "tone"])
    assert result.exit_code == 0, result.output
    assert "voice: tone" in result.output
