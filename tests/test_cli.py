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
from emomv_desktop.engine import loading
from emomv_desktop.engine.jobs import Progress
from emomv_desktop.engine.library import IndexProgress, Library
from emomv_desktop.engine.protocol import MUSIC_BACKBONE

from . import media_factory
from .cli_helpers import CLIPS, run, save_random_model
from .engine.helpers import make_features

PROJECT_ROOT = Path(__file__).resolve().parents[1]


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
    module.run_gui = (lambda video=None, argv=None, library=None:
                      calls.append(video) or module.qt_argv.append(argv) or module.libraries.append(library) or 7)
    module.qt_argv = []  # what the window's QApplication gets
    module.libraries = []  # the library the window opens (None: EMOMV_LIBRARY_DB or the default)
    monkeypatch.setitem(sys.modules, "emomv_desktop.app", module)
    return calls


@pytest.mark.parametrize("argv, video", [([], None), (["clip.mp4"], "clip.mp4"), (["--debug", "my cut.mov"], "my cut.mov")])
def test_no_command_or_a_video_opens_the_gui(fake_gui, argv, video, capsys):
    assert cli.main(argv) == 7
    assert fake_gui == [video]


@pytest.mark.parametrize("argv, video, qt", [
    (["-style", "fusion"], None, ["-style", "fusion"]),
    (["-platform=offscreen", "--debug", "-reverse", "cut.mp4"], "cut.mp4", ["-platform=offscreen", "-reverse"]),
    (["cut.mp4", "-stylesheet", "dark.qss"], "cut.mp4", ["-stylesheet", "dark.qss"]),
])
def test_qt_options_go_to_the_window_not_to_argparse(fake_gui, argv, video, qt):
    assert cli.main(argv) == 7
    assert fake_gui == [video] and sys.modules["emomv_desktop.app"].qt_argv == [[cli.PROG, *qt]]


def test_the_window_opens_the_library_given_with_library(fake_gui, tmp_path):
    """``emomv-desktop --library DB [VIDEO]``, as the usage line says: the window gets that library (before, the
    option was parsed and dropped, so the window opened the default library)."""
    assert cli.main(["--library", str(tmp_path / "cues.db"), "cut.mp4"]) == 7
    assert fake_gui == ["cut.mp4"] and sys.modules["emomv_desktop.app"].libraries == [tmp_path / "cues.db"]
    assert cli.main([]) == 7 and sys.modules["emomv_desktop.app"].libraries[-1] is None


