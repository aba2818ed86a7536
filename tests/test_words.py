"""The small parts a script is built from: lists said aloud, sides, capitals, the length estimate, and
the layout of steps on the clock. Properties, not wording: the composer's lines may change."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voiceguide.session.pacing import MIN_GAP_S
from voiceguide.session.steps import TONE_S, ChapterEnd, ChapterStart, Chime, Quiet, Say, Step, Window, layout
from voiceguide.session.words import cap, estimate_speech_seconds, join_words, say_side

WORD = st.text(alphabet="abcdefghij", min_size=1, max_size=6)


@given(st.lists(WORD, min_size=1, max_size=6, unique=True), st.sampled_from(["and", "or"]))
def test_a_list_is_said_once_each_in_order_joined_by_the_last_word(words: list[str], last: str) -> None:
    said = join_words(words, last)
    if len(words) == 1:
        assert said == words[0]
        return
    head, tail = said.rsplit(f" {last} ", 1)
    assert tail == words[-1]
    assert head.split(", ") == words[:-1]


def test_and_is_the_default_last_word() -> None:
    assert join_words(["a", "b"]) == join_words(["a", "b"], "and") != join_words(["a", "b"], "or")


@pytest.mark.parametrize("side", [0, 1])
def test_a_side_and_the_other_are_the_two_sides(side: int) -> None:
    said = say_side("{side}|{other}", side)
    first, other = said.split("|")
    assert {first, other} == {"right", "left"}
    assert first == ("right" if side == 0 else "left")
    assert say_side("Turn to your {side}.", side) == f"Turn to your {first}."
    assert say_side("No side here.", side) == "No side here."


@given(st.text(max_size=20))
def test_cap_raises_the_first_letter_only(text: str) -> None:
    said = cap(text)
    assert said[:1] == text[:1].upper() and said[1:] == text[1:]


def test_the_estimate_counts_words_against_the_rate_and_adds_for_each_break() -> None:
    nothing = estimate_speech_seconds("")
    assert nothing > 0  # even a word said alone takes its start and end
    words = "Let your shoulders soften as you breathe out"
    at_140, at_70 = estimate_speech_seconds(words, 140), estimate_speech_seconds(words, 70)
    assert at_70 - nothing == pytest.approx(2 * (at_140 - nothing), abs=0.002)  # half the rate, twice as long
    one_break = estimate_speech_seconds("Breathe in. Breathe out") - estimate_speech_seconds("Breathe in Breathe out")
    two_breaks = estimate_speech_seconds("In, out. Rest") - estimate_speech_seconds("In out Rest")
    assert one_break > 0 and two_breaks == pytest.approx(2 * one_break, abs=0.002)
    assert estimate_speech_seconds("Breathe in.") == estimate_speech_seconds("Breathe in")  # a final stop is no break


def lengths(text: str) -> float:
    return 0.1 * len(text)


def test_layout_puts_every_step_after_the_last_and_windows_at_their_offsets() -> None:
    steps: list[Step] = [
        Say("Welcome.", "intro"),
        Quiet(1.5, "pause"),
        ChapterStart("Cat-Cow", "cat-cow"),
        Chime("hold-start"),
        Window(10.0, "hold", ((0.0, Say("Hold.", "cue")), (2.0, Say("Breathe.", "breath")),
                              (2.1, Say("Soft.", "breath")))),
        Chime("hold-end"),
        ChapterEnd(),
        Quiet(0.0001, "pause"),  # too short to be a cue
        Say("Bye.", "outro"),
    ]
    cues, chapters, total = layout(steps, lengths)
    assert [c.kind for c in cues] == ["speech", "silence", "tone", "silence", "speech", "silence", "speech", "silence",
                                      "speech", "silence", "tone", "silence", "speech"]
    assert [c.role for c in cues] == ["intro", "pause", "hold-start", "pause", "cue", "hold", "breath", "pause",
                                      "breath", "hold", "hold-end", "pause", "outro"]  # a window's silence its own
    assert [c.text for c in cues if c.kind == "speech"] == ["Welcome.", "Hold.", "Breathe.", "Soft.", "Bye."]
    for before, after in pairwise(cues):
        assert after.start_s == pytest.approx(before.end_s)  # one after the other, no overlap
    sounds = [c for c in cues if c.kind != "silence"]
    for before, after in pairwise(sounds):
        assert after.start_s >= before.end_s + MIN_GAP_S - 1e-9  # never two sounds run together
    assert cues[0].start_s == 0 and total == pytest.approx(cues[-1].end_s)
    assert cues[0].duration_s == pytest.approx(lengths("Welcome.")) and cues[1].duration_s == pytest.approx(1.5)
    assert cues[2].duration_s == pytest.approx(TONE_S["hold-start"])
    window_start = cues[2].end_s
    assert cues[4].start_s == pytest.approx(window_start + MIN_GAP_S)  # at offset 0, but not on top of the chime
    assert cues[6].start_s == pytest.approx(window_start + 2.0)  # at its offset
    assert cues[8].start_s == pytest.approx(cues[6].end_s + MIN_GAP_S)  # not at 2.1 s, over the line before
    assert cues[10].start_s == pytest.approx(window_start + 10.0)  # the window lasts its length
    (chapter,) = chapters
    assert (chapter.title, chapter.stretch) == ("Cat-Cow", "cat-cow")
    assert (chapter.start_s, chapter.end_s) == (cues[2].start_s, cues[10].end_s)
    assert [c.chapter for c in cues] == [None, None, *[0] * 9, None, None]


def test_a_window_shorter_than_its_lines_ends_when_they_do() -> None:
    cues, _, total = layout([Window(1.0, "hold", ((0.5, Say("A long line said here.", "cue")),))], lengths)
    assert [c.kind for c in cues] == ["silence", "speech"]
    assert total == pytest.approx(0.5 + lengths("A long line said here."))
