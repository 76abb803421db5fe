"""The service layer both front-ends call, and the bad inputs it refuses before anything heavy loads.

Generated media (tests/media_factory.py); networks only where a test needs them, random-init through the
demo mode (``EMOMV_RANDOM_NETWORKS=1``), the same code path the app takes.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emomv_desktop import cli
from emomv_desktop.engine import loading, logs, paths, service
from emomv_desktop.engine.emotions import Emotion
from emomv_desktop.engine.errors import DecodeError, PathError
from emomv_desktop.engine.library import Library
from emomv_desktop.engine.protocol import MUSIC_BACKBONE
from emomv_desktop.engine.ranking import RankFilter, Suggestion, VideoQuery
from tests import media_factory

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def make_track_features(path: Path, frames: int, seed: int):
    from emomv_desktop.engine.features import AudioInfo, TrackFeatures
    from emomv_desktop.engine.protocol import MUSIC_FEATURE_DIM, VGGISH_FRAME_SECONDS

    duration = frames * VGGISH_FRAME_SECONDS
    info = AudioInfo(path, duration, 44100, 2, "pcm_s16le", title=f"Título {seed}", artist="Böse Band")
    rng = np.random.default_rng(seed)
    return TrackFeatures(rng.random((frames, MUSIC_FEATURE_DIM), dtype=np.float32), duration, info)


@pytest.fixture
def library(tmp_path):
    """A library of three stored tracks in a folder with a non-ASCII name (no audio decoding needed)."""
    folder = tmp_path / "música"
    folder.mkdir()
    db = tmp_path / "library.sqlite3"
    with Library(db) as lib:
        lib.add_folder(folder)
        for seed in range(3):
            path = folder / f"canción {seed}.flac"
            lib.store_features(path, make_track_features(path, 40 + 20 * seed, seed), MUSIC_BACKBONE, size=1,
                               mtime_ns=seed, folder=folder)
    return db


@pytest.fixture
def model_file(tmp_path):
    import torch

    from emomv_desktop.engine.model import ModelConfig, RetrievalModel, save_model

    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    save_model(path, RetrievalModel(ModelConfig(multitask=True)).eval(), {"note": "random init, for tests"})
    return path


def run_cli(*args, env_extra=None, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "emomv_desktop", *map(str, args)], capture_output=True,
                          text=True, encoding="utf-8", errors="replace", env=env, timeout=timeout)


# ------------------------------------------------------------------------------------------- inputs
def test_a_folder_is_called_a_folder_and_a_missing_file_missing(tmp_path):
    with pytest.raises(PathError, match="is a folder, not a video file"):
        service.probe_video(tmp_path)
    with pytest.raises(PathError, match="video file not found"):
        service.probe_video(tmp_path / "absent.mp4")


def test_suggest_dir_says_it_is_a_folder(tmp_path, capsys):
    code = cli.main(["--library", str(tmp_path / "lib.sqlite3"), "suggest", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == cli.EXIT_ERROR and err.endswith("is a folder, not a video file") and "not found" not in err


def test_a_bad_video_is_refused_before_any_network_loads(library, model_file, tmp_path, monkeypatch, capsys):
    """The probe comes first: the loaders are never reached (they would take seconds and GiBs)."""
    loaded = []
    monkeypatch.setattr(loading, "load_slowfast", lambda *a, **k: loaded.append("slowfast"))
    monkeypatch.setattr(loading, "load_retrieval_model", lambda *a, **k: loaded.append("model"))
    inputs = media_factory.write_bad_inputs(tmp_path / "bad")
    os.chmod(inputs["unreadable_dir"].parent, 0o755)
    for bad in (inputs["text_as_mp3"], inputs["no_video_mp4"]):
        code = cli.main(["--library", str(library), "suggest", str(bad), "--model", str(model_file)])
        err = capsys.readouterr().err
        assert code == cli.EXIT_ERROR and str(bad.name) in err
    assert loaded == []
    with pytest.raises(DecodeError):
        service.probe_video(inputs["no_video_mp4"])


def test_a_bad_video_costs_no_torch_import(library, tmp_path):
    """The CLI refuses a file that is no video before torch (hundreds of MiB) is even imported."""
    bad = tmp_path / "notes.mp4"
    bad.write_text("a shot list, not a video\n" * 50, encoding="utf-8")
    probe = (f"import sys; from emomv_desktop.cli import main; "
             f"code = main(['--library', {str(library)!r}, 'suggest', {str(bad)!r}]); "
             f"assert code == 1, code; assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert result.returncode == 0, result.stderr
    assert "notes.mp4" in result.stderr


def test_indexing_leaves_the_ranking_cache_ready_for_the_next_start(tmp_path, model_file):
    """After a run that changed the library, the indexing thread has embedded it for the retrieval model and saved
    that cache beside the database: a query in a fresh process loads it instead of building it."""
    from emomv_desktop.engine import ranking

    music = tmp_path / "music"
    music.mkdir()
    media_factory.write_audio(music / "a.wav", seconds=4.0)
    db = tmp_path / "library.sqlite3"
    backends = loading.Backends(allow_random=True, library_path=db, model_path=model_file)
    report = service.IndexSession(backends).index([music])
    assert report.indexed == 1
    loaded = loading.load_retrieval_model(model_file)
    with Library(db) as lib:
        generation = lib.generation()
    file = ranking.cache_file(db, loaded.model_id, MUSIC_BACKBONE)
    cached = ranking.EmbeddingCache.load(file, generation=generation, model_id=loaded.model_id,
                                         backbone_id=MUSIC_BACKBONE, library_identity=ranking._library_identity(db))
    assert cached is not None and cached.generation == generation and len(cached.tracks) == 1


# ------------------------------------------------------------------------------------------- output
def test_text_output_survives_an_ascii_terminal(library, tmp_path):
    result = run_cli("--library", library, "library", "status", env_extra={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stderr
    assert "m?sica" in result.stdout and "UnicodeEncodeError" not in result.stderr


def test_one_suggestions_document_for_the_cli_and_the_gui_export(tmp_path, model_file):
    loaded = loading.load_retrieval_model(model_file)
    query = VideoQuery(tmp_path / "cut.mp4", 12.34567, np.ones(64, np.float32) / 8, np.array([.1, .1, .6, .1, .1]))
    suggestion = Suggestion(rank=1, track_id=1, path=tmp_path / "a.flac", title="A", artist=None, album=None,
                            duration=61.23456, score=0.5, best_start=1.0, best_end=30.76, emotion_probs=None,
                            emotion=None)
    analysis = service.Analysis(query, [suggestion], loaded, RankFilter(emotions=frozenset({Emotion.SAD})),
                                random_networks=True)
    written = json.loads(service.export_results(tmp_path / "r.json", analysis).read_text(encoding="utf-8"))
    assert written == analysis.document()
    assert written["random_networks"] is True
    assert written["model"] == {"path": str(model_file), "id": loaded.model_id, "multitask": True}
    assert written["filters"] == {"emotions": ["sad"], "min_duration": None, "text": None}
    assert written["video"]["duration"] == 12.346 and written["suggestions"][0]["duration"] == 61.235


def test_a_damaged_video_is_reported_in_the_document_and_in_words(tmp_path):
    from emomv_desktop.engine.export import video_record
    from emomv_desktop.engine.features import VideoFeatures
    from emomv_desktop.engine.text import damage_note

    features = VideoFeatures(np.zeros(1), np.ones(1), np.zeros((1, 2304), np.float32), np.zeros(2304, np.float32),
                             None, np.zeros((1, 3)), skipped_clips=2, skipped_seconds=4.26)
    query = VideoQuery(tmp_path / "cut.mp4", 12.0, np.ones(64, np.float32) / 8, None, features=features)
    assert video_record(query)["skipped_seconds"] == 4.26
    assert damage_note(2, 4.26) == "part of the video could not be decoded: 2 clips (4.3 s) skipped, the rest analysed"
    assert damage_note(0, 0.0) is None


# ------------------------------------------------------------------------------------------- demo mode
def test_demo_mode_end_to_end_says_so_and_hides_library_warnings(library, model_file, tmp_path):
    """``EMOMV_RANDOM_NETWORKS=1``: the real CLI builds random SlowFast itself; stderr is exactly the one
    demo line (no fvcore/TorchScript FutureWarning), the document says ``random_networks: true``."""
    video = media_factory.write_video(tmp_path / "cut.mp4", seconds=2.0)
    env = {loading.RANDOM_NETWORKS_ENV: "1", "EMOMV_MODEL": str(model_file), "PYTHONWARNINGS": "default",
           "EMOMV_WEIGHTS_DIR": str(tmp_path / "no-weights")}
    result = run_cli("--library", library, "suggest", video, "--clips", 1, "--device", "cpu", "--json",
                     env_extra=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [cli.RANDOM_NETWORKS_NOTE]
    document = json.loads(result.stdout)
    assert document["random_networks"] is True and len(document["suggestions"]) == 3


def test_demo_mode_never_switches_on_by_itself(monkeypatch):
    monkeypatch.delenv(loading.RANDOM_NETWORKS_ENV, raising=False)
    assert loading.Backends.from_environment().allow_random is False
    monkeypatch.setenv(loading.RANDOM_NETWORKS_ENV, "0")
    assert loading.Backends.from_environment().allow_random is False
    monkeypatch.setenv(loading.RANDOM_NETWORKS_ENV, "1")
    assert loading.Backends.from_environment(device="cpu").allow_random is True


def test_silencing_library_warnings_keeps_the_users_own(recwarn):
    import warnings

    loading.silence_library_warnings()
    warnings.warn_explicit("library noise", FutureWarning, "x.py", 1, module="fvcore.common.config")
    warnings.warn("mine", FutureWarning)
    assert [str(w.message) for w in recwarn] == ["mine"]


# ------------------------------------------------------------------------------------------- the log
def test_the_log_folder_is_created_only_when_writing(monkeypatch, tmp_path):
    monkeypatch.setenv("EMOMV_LOG_DIR", str(tmp_path / "logs"))
    assert paths.log_dir() == tmp_path / "logs"
    logs.install()
    assert not (tmp_path / "logs").exists()
    try:
        raise ValueError("boom")
    except ValueError as exc:
        path = logs.log_unexpected("testing", exc)
    assert path.parent == tmp_path / "logs"
    for handler in logging.getLogger(logs.LOGGER).handlers:
        handler.flush()
    text = path.read_text(encoding="utf-8")
    assert "testing" in text and "Traceback" in text and "ValueError: boom" in text


def test_the_cli_logs_an_unexpected_error_and_says_where(monkeypatch, capsys, tmp_path):
    def broken(_args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "_cmd_library_status", broken)
    code = cli.main(["--library", str(tmp_path / "lib.sqlite3"), "library", "status"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == cli.EXIT_ERROR and len(err) == 1
    assert "unexpected error (ZeroDivisionError: a bug)" in err[0] and str(logs.log_file()) in err[0]
    assert "ZeroDivisionError: a bug" in logs.log_file().read_text(encoding="utf-8")
