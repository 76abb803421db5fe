"""The valence-arousal map in the window: dots where ``va.track_positions`` puts the tracks, the query's marker,
the results ringed, a click auditions, a drawn rectangle filters the results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QRectF, Qt
from PySide6.QtTest import QTest

from emomv_desktop.engine import va
from emomv_desktop.engine.library import Library
from emomv_desktop.engine.ranking import Ranker
from emomv_desktop.ui.va_map import SCALE

from .helpers import ANALYSIS_TIMEOUT_MS


def test_the_map_places_the_library_and_a_drawn_region_filters_the_results(qtbot, make_window):
    window = make_window()
    window.map_dock.raise_()
    library = Library(window.backends.library_path)  # this thread's own connection
    reference = next(t.id for t in library.tracks() if t.path.name == "night.flac")
    with qtbot.waitSignal(window.analysis.finished, timeout=ANALYSIS_TIMEOUT_MS) as done:
        window.modes.temp_track(reference)
    analysis = done.args[0]
    view = window.va_map
    qtbot.waitUntil(lambda: len(view.dots) == 5 and view.query_marker is not None, timeout=60_000)
    loaded = window.inference._loaded
    cache = Ranker(library, loaded.model, loaded.model_id).prepare()  # independently of the window's ranker
    expected = va.track_positions(cache)
    library.close()
    for track_id, (v, a) in zip(cache.tracks.ids, expected):
        dot = view.dots[int(track_id)]
        assert np.allclose([dot.pos().x(), dot.pos().y()], [v * SCALE, -a * SCALE], atol=1e-6)
    query = va.query_position(analysis.query)
    assert np.allclose([view.query_marker.pos().x(), view.query_marker.pos().y()], [query[0] * SCALE, -query[1] * SCALE])
    ringed = {t for t, d in view.dots.items() if d.zValue() == 2}
    assert ringed == {s.track_id for s in analysis.suggestions} and reference not in ringed

    # a click on a result's dot selects its row (the preview auditions it); the dot clicked is the result's dot
    # farthest from any other, so no neighbour drawn over it takes the click
    def clearance(track_id):
        here = view.dots[track_id].pos()
        return min((d.pos() - here).manhattanLength() for t, d in view.dots.items() if t != track_id)

    target = max(sorted(ringed), key=clearance)
    point = view.mapFromScene(view.dots[target].pos())
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    assert window.selected_suggestion().track_id == target

    # a rectangle drawn from the left edge to the widest gap between dots (in pixels) that has results on both sides
    pixels = sorted((view.mapFromScene(d.pos()).x(), t) for t, d in view.dots.items())
    gaps = [(pixels[i + 1][0] - pixels[i][0], i) for i in range(len(pixels) - 1)
            if {t for _, t in pixels[: i + 1]} & ringed and {t for _, t in pixels[i + 1:]} & ringed]
    width, cut = max(gaps)
    assert width >= 2, f"the dots lie too close together to split by a drawn rectangle: {pixels}"
    edge = (pixels[cut][0] + pixels[cut + 1][0]) // 2
    corner, far = QPoint(1, 1), QPoint(edge, view.viewport().height() - 2)
    with qtbot.waitSignal(view.regionChanged) as drawn:
        QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, corner)
        for step in range(1, 11):
            QTest.mouseMove(view.viewport(), corner + (far - corner) * (step / 10))
        QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, far)
    inside = drawn.args[0]
    assert inside == {t for _, t in pixels[: cut + 1]}
    shown = {window.proxy.suggestion(r).track_id for r in range(window.proxy.rowCount())}
    assert shown == inside & ringed and 0 < len(shown) < len(ringed)
    window._map_region_changed(None)
    assert window.proxy.rowCount() == len(analysis.suggestions)


def test_the_map_is_drawn_again_in_the_dark_palettes_colours(qtbot):
    from PySide6.QtGui import QColor, QPalette

    from emomv_desktop.engine.service import VAMap
    from emomv_desktop.ui.va_map import VAMapView

    view = VAMapView()
    qtbot.addWidget(view)
    positions = np.array([[0.5, 0.5], [-0.5, -0.5]])
    view.set_map(VAMap(va.RUSSELL_1980, np.array([1, 2]), [Path("a.wav"), Path("b.wav")], [None, None],
                       [None, None], positions, np.array([0, 3]), np.array([0.1, 0.2]), (1,)))
    dark = QPalette(view.palette())
    dark.setColor(QPalette.ColorRole.Text, QColor("#f0f0f0"))
    view.setPalette(dark)
    assert view.dots[1].pen().color() == QColor("#f0f0f0")  # the result's ring
    assert view.query_marker.pen().color() == QColor("#f0f0f0")
