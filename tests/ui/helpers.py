"""Helpers for the GUI tests: backends with prebuilt backbones, drag and drop like a file manager."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from emomv_desktop.ui.sessions import Backends

ANALYSIS_TIMEOUT_MS = 180_000  # one SlowFast clip takes ~2 s on an idle CPU, far longer on a busy one


@dataclasses.dataclass
class PrebuiltBackends(Backends):
    """Backends that hand out backbones built once per session (random init, ``pretrained`` False)."""

    extractors: tuple = ()

    def video_extractor(self, device):
        return self.extractors[0]

    def music_extractor(self, device):
        return self.extractors[1]


def drop_files(target, *paths: Path) -> QDropEvent:
    """Drag ``paths`` over ``target`` and drop them, as a file manager does (file URLs in the mime data)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    point = QPointF(target.rect().center())
    enter = QDragEnterEvent(point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted(), "the window refused the drag"
    drop = QDropEvent(point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)
    return drop
