"""Small GUI parts: settings persistence, text formats, the emotion chart."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette

from emomv_desktop.engine import paths
from emomv_desktop.engine.emotions import Emotion
from emomv_desktop.ui import text
from emomv_desktop.ui.emotion_chart import EmotionChart
from emomv_desktop.ui.settings import Key, Settings, settings_path


def test_settings_persist_in_an_ini_file_under_the_config_dir(qapp):
    assert not paths.config_dir().exists(), "constructing or importing must not create folders"
    settings = Settings()
    settings.set(Key.VOLUME, 0.35)
    settings.set(Key.FILTER_MIN_DURATION, True)
    settings.set(Key.LAST_VIDEO_DIR, "/nowhere/at/all")
    settings.sync()
    assert settings_path().is_file() and settings_path().parent == paths.config_dir()
    again = Settings()
    assert again.get(Key.VOLUME, 0.8) == pytest.approx(0.35)
    assert again.get(Key.FILTER_MIN_DURATION, False) is True
    assert again.get_path(Key.LAST_VIDEO_DIR) != "/nowhere/at/all"  # a folder that is gone falls back to home


def test_settings_of_the_wrong_type_fall_back_to_the_default(qapp):
    settings_path().parent.mkdir(parents=True)
    settings_path().write_text("[preview]\nvolume=loud\n[results]\ntop=many\n", encoding="utf-8")
    settings = Settings()
    assert settings.get(Key.VOLUME, 0.8) == 0.8
    assert settings.get(Key.TOP, 500) == 500


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0:00"), (75.4, "1:15"), (3723, "1:02:03"), (None, "–"), (float("nan"), "–")],
)
def test_clock(seconds, expected):
    assert text.clock(seconds) == expected


def test_text_formats():
    assert text.section(62.0, 92.5) == "1:02-1:32"
    assert text.track_title("Song", "Band", "/m/a.mp3") == "Song — Band"
    assert text.track_title(None, "Band", "/m/a.mp3") == "a.mp3"
    assert text.track_title("Song", None, "/m/a.mp3") == "Song"
    assert text.file_size(999) == "999 B"
    assert text.file_size(1_234_567) == "1.2 MB"
    assert text.file_size(5_000_000_000) == "5.0 GB"
    assert text.remaining(20) == "less than a minute left"
    assert text.remaining(4 * 60) == "about 4 min left"
    assert text.remaining(125 * 60) == "about 2 h 5 min left"


def test_emotion_chart_paints_the_top_emotion_in_the_palette_highlight(qtbot):
    chart = EmotionChart()
    qtbot.addWidget(chart)
    palette = chart.palette()
    palette.setColor(QPalette.ColorRole.Highlight, QColor(10, 200, 30))
    palette.setColor(QPalette.ColorRole.Mid, QColor(120, 120, 120))
    chart.setPalette(palette)
    chart.resize(300, chart.sizeHint().height())
    probs = [0.1, 0.05, 0.05, 0.7, 0.1]
    chart.set_probabilities(probs)
    assert chart.top_emotion() == Emotion.SAD
    assert "sad 70%" in chart.accessibleDescription()
    image = chart.grab().toImage()
    row = chart.sizeHint().height() / len(Emotion)
    highlighted = {
        i for i in range(len(Emotion))
        for x in range(0, image.width(), 4)
        if image.pixelColor(x, int(row * i + row / 2)) == QColor(10, 200, 30)
    }
    assert highlighted == {int(Emotion.SAD)}
    with pytest.raises(ValueError, match="expected 5 probabilities, got 2"):
        chart.set_probabilities([0.5, 0.5])
    chart.set_probabilities(None)
    assert chart.top_emotion() is None


def test_many_void_calls_and_emits_do_not_exhaust_none_or_true(qapp):
    """PySide6 6.12's leak of None/True references (see ui/compat.py) must not bring the interpreter down."""
    import sys

    from PySide6.QtCore import QObject, QPoint, Signal

    from emomv_desktop.ui.compat import RESERVE, leaked_references, protect_singletons

    protect_singletons()  # already done for the session: a second call changes nothing
    assert not protect_singletons()

    class Emitter(QObject):
        changed = Signal(int)

    emitter, point = Emitter(), QPoint()
    emitter.changed.connect(lambda value: None)
    calls = 20_000  # several times what None (~5 000) and True (~600) hold without the reserve
    for i in range(calls):
        emitter.changed.emit(i)
        point.setX(i)
    leaks = leaked_references()
    for name, obj in (("None", None), ("True", True)):
        assert leaks[name] == 0 or sys.getrefcount(obj) > RESERVE - 10 * calls, name
