"""The valence-arousal map in the window: dots where ``va.track_positions`` puts the tracks, the query's marker,
the results ringed, a click auditions, a drawn rectangle filters the results."""

from __future__ import annotations

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
    print({t: (d.pos().x(), d.pos().y(), view.mapFromScene(d.pos())) for t, d in view.dots.items()})
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

    # a click on a result's dot selects its row (the preview auditions it)
    target = next(iter(ringed))
    point = view.mapFromScene(view.dots[target].pos())
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    assert window.selected_suggestion().track_id == target

    # a rectangle drawn around one half of the map: only the results inside it stay
    xs = sorted(d.pos().x() for t, d in view.dots.items() if t in ringed)
    split = (xs[0] + xs[-1]) / 2 if xs[0] != xs[-1] else xs[0] + 1e-3
    region = QRectF(-1.3 * SCALE, -1.2 * SCALE, split + 1.3 * SCALE, 2.4 * SCALE)
    with qtbot.waitSignal(view.regionChanged) as drawn:
        corner, far = view.mapFromScene(region.topLeft()), view.mapFromScene(region.bottomRight())
        QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         corner + QPoint(2, 2))
        for step in range(1, 11):
            QTest.mouseMove(view.viewport(), corner + (far - corner) * (step / 10))
        QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, far)
    inside = drawn.args[0]
    assert inside == {t for t, d in view.dots.items() if d.pos().x() <= view.mapToScene(far).x()
                      and d.pos().x() >= view.mapToScene(corner + QPoint(2, 2)).x()}
    shown = {window.proxy.suggestion(r).track_id for r in range(window.proxy.rowCount())}
    assert shown == inside & ringed and 0 < len(shown) < len(ringed)
    window._map_region_changed(None)
    assert window.proxy.rowCount() == len(analysis.suggestions)
