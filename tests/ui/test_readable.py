"""Results a person can read: the 0-100 match, words on hover, folded copies, the shortlist, word search, what
the filters hide, and a title column that stays readable at 1024x700."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from emomv_desktop.engine.emotions import Emotion
from emomv_desktop.engine.ranking import Suggestion
from emomv_desktop.engine.scale import ScoreScale
from emomv_desktop.engine.shortlist import Shortlists
from emomv_desktop.ui.results import STAR, Column, ResultsFilter, ResultsModel

from .helpers import ANALYSIS_TIMEOUT_MS, drop_files

TIP = Qt.ItemDataRole.ToolTipRole
CHECK = Qt.ItemDataRole.CheckStateRole
VIDEO = Path("/cuts/rain scene.mp4")


@dataclasses.dataclass(frozen=True)
class Tempo(Suggestion):
    bpm: float | None = None


def make(rank, title, *, score, duration=200.0, start=0.0, path=None, emotion=Emotion.SAD, bpm=None, album=None):
    probs = np.full(5, 0.05)
    probs[int(emotion)] = 0.8
    return Tempo(rank=rank, track_id=rank, path=Path(path or f"/music/{title}-{rank}.flac"), title=title,
                 artist="Band", album=album, duration=duration, score=score, best_start=start, best_end=start + 29.76,
                 emotion_probs=probs, emotion=emotion, bpm=bpm)


@pytest.fixture
def rows():
    return [
        make(1, "Rain", score=2.5, bpm=72.3, album="Weather"),
        make(2, "Rain copy", score=2.5, path="/backup/rain.flac"),  # the same audio (same score, section, probs)
        make(3, "Studio Nine", score=1.0, duration=20.0, start=30.0, emotion=Emotion.TENSE, bpm=60.0),
        make(4, "Dust", score=-0.5, duration=25.0),
        make(5, "Ash", score=0.2),
    ]


def cell(model, row, column, role=Qt.ItemDataRole.DisplayRole):
    return model.index(row, column).data(role)


def test_the_match_reads_0_to_100_with_the_raw_score_and_words_on_hover(qapp, rows):
    model = ResultsModel()
    model.set_results(rows, Emotion.SAD, VIDEO)
    assert cell(model, 0, Column.SCORE) == "2.500"  # no scale (a model without one): the raw score
    scale = ScoreScale.fit(np.linspace(-1.0, 4.0, 1001))  # 2.5 is the 70th percentile
    model.set_scale(scale)
    assert cell(model, 0, Column.SCORE) == "70" and cell(model, 2, Column.SCORE) == "10"
    tip = cell(model, 0, Column.SCORE, TIP)
    assert tip.splitlines()[0] == "Sad scene, sad track; tempo 72"
    assert "Match 70/100" in tip and "Raw score 2.500" in tip
    assert cell(model, 1, Column.EMOTION, TIP).startswith("Sad scene, tense track; tempo 60\n")
    assert cell(model, 0, Column.ALBUM) == "Weather" and cell(model, 2, Column.ALBUM) == "music"  # else the folder


def test_identical_files_show_once_with_their_copies(qapp, rows):
    model = ResultsModel()
    model.set_results(rows, Emotion.SAD, VIDEO)
    assert model.rowCount() == 4  # the copy is folded into the first row
    assert cell(model, 0, Column.TITLE) == "Rain — Band  · 2 copies"
    assert cell(model, 0, Column.TITLE, TIP).splitlines() == [
        "/music/Rain-1.flac", "Identical copies (same audio):", "  /backup/rain.flac"]
    assert cell(model, 1, Column.TITLE, TIP) == "/music/Studio Nine-3.flac"


def test_stars_make_a_shortlist_remembered_per_video(qapp, rows, tmp_path):
    store = tmp_path / "shortlists.json"
    model = ResultsModel(shortlists=Shortlists(store))
    model.set_results(rows, Emotion.SAD, VIDEO)
    proxy = ResultsFilter()
    proxy.setSourceModel(model)
    assert model.flags(model.index(2, Column.STAR)) & Qt.ItemFlag.ItemIsUserCheckable
    assert model.setData(model.index(2, Column.STAR), Qt.CheckState.Checked.value, CHECK)
    assert cell(model, 2, Column.STAR) == STAR and cell(model, 2, Column.STAR, CHECK) == Qt.CheckState.Checked
    proxy.set_shortlist_only(True)
    assert [proxy.suggestion(r).title for r in range(proxy.rowCount())] == ["Dust"]
    assert proxy.hidden_summary() == "3 tracks hidden: 3 by the Shortlist view"

    later = ResultsModel(shortlists=Shortlists(store))  # the next launch
    later.set_results(rows, Emotion.SAD, VIDEO)
    assert later.starred_paths() == {rows[3].path} and cell(later, 2, Column.STAR, CHECK) == Qt.CheckState.Checked
    later.set_results(rows, Emotion.SAD, Path("/cuts/other.mp4"))
    assert later.starred_paths() == set() and cell(later, 2, Column.STAR, CHECK) == Qt.CheckState.Unchecked
    later.set_results(rows, Emotion.SAD, None)  # no video: nothing to star for
    assert not later.flags(later.index(0, Column.STAR)) & Qt.ItemFlag.ItemIsUserCheckable


def test_search_matches_every_word_and_the_summary_says_what_is_hidden(qapp, rows):
    model = ResultsModel()
    model.set_results(rows, Emotion.SAD, VIDEO)
    proxy = ResultsFilter()
    proxy.setSourceModel(model)
    proxy.set_text("studio nine 60")
    assert [proxy.suggestion(r).title for r in range(proxy.rowCount())] == ["Studio Nine"]
    proxy.set_text("nine 61 band")
    assert proxy.rowCount() == 1
    proxy.set_text("studio nine 64")
    assert proxy.rowCount() == 0
    proxy.set_text("")
    proxy.set_min_duration(100.0)
    proxy.set_text("a")  # Rain, Ash pass the search; Studio Nine and Dust are too short
    assert proxy.rowCount() == 2 and proxy.hidden_summary() == "2 tracks hidden: 2 by 'at least as long as the video'"
    proxy.set_text("rain")
    assert proxy.hidden_summary() == "3 tracks hidden: 2 by 'at least as long as the video', 1 by the search"
    proxy.set_emotion(Emotion.TENSE)
    # each row counted once, by the first filter that hides it: the tense Studio Nine is too short
    assert proxy.hidden_counts() == {"the emotion filter": 3, "'at least as long as the video'": 1}


def test_at_1024x700_titles_stretch_stars_export_and_an_empty_result_explains(qtbot, make_window, ui_media, tmp_path):
    window = make_window(size=(1024, 700))
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
        drop_files(window, ui_media.video)
    header = window.table.horizontalHeader()
    widths = {c: header.sectionSize(c) for c in Column}
    assert max(widths, key=widths.get) == Column.TITLE
    for column in set(Column) - {Column.EMOTION}:  # no column cut below what its header needs
        assert widths[column] >= header.sectionSizeHint(column), column.name
    # but the emotion's: its header names the video's emotion; the column fits its cells, the header is in the tooltip
    assert widths[Column.EMOTION] >= window.table.sizeHintForColumn(Column.EMOTION)
    assert "video feels" in window.results.headerData(Column.EMOTION, Qt.Orientation.Horizontal, TIP)
    assert header.visualIndex(Column.STAR) == 0 and header.visualIndex(Column.ALBUM) == header.visualIndex(Column.TITLE) + 1
    assert window.width() <= 1024

    window.table.selectRow(1)
    starred = window.selected_suggestion()
    assert window.toggle_star() and window.results.starred_paths() == {starred.path}
    window.shortlist_filter.setChecked(True)
    assert window.visible_suggestions() == [starred] and window.count_label.text() == f"1 of {window.results.rowCount()}"
    window.shortlist_filter.setChecked(False)
    with qtbot.waitSignal(window.export_results(tmp_path / "music.json").returned, timeout=30_000):
        pass
    document = json.loads((tmp_path / "music.json").read_text(encoding="utf-8"))
    assert [s["path"] for s in document["suggestions"] if s["shortlisted"]] == [str(starred.path)]
    assert sum(s["shortlisted"] is False for s in document["suggestions"]) == window.results.rowCount() - 1
    with qtbot.waitSignal(window.export_results(tmp_path / "music.csv").returned, timeout=30_000):
        pass
    with open(tmp_path / "music.csv", encoding="utf-8-sig", newline="") as f:
        assert [r["path"] for r in csv.DictReader(f) if r["shortlisted"] == "1"] == [str(starred.path)]

    window.length_filter.setChecked(True)  # hides the 2 s sting
    window.search.setText("no such words")
    total = window.results.rowCount()
    assert window.proxy.rowCount() == 0
    assert window.count_label.text() == f"{total} tracks hidden: {total - 1} by the search, 1 by 'at least as long as the video'"


TITLE_BAR = 30  # a window manager's title bar above the window (openbox's is 25 px, KDE's about 30)


def test_the_whole_window_fits_a_1024x700_screen_with_its_frame(qtbot, make_window, ui_media):
    window = make_window(size=(1024, 700 - TITLE_BAR))
    for state in ("empty", "temp track"):
        if state == "temp track":  # the sound-weight slider shows under the query panel
            with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS):
                drop_files(window, ui_media.music / "night.flac")
            assert window.modes.weight_box.isVisible()
        hint = window.minimumSizeHint()
        assert hint.width() <= 1024 and hint.height() <= 700 - TITLE_BAR, state
        assert window.height() == 700 - TITLE_BAR, state  # nothing grew it past the screen
        status = window.statusBar()
        assert status.mapTo(window, status.rect().bottomLeft()).y() < window.height(), state  # the bottom strip shows
