"""The ``emomv-desktop`` command line: dispatch, output formats, and error exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from emomv_desktop import cli
from emomv_desktop.engine.jobs import Progress
from emomv_desktop.engine.library import IndexProgress, Library
from emomv_desktop.engine.protocol import MUSIC_BACKBONE

from .engine.test_library import make_features

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "library.sqlite3"
    monkeypatch.setenv("EMOMV_LIBRARY_DB", str(path))
    return path


def assert_one_line_error(code, err, *fragments):
    assert code == cli.EXIT_ERROR
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emomv-desktop: error: "), err
    for fragment in fragments:
        assert fragment in lines[0]


# ------------------------------------------------------------------------------------------- dispatch
@pytest.fixture
def fake_gui(monkeypatch):
    """Stands in for ``emomv_desktop.app`` (the GUI's module) to observe what the CLI hands it."""
    calls = []
    module = types.ModuleType("emomv_desktop.app")
    module.run_gui = lambda video=None: calls.append(video) or 7
    monkeypatch.setitem(sys.modules, "emomv_desktop.app", module)
    return calls


@pytest.mark.parametrize("argv, video", [([], None), (["clip.mp4"], "clip.mp4"), (["--debug", "my cut.mov"], "my cut.mov")])
def test_no_command_or_a_video_opens_the_gui(fake_gui, argv, video, capsys):
    assert cli.main(argv) == 7
    assert fake_gui == [video]


def test_commands_do_not_open_the_gui(fake_gui, db, capsys):
    code, out, _ = run(["library", "status"], capsys)
    assert code == 0 and fake_gui == [] and "tracks: 0" in out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["suggest"])
    assert exc.value.code == 2


def test_python_dash_m_and_no_qt_for_headless_commands(tmp_path):
    env = {"EMOMV_LIBRARY_DB": str(tmp_path / "lib.sqlite3"), "PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"}
    help_run = subprocess.run([sys.executable, "-m", "emomv_desktop", "--help"], capture_output=True, text=True,
                              env=env, cwd=tmp_path)
    assert help_run.returncode == 0 and "suggest" in help_run.stdout
    probe = (
        "import sys; from emomv_desktop.cli import main; code = main(['library', 'status', '--json']); "
        "assert code == 0; assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt imported'"
    )
    status = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["format"] == cli.STATUS_FORMAT


# ------------------------------------------------------------------------------------------- errors
def test_suggest_missing_video(db, tmp_path, capsys):
    code, _, err = run(["suggest", tmp_path / "nope.mp4"], capsys)
    assert_one_line_error(code, err, "nope.mp4", "video file not found")


def test_suggest_with_an_empty_library(db, tmp_path, capsys):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0")
    code, _, err = run(["suggest", video], capsys)
    assert_one_line_error(code, err, "no indexed tracks", "emomv-desktop index DIR")


def test_index_errors(db, tmp_path, capsys):
    code, _, err = run(["index", tmp_path / "missing"], capsys)
    assert_one_line_error(code, err, "missing", "not a folder")
    code, _, err = run(["index"], capsys)
    assert_one_line_error(code, err, "no folders yet")


def test_debug_shows_the_traceback(db, tmp_path, capsys):
    code, _, err = run(["--debug", "suggest", tmp_path / "nope.mp4"], capsys)
    assert code == 1 and "Traceback (most recent call last)" in err and err.strip().endswith("video file not found")
    code, _, err = run(["suggest", tmp_path / "nope.mp4", "--debug"], capsys)  # after the command too
    assert code == 1 and "Traceback" in err


def test_broken_library_database_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"garbage" * 1000)
    code, _, err = run(["--library", bad, "library", "status"], capsys)
    assert_one_line_error(code, err, str(bad))


def test_library_remove_unknown_folder(db, tmp_path, capsys):
    code, _, err = run(["library", "remove", tmp_path], capsys)
    assert_one_line_error(code, err, "is not a library folder")


def test_models_import_needs_a_known_name_or_key(tmp_path, capsys):
    file = tmp_path / "weights.bin"
    file.write_bytes(b"\0" * 64)
    code, _, err = run(["models", "import", file], capsys)
    assert_one_line_error(code, err, "weights.bin", "--key")


# -------------------------------------------------------------------------------------------- output
def test_library_status_lists_folders_counts_and_failures(db, tmp_path, capsys):
    with Library(db) as lib:
        folder = lib.add_folder(tmp_path)
        path = folder / "ok.wav"
        lib.store_features(path, make_features(path, 40), MUSIC_BACKBONE, size=1, mtime_ns=1, folder=folder)
        lib.store_failure(folder / "bad.mp3", "not an audio file", MUSIC_BACKBONE, size=1, mtime_ns=1, folder=folder)
    code, out, _ = run(["library", "status", "--json"], capsys)
    status = json.loads(out)
    assert code == 0
    assert (status["tracks"], status["indexed"], status["failed"], status["windows"]) == (2, 1, 1, 3)
    assert status["folders"] == [str(tmp_path.resolve())]
    assert status["failures"] == [{"path": str(folder / "bad.mp3"), "error": "not an audio file"}]
    code, out, _ = run(["library", "status"], capsys)
    assert "2 (1 indexed, 1 failed)" in out and "bad.mp3: not an audio file" in out


@pytest.mark.parametrize("seconds, text", [(0, "00:00"), (75.4, "01:15"), (599.6, "10:00"), (3723, "1:02:03"),
                                           (None, "--:--")])
def test_format_time(seconds, text):
    assert cli.format_time(seconds) == text


def test_progress_bar_draws_on_a_terminal_only():
    stream = io.StringIO()
    bar = cli.ProgressBar(stream, enabled=True, hz=1e9)
    bar(IndexProgress(3, 12, "/music/a.flac", tracks_per_minute=42.0))
    assert "[#######" in stream.getvalue() and "3/12" in stream.getvalue() and "42.0 tracks/min" in stream.getvalue()
    bar.close()
    assert stream.getvalue().endswith("\r\x1b[K")
    silent = io.StringIO()
    cli.ProgressBar(silent)(Progress(1, 2, "x"))  # StringIO is not a terminal
    assert silent.getvalue() == ""
