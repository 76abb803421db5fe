"""Light, dark, or the desktop's own colours (a setting; View → Colours).

Qt 6.8+ asks the platform for a colour scheme (``QStyleHints.setColorScheme``); platforms that cannot switch
(minimal window managers, offscreen) would keep their palette, so an explicit choice also sets the Fusion
style with a matching palette. Custom-painted widgets (ui/emotion_chart.py) paint with palette roles only, so
they follow.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

SCHEMES = {"system": Qt.ColorScheme.Unknown, "light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}
TITLES = {"system": "Follow the &system", "light": "&Light", "dark": "&Dark"}

_DARK = {
    QPalette.ColorRole.Window: "#2b2b2b", QPalette.ColorRole.WindowText: "#e8e8e8",
    QPalette.ColorRole.Base: "#1f1f1f", QPalette.ColorRole.AlternateBase: "#353535",
    QPalette.ColorRole.Text: "#e8e8e8", QPalette.ColorRole.Button: "#353535",
    QPalette.ColorRole.ButtonText: "#e8e8e8", QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.ToolTipBase: "#3a3a3a", QPalette.ColorRole.ToolTipText: "#e8e8e8",
    QPalette.ColorRole.PlaceholderText: "#9a9a9a", QPalette.ColorRole.Link: "#7fb2ff",
    QPalette.ColorRole.Light: "#505050", QPalette.ColorRole.Midlight: "#424242",
    QPalette.ColorRole.Mid: "#2a2a2a", QPalette.ColorRole.Dark: "#1c1c1c", QPalette.ColorRole.Shadow: "#101010",
}
_DARK_DISABLED = "#7c7c7c"
_HIGHLIGHT = "#2a62b5"  # white text on it: contrast 6:1 (Fusion's own #308cc6 gives 3.6:1, below WCAG's 4.5)


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, colour in _DARK.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(_DARK_DISABLED))
    return palette


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < palette.color(QPalette.ColorRole.WindowText).lightness()


def apply_color_scheme(app: QApplication, scheme: str) -> None:
    """``system``, ``light`` or ``dark`` (an unknown name counts as ``system``)."""
    scheme = scheme if scheme in SCHEMES else "system"
    app.styleHints().setColorScheme(SCHEMES[scheme])
    if scheme == "system":
        app.setPalette(QPalette())  # back to the platform's own
        return
    app.setStyle(QStyleFactory.create("Fusion"))
    palette = dark_palette() if scheme == "dark" else app.style().standardPalette()
    palette.setColor(QPalette.ColorGroup.Active, QPalette.ColorRole.Highlight, QColor(_HIGHLIGHT))
    palette.setColor(QPalette.ColorGroup.Inactive, QPalette.ColorRole.Highlight, QColor(_HIGHLIGHT))
    app.setPalette(palette)
