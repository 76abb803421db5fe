"""First run without the pretrained backbones: the setup dialog, analysis disabled, download/import/cancel."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QLabel, QPlainTextEdit, QWidget

from emomv_desktop.engine import weights
from emomv_desktop.engine.service import Backends

TRICKLE_BYTES = 64 * 1024
ADVERTISED_BYTES = 200 * 1024 * 1024


@pytest.fixture
def trickle_server():
    """A local HTTP server that sends a large file very slowly (until the client hangs up)."""

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Length", str(ADVERTISED_BYTES))
            self.end_headers()
            try:
                for _ in range(ADVERTISED_BYTES // TRICKLE_BYTES):
                    self.wfile.write(b"\0" * TRICKLE_BYTES)
                    self.wfile.flush()
                    stop.wait(0.02)  # the server's pace, not a test wait
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    stop = threading.Event()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/SLOWFAST_8x8_R50.pyth"
    stop.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def production_window(qtbot, tmp_path, indexed_library, trickle_server):
    """The app as shipped (no random weights allowed) on a machine without the weight files."""
    from emomv_desktop.ui.main_window import MainWindow

    backends = Backends(device="cpu", model_path=indexed_library.model, library_path=tmp_path / "library.sqlite3")
    window = MainWindow(backends, download_urls={weights.SLOWFAST: trickle_server})
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.analysis.unavailable, timeout=60_000):
        window.start(rescan=False)
    yield window
    window.close()


def test_missing_weights_open_the_setup_dialog_and_disable_analysis(qtbot, production_window, ui_media):
    window = production_window
    dialog = window.model_setup_dialog()
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: len(dialog.statuses) == len(weights.REGISTRY), timeout=30_000)
    for key, row in dialog.rows.items():
        assert row.state.text() == "Missing", key
        assert weights.REGISTRY[key].filename in row.message.text()
    assert not dialog.all_present()
    assert not window.open_action.isEnabled()
    assert window.banner.isVisible() and "Video analysis is disabled" in window.banner_label.text()
    for spec in weights.REGISTRY.values():  # the networks by name, in words (issue 13: no developer keys)
        assert spec.plain_name in window.banner_label.text()
    assert not window.test_mode_label.isVisible()  # never silently random
    with qtbot.waitSignal(window.analysis.failed, timeout=5_000) as failed:
        window.open_video(ui_media.video)
    assert failed.args[1].startswith("Analysis is disabled")
    assert "Analysis is disabled" in window.query_panel.message.text()
    assert window.lanes.inference.idle and window.results.rowCount() == 0


def test_a_download_shows_progress_and_can_be_cancelled(qtbot, production_window):
    dialog = production_window.model_setup_dialog()
    fractions = []
    transfer = dialog.download(weights.SLOWFAST)
    transfer.progressed.connect(lambda _id, p: fractions.append(p.fraction))
    qtbot.waitUntil(lambda: any(f for f in fractions), timeout=30_000)
    assert dialog.progress.isVisible() and dialog.cancel_button.isEnabled()
    assert not dialog.rows[weights.VGGISH].download.isEnabled()  # one transfer at a time
    assert dialog.status_label.text().startswith("downloading")
    with qtbot.waitSignal(transfer.finished, timeout=60_000):
        QTest.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert dialog.status_label.text().startswith("Cancelled")
    part = weights.weight_path(weights.SLOWFAST).with_name(weights.REGISTRY[weights.SLOWFAST].filename + ".part")
    assert part.is_file() and part.stat().st_size > 0  # kept for resuming
    assert dialog.rows[weights.SLOWFAST].download.isEnabled() and not dialog.progress.isVisible()


def test_importing_files_checks_them_and_a_good_one_becomes_present(qtbot, production_window, tmp_path):
    window = production_window
    dialog = window.model_setup_dialog()
    junk = tmp_path / "vggish-download.pth"
    junk.write_bytes(b"this is not a checkpoint" * 100)
    with qtbot.waitSignal(dialog.import_file(weights.VGGISH, junk).finished, timeout=30_000):
        pass
    assert dialog.status_label.text() and "Installed" not in dialog.status_label.text()
    assert not weights.weight_path(weights.VGGISH).exists()

    # a checkpoint with SlowFast's architecture (random values: no published hash to check against)
    torch.manual_seed(0)
    checkpoint = tmp_path / "SLOWFAST_8x8_R50.pyth"
    torch.save({"model_state": weights.REGISTRY[weights.SLOWFAST].architecture().state_dict()}, checkpoint)
    with qtbot.waitSignal(window.analysis.unavailable, timeout=120_000) as reloaded:
        with qtbot.waitSignal(dialog.weightsChanged, timeout=120_000):
            dialog.import_file(weights.SLOWFAST, checkpoint)
    qtbot.waitUntil(lambda: dialog.rows[weights.SLOWFAST].state.text() == "Present ✓", timeout=30_000)
    assert dialog.rows[weights.VGGISH].state.text() == "Missing"
    message = reloaded.args[0]
    names = {key: spec.plain_name for key, spec in weights.REGISTRY.items()}
    assert names[weights.VGGISH] in message and names[weights.SLOWFAST] not in message  # only what is still missing
    assert not window.open_action.isEnabled()


def window_texts(*roots: QWidget) -> list[str]:
    """Every text a person can read in ``roots``: labels, buttons, text fields, tooltips, titles."""
    texts = []
    for root in roots:
        for widget in [root, *root.findChildren(QWidget)]:
            texts += [widget.toolTip(), widget.windowTitle(), widget.accessibleName()]
            if isinstance(widget, (QLabel, QAbstractButton)):
                texts.append(widget.text())
            elif isinstance(widget, QPlainTextEdit):
                texts.append(widget.toPlainText())
    return [t for t in texts if t]


def assert_no_command_line(*roots: QWidget) -> None:
    for text in window_texts(*roots):
        assert "emomv-desktop " not in text and "`" not in text, text


@pytest.fixture
def refused_url():
    """A loopback address where nothing listens: the connection is refused, as on a machine offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/SLOWFAST_8x8_R50.pyth"


