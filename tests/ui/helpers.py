"""Helpers for the GUI tests: backends with prebuilt backbones, drag and drop like a file manager."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from emomv_desktop.engine.service import Backends

SEED = 1234

ANALYSIS_TIMEOUT_MS = 180_000  # one SlowFast clip takes ~2 s on an idle CPU, far longer on a busy one


@dataclasses.dataclass
class PrebuiltBackends(Backends):
    """Backends that hand out backbones built once per session (random init, ``pretrained`` False)."""

    extractors: tuple = ()

    def video_extractor(self, device):
        return self.extractors[0]

    def music_extractor(self, device):
        return self.extractors[1]


def random_extractors():
    """Random-init SlowFast (one clip per window: tests stay fast) and VGGish, from the engine's constructors."""
    import torch

    from emomv_desktop.engine.backbones import SlowFastExtractor, VGGishExtractor

    torch.manual_seed(SEED)
    return SlowFastExtractor.build(None, "cpu", clips_per_window=1), VGGishExtractor.build(None, "cpu")


def index_and_make_model(music: Path, db: Path, model_path: Path, vggish, card: dict):
    """Index ``music`` into ``db`` with ``vggish``; save a random retrieval model whose music scaler fits it.

    Fitting the scaler spreads the (nearly constant) random-VGGish features, so tracks get distinct scores and
    best sections: what a trained model gives, without its meaning. Returns the index report.
    """
    import torch

    from emomv_desktop.engine.indexer import index_library
    from emomv_desktop.engine.library import Library
    from emomv_desktop.engine.model import RetrievalModel, save_model

    with Library(db) as library:
        report = index_library(library, vggish, folders=[music])
        windows = library.window_features(vggish.backbone_id)
    torch.manual_seed(SEED)
    model = RetrievalModel().eval()
    model.fit_scalers(None, torch.from_numpy(windows.features))
    save_model(model_path, model, card)
    return report


def drop_files(target, *paths: Path, mime: QMimeData | None = None,
               actions: Qt.DropAction = Qt.DropAction.CopyAction,
               modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier, refused: bool = False) -> QDropEvent:
    """Drag ``paths`` over ``target`` and drop them, as a file manager does (file URLs in the mime data).

    ``mime`` replaces the file URLs (a drag from the app itself); ``actions`` are what the source allows;
    ``modifiers`` the keys held (Qt proposes a move with Shift, as a file manager does for a drag within a
    disk). ``refused``: the window must refuse the drag (nothing is dropped then).
    """
    if mime is None:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    point = QPointF(target.rect().center())
    enter = QDragEnterEvent(point, actions, mime, Qt.MouseButton.LeftButton, modifiers)
    QApplication.sendEvent(target, enter)
    if refused:
        assert not enter.isAccepted(), "the window took a drag it should refuse"
        return None
    assert enter.isAccepted(), "the window refused the drag"
    drop = QDropEvent(point, actions, mime, Qt.MouseButton.LeftButton, modifiers)
    QApplication.sendEvent(target, drop)
    drop.mime = mime  # the event does not own its mime data: keep it alive while the event is (e.g. printed)
    return drop
