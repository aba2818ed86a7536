"""Making one session for the studio: the same render as ``voiceguide render``, into the library."""

from __future__ import annotations

import json

from voiceguide.catalog.types import Catalog
from voiceguide.podcast.feed import chapters_document
from voiceguide.podcast.workers import podcast_chapters
from voiceguide.sound.render import render
from voiceguide.studio.asks import plan
from voiceguide.studio.jobs import Job
from voiceguide.studio.library import FILES, Library, show
from voiceguide.voice.choose import choose_voice
from voiceguide.voice.settings import VoiceSettings
from voiceguide.voice.speech import ClipCache, Speech, default_cache_dir


def make_session(job: Job, library: Library, catalog: Catalog, engine: str | None) -> str:
    """Render ``job``'s request into the library and return the new session's id."""
    ask = job.ask
    routine, options = plan(ask, catalog)
    choice = choose_voice(engine, ask.voice)
    cache = ClipCache(default_cache_dir())
    with library.making() as (session_id, folder):
        with Speech(choice.factory, VoiceSettings(choice.voice, ask.pace, 1.0), cache=cache, jobs=0,
                    label=choice.label()) as speech:
            result = render(routine, catalog, folder / FILES["mp3"], speech, compose_options=options,
                            timeline_path=folder / FILES["script"], captions_path=folder / FILES["captions"],
                            progress=job.progress)
        job.progress("audio", 1, 1)  # a cancel asked for during the last step still counts
        timeline = result.timeline
        chapters = podcast_chapters([c.to_dict() for c in timeline.chapters_covering()], timeline.duration_s)
        (folder / FILES["chapters"]).write_text(json.dumps(chapters_document(show(), timeline.title, chapters)),
                                                encoding="utf-8")
        created = session_id[:8] + "T" + session_id[9:15]
        meta = {"title": timeline.title, "created": _iso(created), "duration_s": round(timeline.duration_s, 3),
                "size": result.size_bytes, "asked": ask.summary(), "chapters": chapters, "voice": speech.label,
                "ask": ask.to_dict()}
        return library.publish(session_id, folder, meta).id


def _iso(stamp: str) -> str:
    """``20261207T081500`` as ISO 8601 in this computer's time zone."""
    import datetime

    moment = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%S").astimezone()
    return moment.isoformat()