def test_the_usage_line_shows_the_video_argument(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    usage = capsys.readouterr().out.split("\n\n")[0]
    assert f"{cli.PROG} [--debug] [--library DB] [VIDEO]" in usage and "COMMAND" in usage


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


def test_looking_at_a_missing_library_creates_nothing(tmp_path, monkeypatch, capsys):
    path = tmp_path / "not" / "yet" / "library.sqlite3"
    monkeypatch.setenv("EMOMV_LIBRARY_DB", str(path))
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0")
    code, out, _ = run(["library", "status"], capsys)
    assert code == 0 and "tracks: 0" in out
    code, out, _ = run(["library", "status", "--json"], capsys)
    assert code == 0 and json.loads(out)["tracks"] == 0
    code, _, err = run(["suggest", video], capsys)
    assert_one_line_error(code, err, "no indexed tracks")
    assert not (tmp_path / "not").exists()


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


@pytest.mark.parametrize("seconds, text", [(0, "0:00"), (75.4, "1:15"), (599.6, "9:59"), (3723, "1:02:03"),
                                           (None, "–")])
def test_format_time(seconds, text):
    """The one clock format (engine.text), shared with the GUI: whole seconds cut, as players count."""
    assert cli.clock(seconds) == text


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


# ------------------------------------------------------------ end to end with the real (random-init) networks
# (the networks, the indexed library and the model file are fixtures of tests/conftest.py)
def suggest(indexed, capsys, *args):
    db, _, video, _ = indexed
    return run(["--library", db, "suggest", video, "--clips", CLIPS, "--device", "cpu", *args], capsys)


def test_index_summary_and_rescan(indexed, random_backbones, capsys):
    db, music, _, (code, out, err) = indexed
    assert code == 0, err
    assert "indexed 5, unchanged 0, failed 1, removed 0" in out and "error: " in out and "broken.mp3" in out
    code, out, _ = run(["--library", db, "index", "--device", "cpu"], capsys)  # every known folder; nothing new
    assert code == 0 and "indexed 0, unchanged 6, failed 0, removed 0" in out


def test_precision_reaches_both_loaders(tmp_path, monkeypatch, capsys):
    """``--precision exact|fast`` is handed to the extractors' loaders; ``auto`` leaves each its own default."""
    from emomv_desktop.engine import loading

    seen = []

    def load_vggish(device, *, allow_random=False, precision=None):
        seen.append(precision)
        raise cli.CliError("stop here")

    monkeypatch.setattr(loading, "load_vggish", load_vggish)
    monkeypatch.setenv(loading.RANDOM_NETWORKS_ENV, "1")
    music = tmp_path / "music"
    music.mkdir()
    for choice in ("exact", "fast", "auto"):
        code, _, err = run(["--library", tmp_path / "lib.sqlite3", "index", music, "--precision", choice], capsys)
        assert_one_line_error(code, err, "stop here")
    assert seen == ["exact", "fast", None]


def test_suggest_json(indexed, random_backbones, model_file, capsys):
    code, out, err = suggest(indexed, capsys, "--top", "3", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["format"], result["version"]) == (cli.SUGGESTIONS_FORMAT, cli.SUGGESTIONS_VERSION)
    assert result["video"]["duration"] == pytest.approx(6.0, abs=0.1)
    assert set(result["video"]["emotion_probs"]) == set(cli.EMOTION_LABELS)
    assert result["model"] == {"path": str(model_file), "id": result["model"]["id"], "multitask": True}
    assert result["filters"] == {"emotions": None, "min_duration": None, "text": None}
    ranked = result["suggestions"]
    assert [s["rank"] for s in ranked] == [1, 2, 3]
    assert [s["score"] for s in ranked] == sorted((s["score"] for s in ranked), reverse=True)
    for s in ranked:
        assert 0 <= s["best_section"]["start"] < s["best_section"]["end"] <= s["duration"] + 1e-3
        assert s["emotion"] == max(s["emotion_probs"], key=s["emotion_probs"].get)
        assert s["artist"] == "CLI Band" and Path(s["path"]).parent == indexed[1]


def test_suggest_text_output_with_filters(indexed, random_backbones, model_file, capsys):
    code, out, _ = suggest(indexed, capsys, "--min-duration", "video", "--text", "SONG")
    lines = out.strip().splitlines()
    assert code == 0 and "cut.mp4" in lines[0] and "video emotion:" in lines[0]
    titles = [line.split("CLI Band - ")[1].split("  ")[0] for line in lines[2:]]
    assert sorted(titles) == ["Song 1", "Song 2", "Song 3", "Song 4"]  # Song 0 (4 s) is shorter than the video
    best_section = lines[2].split()[2]
    assert len(best_section.split("-")) == 2 and ":" in best_section  # mm:ss-mm:ss


def test_suggest_model_errors_and_single_task(indexed, random_backbones, tmp_path, monkeypatch, capsys):
    code, _, err = suggest(indexed, capsys, "--emotion", "grumpy")
    assert_one_line_error(code, err, "grumpy")
    monkeypatch.setenv("EMOMV_MODEL", str(tmp_path / "absent.pt"))
    code, _, err = suggest(indexed, capsys)
    assert_one_line_error(code, err, "absent.pt", "emomv-train fit", "EMOMV_MODEL")
    monkeypatch.setenv("EMOMV_MODEL", str(save_random_model(tmp_path / "single.pt", multitask=False)))
    code, _, err = suggest(indexed, capsys, "--emotion", "sad")
    assert_one_line_error(code, err, "single-task")
    code, out, _ = suggest(indexed, capsys, "--json")
    result = json.loads(out)
    assert code == 0 and result["video"]["emotion"] is None and result["video"]["emotion_probs"] is None
    assert result["suggestions"] and all(s["emotion"] is None for s in result["suggestions"])


def test_models_status_and_missing_weights(db, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EMOMV_MODEL", str(save_random_model(tmp_path / "model.pt")))
    code, out, _ = run(["models", "status"], capsys)
    assert code == 0
    assert "slowfast_r50: missing" in out and "vggish: missing" in out
    assert "retrieval model: present" in out and "multi-task" in out
    code, _, err = run(["index", tmp_path], capsys)  # no pretrained VGGish: a clear error, never random weights
    assert_one_line_error(code, err, "vggish", "emomv-desktop models download")


def test_suggest_bpm_range_and_its_errors(indexed, random_backbones, model_file, capsys):
    code, _, err = suggest(indexed, capsys, "--bpm", "fast")
    assert_one_line_error(code, err, "--bpm", "90-130")
    code, _, err = suggest(indexed, capsys, "--bpm", "130-90")
    assert_one_line_error(code, err, "--bpm")
    code, out, err = suggest(indexed, capsys, "--json", "--bpm", "0-1000")
    assert code == 0, err
    result = json.loads(out)
    assert (result["filters"]["bpm_min"], result["filters"]["bpm_max"]) == (0.0, 1000.0)
    with Library(indexed[0]) as lib:
        with_tempo = {str(t.path): t.bpm for t in lib.tracks() if t.bpm is not None}
    assert {s["path"]: s["bpm"] for s in result["suggestions"]} == pytest.approx(with_tempo, abs=0.01)
    assert all("covers" in s for s in result["suggestions"])


def test_suggest_scenes_gives_one_cue_per_scene(indexed, random_backbones, model_file, tmp_path, capsys):
    db = indexed[0]
    video, cuts = media_factory.write_cut_video(tmp_path / "three.mp4", [4.5, 4.5, 4.5], width=256, height=256)
    base = ["--library", db, "suggest", video, "--clips", CLIPS, "--device", "cpu", "--scenes",
            "--merge-threshold", "1.01", "--min-scene", "3"]
    code, out, err = run([*base, "--json", "--top", "3"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["video"]["duration"] == pytest.approx(13.5, abs=0.1)
    cues = result["cues"]
    assert [c["scenes"] for c in cues] == [[0], [1], [2]]
    bounds = [c["start"] for c in cues[1:]]
    assert bounds == pytest.approx(cuts, abs=1 / 30 + 1e-3) and cues[-1]["end"] == pytest.approx(13.5, abs=0.1)
    for cue in cues:
        assert set(cue["emotion_probs"]) == set(cli.EMOTION_LABELS) and cue["suggestions"]
        length = cue["end"] - cue["start"]
        for s in cue["suggestions"]:
            section = s["best_section"]["end"] - s["best_section"]["start"]
            if s["covers"]:
                assert section == pytest.approx(length, abs=2e-3)
            else:
                assert s["duration"] < length and section == pytest.approx(s["duration"], abs=2e-3)
    code, out, err = run([*base, "--covering"], capsys)
    assert code == 0, err
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 4 and [b.splitlines()[0].split()[:2] for b in blocks[1:]] == [
        ["Scene", "1"], ["Scene", "2"], ["Scene", "3"]]
    assert "shorter than the cue" not in out


def test_qt_options_with_a_command_are_a_usage_error(fake_gui, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["-style", "fusion", "library", "status"])
    assert exc.value.code == 2 and "Qt options apply to the window only" in capsys.readouterr().err
    assert fake_gui == []


def test_export_writes_a_saved_set_of_choices_as_a_timeline_and_a_cue_sheet(tmp_path, capsys):
    import csv

    import opentimelineio as otio

    from emomv_desktop.engine.choices import Choice, VideoChoices, save_choices
    from emomv_desktop.engine.timeline import TimelineVideo

    video, _ = media_factory.write_cut_video(tmp_path / "cut.mp4", [2.0, 2.0], fps=25)
    tracks = [media_factory.write_audio(tmp_path / f"t{i}.wav", seconds=12.0, seed=i) for i in range(2)]
    choices = VideoChoices(TimelineVideo(video, 25.0, 4.0), (
        Choice(0.0, 2.0, tracks[0], 4.0, 6.0, title="First", artist="A"),
        Choice(2.0, 4.0, tracks[1], 8.4, 10.4, title="Second", artist="B"),
    ))
    saved = save_choices(choices, tmp_path / "choices.json")
    code, out, err = run(["export", saved, "--timeline", tmp_path / "cut.otio", "--cue-sheet", tmp_path / "cues.csv"],
                         capsys)
    assert code == 0, err
    assert "cut.otio" in out and "cues.csv" in out
    timeline = otio.adapters.read_from_file(str(tmp_path / "cut.otio"))
    music = [c for t in timeline.audio_tracks() for c in t.find_clips()]
    assert sorted((c.source_range.start_time.to_seconds(), c.source_range.duration.to_seconds()) for c in music) == [
        (4.0, 2.0), (8.4, 2.0)]
    with open(tmp_path / "cues.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert [(r["title"], r["artist"]) for r in rows] == [("First", "A"), ("Second", "B")]
    code, _, err = run(["export", saved], capsys)
    assert_one_line_error(code, err, "nothing to export")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    code, _, err = run(["export", tmp_path / "other.json", "--cue-sheet", tmp_path / "x.csv"], capsys)
    assert_one_line_error(code, err, "not a choices file")
    code, _, err = run(["export", saved, "--timeline", tmp_path / "cut.mov"], capsys)
    assert_one_line_error(code, err, "timeline format")
