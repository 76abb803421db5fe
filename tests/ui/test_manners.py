"""Desktop manners: keyboard reach and names, export folders, light and dark palettes."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QDockWidget,
    QHeaderView,
    QLineEdit,
    QMenu,
    QToolBar,
    QWidget,
)

INTERACTIVE = (QAbstractButton, QAbstractSlider, QAbstractSpinBox, QComboBox, QLineEdit, QAbstractItemView)


def tab_chain(window: QWidget) -> list[QWidget]:
    """The widgets Tab stops at when enabled, in order: the window's focus chain, tab-focusable and shown."""
    reached, widget = [], window.nextInFocusChain()
    while widget is not window:
        if widget.isVisible() and widget.focusPolicy() & Qt.FocusPolicy.TabFocus:
            reached.append(widget)
        widget = widget.nextInFocusChain()
    return reached


def by_mouse_only(widget: QWidget) -> bool:
    """Widgets whose job the keyboard does elsewhere: toolbar buttons (their actions are in the menus, checked
    below), the dock's title buttons (View → Library, Ctrl+L), table headers (View → Sort by, checked below),
    and the parts of composite widgets (a table's scroll bars, a line edit's clear button)."""
    parent = widget.parentWidget()
    return (isinstance(parent, QToolBar) or isinstance(widget, QHeaderView)
            or widget.objectName().startswith(("qt_dockwidget_", "qt_scrollarea_", "_q_"))
            or isinstance(parent, QDockWidget) and isinstance(widget, QAbstractButton)
            or isinstance(parent, (QAbstractItemView, QLineEdit, QComboBox, QAbstractSpinBox))
            or isinstance(parent, QWidget) and parent.objectName().startswith("qt_scrollarea_"))


def test_tab_reaches_every_control_and_each_has_a_name(make_window):
    window = make_window()
    chain = tab_chain(window)
    interactive = [w for w in window.findChildren(QWidget)
                   if isinstance(w, INTERACTIVE) and w.isVisible() and w.window() is window and not by_mouse_only(w)]
    assert window.table in interactive and window.search in interactive and window.preview.play_button in interactive
    unreached = [f"{type(w).__name__} {w.accessibleName() or w.objectName()!r}" for w in interactive if w not in chain]
    assert unreached == []
    unnamed = [f"{type(w).__name__} in {type(w.parentWidget()).__name__}" for w in chain if not w.accessibleName()]
    assert unnamed == []


def test_every_toolbar_action_is_in_a_menu_with_a_tooltip_and_columns_sort_from_the_keyboard(make_window):
    window = make_window()
    in_menus = {a for menu in window.menuBar().findChildren(QMenu) for a in menu.actions()}
    for bar in window.findChildren(QToolBar):
        for action in bar.actions():
            if not action.isSeparator():
                assert action in in_menus and action.toolTip(), action.text()
    window.sort_menu.aboutToShow.emit()
    titles = [a.text() for a in window.sort_menu.actions()]
    assert len(titles) == window.proxy.columnCount()
    header = window.table.horizontalHeader()
    column = next(c for c in range(window.proxy.columnCount()) if c != header.sortIndicatorSection())
    window.sort_menu.actions()[column].trigger()
    assert header.sortIndicatorSection() == column
    order = header.sortIndicatorOrder()
    window.sort_by(column)  # the same column again flips the order, as a second header click does
    assert header.sortIndicatorSection() == column and header.sortIndicatorOrder() != order


def test_file_dialogs_open_in_the_users_folders_first_then_the_last_one(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from emomv_desktop.ui.handoff import HandOff
    from emomv_desktop.ui.settings import Key, Settings
    from emomv_desktop.ui.worker import WorkerLane

    folders = {name: tmp_path / name for name in ("Films", "Tunes", "Papers")}
    for folder in folders.values():
        folder.mkdir()
    config = tmp_path / "xdg"  # the desktop's own user-dirs file, as platformdirs reads it on Linux
    config.mkdir()
    (config / "user-dirs.dirs").write_text(
        f'XDG_VIDEOS_DIR="{folders["Films"]}"\nXDG_MUSIC_DIR="{folders["Tunes"]}"\n'
        f'XDG_DOCUMENTS_DIR="{folders["Papers"]}"\n', encoding="utf-8")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    settings = Settings()
    assert settings.get_path(Key.LAST_VIDEO_DIR) == str(folders["Films"])
    assert settings.get_path(Key.LAST_MUSIC_DIR) == str(folders["Tunes"])

    asked = []
    chosen = tmp_path / "elsewhere"
    chosen.mkdir()

    def save_dialog(_parent, _title, start, _filters):
        asked.append(str(Path(start).parent))
        return str(chosen / Path(start).name), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_dialog))
    parent = QWidget()
    qtbot.addWidget(parent)
    lane = WorkerLane("test", parent)
    handoff = HandOff(lane, lane, settings, parent)
    for key in (Key.LAST_EXPORT_DIR, Key.LAST_PREVIEW_DIR, Key.LAST_EXPORT_DIR):
        handoff._ask_save_path("Export", "x.csv", "", key)
    assert asked == [str(folders["Papers"]), str(folders["Films"]), str(chosen)]  # then the folder last used


def contrast(a, b) -> float:
    """WCAG contrast ratio of two QColors."""
    def luminance(c):
        def lin(v):
            v /= 255
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * lin(c.red()) + 0.7152 * lin(c.green()) + 0.0722 * lin(c.blue())
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_light_and_dark_colours_are_legible_and_the_chart_follows_them(qtbot, make_window):
    from collections import Counter

    from PySide6.QtGui import QPalette

    from emomv_desktop.ui.appearance import is_dark
    from emomv_desktop.ui.settings import Key

    window = make_window()
    chart = window.query_panel.chart
    chart.resize(320, 120)
    try:
        for scheme in ("dark", "light"):
            window.set_color_scheme(scheme)
            qtbot.waitUntil(lambda: is_dark(chart.palette()) == (scheme == "dark"), timeout=5_000)
            palette = chart.palette()
            assert window.settings.get(Key.COLOR_SCHEME) == scheme
            for fg, bg in ((QPalette.ColorRole.WindowText, QPalette.ColorRole.Window),
                           (QPalette.ColorRole.Text, QPalette.ColorRole.Base),
                           (QPalette.ColorRole.ButtonText, QPalette.ColorRole.Button),
                           (QPalette.ColorRole.HighlightedText, QPalette.ColorRole.Highlight)):
                assert contrast(palette.color(fg), palette.color(bg)) >= 4.5, (scheme, fg)
            image = chart.grab().toImage()
            pixels = Counter(image.pixelColor(x, y).name() for x in range(0, image.width(), 3)
                             for y in range(0, image.height(), 3))
            background = pixels.most_common(1)[0][0]
            roles = (QPalette.ColorRole.Window, QPalette.ColorRole.AlternateBase)  # the chart's own, not fixed
            assert background in {palette.color(role).name() for role in roles}, scheme
    finally:
        window.set_color_scheme("system")
