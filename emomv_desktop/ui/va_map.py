"""The valence-arousal map: the library as dots coloured by emotion, the query as a marker, the results ringed.

A :class:`~PySide6.QtWidgets.QGraphicsView` (no new dependency). Scene coordinates are ``(valence, -arousal) *
SCALE`` (arousal up). Hovering a dot shows its track, clicking it emits :attr:`VAMapView.trackClicked` (the window
auditions it), dragging a rectangle selects the dots inside and emits :attr:`VAMapView.regionChanged` with their
track ids (a double click on empty space clears it: None), which the window uses to filter the results.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsScene, QGraphicsView, QWidget

from emomv_desktop.engine.emotions import Emotion
from emomv_desktop.engine.service import VAMap

from . import text

SCALE = 100.0  # scene units per valence-arousal unit
DOT = 5.0  # dot radius, scene units
EMOTION_COLOURS = {  # distinguishable for the common colour-vision deficiencies (Okabe & Ito's palette)
    Emotion.EXCITING: QColor("#E69F00"),
    Emotion.FEARFUL: QColor("#CC79A7"),
    Emotion.TENSE: QColor("#D55E00"),
    Emotion.SAD: QColor("#0072B2"),
    Emotion.RELAXING: QColor("#009E73"),
}
TRACK_ID = 0  # the item data key holding a dot's track id


def to_scene(valence: float, arousal: float) -> QPointF:
    return QPointF(valence * SCALE, -arousal * SCALE)


class VAMapView(QGraphicsView):
    """See the module docstring. :meth:`set_map` draws a :class:`VAMap`."""

    trackClicked = Signal(int)  # track id
    regionChanged = Signal(object)  # frozenset of track ids inside the drawn rectangle, or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setAccessibleName("Valence-arousal map")
        self.viewport().setAccessibleName("Valence-arousal map")
        self.setToolTip("Library tracks by valence (left: negative, right: positive) and arousal (up: high); "
                        "drag a rectangle to show only the tracks inside it")
        self.dots: dict[int, QGraphicsEllipseItem] = {}
        self.query_marker: QGraphicsEllipseItem | None = None
        self._pressed: int | None = None
        self._band: QRectF | None = None
        self._shown: VAMap | None = None
        self.rubberBandChanged.connect(self._band_changed)

    def set_map(self, va: VAMap) -> None:
        self._shown = va
        scene = self.scene()
        scene.blockSignals(True)
        scene.clear()
        scene.blockSignals(False)
        self.dots.clear()
        grid = QPen(self.palette().mid().color(), 0)
        scene.addEllipse(QRectF(-SCALE, -SCALE, 2 * SCALE, 2 * SCALE), grid)
        scene.addLine(-SCALE, 0, SCALE, 0, grid)
        scene.addLine(0, -SCALE, 0, SCALE, grid)
        for emotion, (v, a) in zip(Emotion, va.anchors):
            label = scene.addSimpleText(emotion.label)
            label.setBrush(EMOTION_COLOURS[emotion])
            label.setPos(to_scene(v, a) + QPointF(4, -8))
        results = set(va.results)
        for i, track_id in enumerate(int(t) for t in va.track_ids):
            centre = to_scene(*va.positions[i])
            colour = EMOTION_COLOURS[Emotion(int(va.emotions[i]))]
            ringed = track_id in results
            dot = scene.addEllipse(QRectF(-DOT, -DOT, 2 * DOT, 2 * DOT),
                                   QPen(self.palette().text().color() if ringed else colour, 2 if ringed else 0),
                                   QBrush(colour if ringed else colour.lighter(130)))
            dot.setPos(centre)
            dot.setZValue(2 if ringed else 1)
            dot.setOpacity(1.0 if ringed or not results else 0.45)
            dot.setData(TRACK_ID, track_id)
            dot.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
            dot.setToolTip(text.track_title(va.titles[i], va.artists[i], va.paths[i]))
            self.dots[track_id] = dot
        self.query_marker = None
        if va.query is not None:
            self.query_marker = scene.addEllipse(QRectF(-2 * DOT, -2 * DOT, 4 * DOT, 4 * DOT),
                                                 QPen(self.palette().text().color(), 3), QBrush(Qt.BrushStyle.NoBrush))
            self.query_marker.setPos(to_scene(*va.query))
            self.query_marker.setZValue(3)
            self.query_marker.setToolTip("The query")
        self.setSceneRect(QRectF(-1.3 * SCALE, -1.2 * SCALE, 2.6 * SCALE, 2.4 * SCALE))
        self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def changeEvent(self, event: QEvent) -> None:
        """Light or dark colours chosen: the grid, rings and marker are drawn again in the palette's colours."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._shown is not None:
            self.set_map(self._shown)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def _dot_at(self, point) -> int | None:
        item = next((i for i in self.items(point) if i.data(TRACK_ID) is not None), None)
        return None if item is None else int(item.data(TRACK_ID))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._pressed = self._dot_at(event.position().toPoint())
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        if self._pressed is not None and self._pressed == self._dot_at(event.position().toPoint()):
            self.trackClicked.emit(self._pressed)
        self._pressed = None

    def _band_changed(self, rect, _from, _to) -> None:
        if not rect.isNull():
            self._band = self.mapToScene(rect).boundingRect()
        elif self._band is not None:  # the drag ended
            region, self._band = self._band, None
            self.filter_region(region)

    def filter_region(self, region: QRectF | None) -> frozenset[int] | None:
        """Emit (and return) the track ids whose dots lie in ``region`` (scene coordinates); None clears."""
        chosen = None if region is None else frozenset(t for t, d in self.dots.items() if region.contains(d.pos()))
        self.regionChanged.emit(chosen)
        return chosen

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        """A double click on empty space clears the region."""
        if self._dot_at(event.position().toPoint()) is None:
            self.scene().clearSelection()
            self.filter_region(None)
        super().mouseDoubleClickEvent(event)