def test_the_welcome_says_what_is_needed_and_its_size_in_words(qtbot, production_window):
    window = production_window
    dialog = window.model_setup_dialog()
    qtbot.waitUntil(lambda: len(dialog.statuses) == len(weights.REGISTRY), timeout=30_000)
    total = sum(weights.approx_size(key) for key in weights.REGISTRY)
    assert 3e8 < total < 7e8  # the two real architectures: roughly the half gigabyte the files weigh
    assert f"{total / 1e6:.0f} MB" in dialog.intro.text() and "2 pretrained networks" in dialog.intro.text()
    assert f"{total / 1e6:.0f} MB" in window.banner_label.text()
    downloads = [b for b in dialog.findChildren(QAbstractButton) if b.isVisible() and "Download" in b.text()]
    assert downloads == [dialog.download_button]  # one Download button on a first run
    for key, row in dialog.rows.items():
        assert row.title.text().count(weights.REGISTRY[key].plain_name) == 1  # named once, not twice
    assert_no_command_line(window, dialog)


def test_an_offline_download_says_so_and_gives_the_files_to_fetch(qtbot, production_window, refused_url):
    window = production_window
    dialog = window.model_setup_dialog()
    qtbot.waitUntil(lambda: len(dialog.statuses) == len(weights.REGISTRY), timeout=30_000)
    dialog.urls = {key: refused_url for key in weights.REGISTRY}
    with qtbot.waitSignal(dialog.download().finished, timeout=60_000):
        pass
    said = dialog.status_label.text()
    assert said.startswith("no internet connection: download the files elsewhere and use Import file…"), said
    assert "Errno" not in said
    assert dialog.offline_box.isVisible() and dialog.addresses.isReadOnly()
    for spec in weights.REGISTRY.values():
        assert spec.filename in dialog.addresses.toPlainText() and spec.url in dialog.addresses.toPlainText()
    QTest.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == dialog.addresses.toPlainText()
    assert dialog.download_button.isEnabled()  # ready to try again
    assert_no_command_line(window, dialog)


def test_a_junk_import_says_it_is_not_the_weights_file(qtbot, production_window, tmp_path):
    dialog = production_window.model_setup_dialog()
    junk = tmp_path / "holiday.jpg"
    junk.write_bytes(b"\xff\xd8 not a checkpoint" * 100)
    for key, spec in weights.REGISTRY.items():
        with qtbot.waitSignal(dialog.import_file(key, junk).finished, timeout=30_000):
            pass
        said = dialog.status_label.text()
        assert said.startswith(f"this is not the {spec.plain_name} weights file (expected {spec.filename}"), said
        assert "torch.load" not in said and ".import" not in said and str(tmp_path) not in said
        assert not weights.weight_path(key).exists()
