"""The results table model and its sort/filter proxy, on the engine's own Suggestion objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from emomv_desktop.engine.emotions import Emotion
from emomv_desktop.engine.ranking import Suggestion
from emomv_desktop.ui.results import SORT_ROLE, Column, ResultsFilter, ResultsModel


def suggestion(rank, title, artist, duration, score, start, emotion, *, album=None, path=None):
    probs = np.full(5, 0.05)
    if emotion is not None:
        probs[int(emotion)] = 0.8
    return Suggestion(
        rank=rank, track_id=rank, path=Path(path or f"/music/{title or 'untitled'}-{rank}.flac"), title=title,
        artist=artist, album=album, duration=duration, score=score, best_start=start, best_end=start + 29.76,
        emotion_probs=probs if emotion is not None else None, emotion=emotion,
    )


@pytest.fixture
def model(qapp):
    model = ResultsModel()
    model.set_results(
        [
            suggestion(1, "Alpha", "Band", 200.0, 0.91, 35.0, Emotion.TENSE, album="Dark Roads"),
            suggestion(2, None, None, 30.0, 0.70, 0.0, Emotion.SAD),
            suggestion(3, "Gamma", "Other", 3725.0, 0.42, 3600.0, Emotion.TENSE),
            suggestion(4, "Delta", "Band", 95.0, -0.2, 60.0, None),
        ],
        Emotion.TENSE,
    )
    return model


def cell(model, row, column, role=Qt.ItemDataRole.DisplayRole):
    return model.index(row, column).data(role)


def test_cells_say_what_the_engine_ranked(model):
    assert model.rowCount() == 4 and model.columnCount() == len(Column)
    assert [cell(model, 0, c) for c in Column] == ["1", "Alpha — Band", "0.910", "0:35-1:04", "tense ✓", "3:20"]
    assert cell(model, 1, Column.TITLE) == "untitled-2.flac"  # no tags: the file name
    assert cell(model, 1, Column.EMOTION) == "sad"  # no tick: not the video's emotion
    assert cell(model, 2, Column.SECTION) == "1:00:00-1:00:29" and cell(model, 2, Column.DURATION) == "1:02:05"
    assert cell(model, 3, Column.EMOTION) == "–"  # a single-task model predicts none
    assert "tense 80%" in cell(model, 0, Column.EMOTION, Qt.ItemDataRole.ToolTipRole)
    assert cell(model, 0, Column.TITLE, Qt.ItemDataRole.ToolTipRole) == "/music/Alpha-1.flac"
    assert model.headerData(Column.EMOTION, Qt.Orientation.Horizontal) == "Emotion (video: tense)"
    assert model.headerData(Column.SCORE, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert cell(model, 0, Column.SCORE, SORT_ROLE) == pytest.approx(0.91)
    model.clear()
    assert model.rowCount() == 0 and model.headerData(Column.EMOTION, Qt.Orientation.Horizontal) == "Emotion"


def test_rows_drag_out_as_file_urls(model):
    flags = model.flags(model.index(0, 0))
    assert flags & Qt.ItemFlag.ItemIsDragEnabled and not flags & Qt.ItemFlag.ItemIsEditable
    mime = model.mimeData([model.index(2, 0), model.index(0, 3), model.index(0, 1)])
    assert [u.toLocalFile() for u in mime.urls()] == ["/music/Alpha-1.flac", "/music/Gamma-3.flac"]
    assert mime.hasFormat("text/uri-list") and model.supportedDragActions() == Qt.DropAction.CopyAction


def test_the_proxy_sorts_numbers_as_numbers_and_filters(model):
    proxy = ResultsFilter()
    proxy.setSourceModel(model)

    def titles():
        return [proxy.index(r, Column.TITLE).data() for r in range(proxy.rowCount())]

    proxy.sort(Column.DURATION, Qt.SortOrder.AscendingOrder)  # 30 s < 95 s < 200 s < 1 h, not text order
    assert titles() == ["untitled-2.flac", "Delta — Band", "Alpha — Band", "Gamma — Other"]
    proxy.sort(Column.SCORE, Qt.SortOrder.AscendingOrder)
    assert proxy.suggestion(0).title == "Delta"
    proxy.sort(Column.RANK, Qt.SortOrder.AscendingOrder)

    proxy.set_emotion(Emotion.TENSE)
    assert titles() == ["Alpha — Band", "Gamma — Other"]
    proxy.set_emotion(None)
    proxy.set_min_duration(96.0)
    assert titles() == ["Alpha — Band", "Gamma — Other"]
    proxy.set_min_duration(None)
    proxy.set_text("  ROADS ")  # album, any case
    assert titles() == ["Alpha — Band"]
    proxy.set_text("band")
    assert titles() == ["Alpha — Band", "Delta — Band"]
    proxy.set_text("untitled")  # the path
    assert titles() == ["untitled-2.flac"]
    proxy.set_text("")
    assert proxy.rowCount() == 4


def test_a_first_click_on_the_match_header_sorts_best_first(qtbot, model):
    from PySide6.QtCore import QPoint
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QTableView

    proxy = ResultsFilter()
    proxy.setSourceModel(model)
    table = QTableView()
    qtbot.addWidget(table)
    table.setModel(proxy)
    table.setSortingEnabled(True)
    table.sortByColumn(Column.DURATION, Qt.SortOrder.AscendingOrder)
    table.show()
    header = table.horizontalHeader()
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(header.sectionViewportPosition(Column.SCORE) + 5, header.height() // 2))
    scores = [proxy.index(r, Column.SCORE).data(SORT_ROLE) for r in range(proxy.rowCount())]
    assert scores == sorted(scores, reverse=True)
