"""Post-processing of a ranking for people: identical files folded, versions linked, word search, the score
scale, the shortlist file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from emomv_desktop.engine import search
from emomv_desktop.engine.emotions import Emotion
from emomv_desktop.engine.grouping import group_suggestions, version_key
from emomv_desktop.engine.ranking import Suggestion
from emomv_desktop.engine.scale import ScoreScale
from emomv_desktop.engine.shortlist import Shortlists


@dataclasses.dataclass(frozen=True)
class Tempo(Suggestion):
    """A suggestion with the library's tempo (what ``Suggestion.bpm`` will carry)."""

    bpm: float | None = None


def make(rank, title, artist=None, *, score=None, start=0.0, duration=120.0, path=None, album=None, bpm=None):
    probs = np.array([0.1, 0.1, 0.2, 0.5, 0.1]) * (1 + rank / 100 if score is None else 1)
    return Tempo(rank=rank, track_id=rank, path=Path(path or f"/music/{rank}.flac"), title=title, artist=artist,
                 album=album, duration=duration, score=1.0 - rank / 10 if score is None else score,
                 best_start=start, best_end=start + 29.76, emotion_probs=probs, emotion=Emotion.SAD, bpm=bpm)


def test_identical_files_are_one_row_with_their_copies():
    a = make(1, "Rain", "Trio", score=0.9, path="/music/rain.flac")
    a_copy = make(2, "Rain (copy)", None, score=0.9, path="/backup/rain.flac")  # same audio, other tags
    b = make(3, "Sun", "Trio", score=0.9, start=30.0)  # same score, another section: other audio
    a_again = make(4, None, None, score=0.9, path="/old/rain-final.flac")
    entries = group_suggestions([a, a_copy, b, a_again])
    assert [e.suggestion for e in entries] == [a, b]
    assert entries[0].copies == (a_copy, a_again) and entries[1].copies == ()


def test_versions_are_linked_by_normalised_title_and_artist():
    original = make(2, "Morning Light", "String Trio")
    instrumental = make(1, "Morning  light (Instrumental)", "string trio")
    edit = make(5, "MORNING LIGHT - 30 s cut", "String Trio")
    other_artist = make(3, "Morning Light", "Brass Band")
    untitled = [make(4, None), make(6, "  ")]
    entries = {e.suggestion.rank: e for e in group_suggestions([instrumental, original, other_artist, *untitled, edit])}
    assert entries[1].versions == (original, edit) and entries[1].leads_versions
    assert entries[2].versions == (instrumental, edit) and not entries[2].leads_versions
    assert entries[3].versions == () and entries[4].versions == () and entries[6].versions == ()
    assert version_key("Ｒain [Radio edit]", "Ａ") == version_key("rain", "a") == ("rain", "a")
    assert version_key("(Intro)", None) == ("intro", "")  # a title that is only a qualifier stays itself


def test_search_needs_every_word_and_reads_numbers_as_tempo():
    studio = make(1, "Studio Nine", "Band", bpm=60.4, album="Sessions")
    fast = make(2, "Studio Nine", "Band", bpm=128.0)
    sixties = make(3, "60s Studio Nine", "Band")  # no tempo: the number is text
    plain = make(4, "Nine Lives", "Studio Band", path="/music/nine.flac")
    tracks = [studio, fast, sixties, plain]

    def found(query):
        return [t.rank for t in tracks if search.matches(t, search.words(query))]

    assert found("studio nine 60") == [1, 3]
    assert found("nine studio") == [1, 2, 3, 4]  # order free
    assert found("STUDIO sessions") == [1] and found("nine.flac") == [4] and found("") == [1, 2, 3, 4]
    assert found("studio nine 62") == [1] and found("studio nine 63") == []  # within 2 BPM
    assert found("studio jazz") == []


def test_score_scale_is_monotone_clamped_and_read_from_a_card():
    rng = np.random.default_rng(0)
    scores = rng.normal(1.0, 1.5, 5000)
    scale = ScoreScale.fit(scores, "test")
    probe = np.sort(rng.uniform(-8, 8, 2000))
    percents = scale.percent(probe)
    assert np.all(np.diff(percents) >= 0) and percents[0] == 0 and percents[-1] == 100
    for q in (-1.0, 0.5, 1.0, 2.5):  # the empirical CDF, computed directly
        assert scale.percent(q) == pytest.approx(100 * np.mean(scores <= q), abs=0.6)
    assert ScoreScale.from_card({"score_scale": scale.to_card()}) == scale
    assert ScoreScale.from_card({}) is None and ScoreScale.from_card({"score_scale": {"knots": [1, 0]}}) is None
    ties = ScoreScale(tuple([0.0] * 50 + list(np.linspace(0, 1, 51))))
    assert ties.percent(0.0) == pytest.approx(50) and ties.percent(-1) == 0 and ties.percent(1.0) == 100


def test_the_shortlist_is_remembered_atomically_per_video(tmp_path):
    store = tmp_path / "data" / "shortlists.json"
    first = Shortlists(store)
    first.set_starred("/cuts/a.mp4", "/music/x.flac", True)
    first.set_starred("/cuts/a.mp4", "/music/y.flac", True)
    first.set_starred("/cuts/b.mp4", "/music/y.flac", True)
    first.set_starred("/cuts/a.mp4", "/music/x.flac", False)
    again = Shortlists(store)
    assert again.starred("/cuts/a.mp4") == [Path("/music/y.flac")]
    assert again.is_starred("/cuts/b.mp4", "/music/y.flac") and not again.is_starred("/cuts/b.mp4", "/music/x.flac")
    assert not list(store.parent.glob("*.part*"))  # nothing half-written left
    assert json.loads(store.read_text(encoding="utf-8"))["format"] == "emomv-desktop/shortlists"
    store.write_text("{not json", encoding="utf-8")
    broken = Shortlists(store)
    assert broken.starred("/cuts/a.mp4") == [] and store.with_name("shortlists.json.bad").is_file()
