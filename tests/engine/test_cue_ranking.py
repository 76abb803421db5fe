"""Sections that fit a cue: any length scored from the stored windows, snapped to the stored beats; BPM."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from emomv_desktop.engine.beats import Beats
from emomv_desktop.engine.indexer import index_library
from emomv_desktop.engine.library import GEOMETRY, Library
from emomv_desktop.engine.model import RetrievalModel
from emomv_desktop.engine.protocol import MUSIC_BACKBONE
from emomv_desktop.engine.ranking import RankFilter, Ranker, RankingError, fit_section

from .. import media_factory
from .helpers import fill_library
from .helpers import random_query as query

FRAMES = (12, 31, 47, 64, 100, 140)
WINDOW = GEOMETRY.window_frames * GEOMETRY.frame_seconds
HOP = GEOMETRY.hop_frames * GEOMETRY.frame_seconds


@pytest.fixture
def model():
    torch.manual_seed(0)
    return RetrievalModel().eval()


@pytest.fixture
def lib(tmp_path):
    with Library(tmp_path / "lib.sqlite3", feature_dtype="float32") as library:
        fill_library(library, library.add_folder(tmp_path), FRAMES, groups=3)
        yield library



@torch.inference_mode()
def naive_section_scores(lib, model, q, seconds):
    """The definition, per track: the best mean of k consecutive window cosines (all windows if fewer)."""
    matrix = lib.window_features(MUSIC_BACKBONE)
    k = 1 if seconds <= WINDOW else 1 + int((seconds - WINDOW) / HOP + 1e-6)
    best = {}
    for track in lib.tracks():
        mine = matrix.track_ids == track.id
        cos = (model.embed_music(torch.from_numpy(matrix.features[mine])).embedding
               @ torch.from_numpy(q.embedding)).numpy().astype(np.float64)
        means = [cos[j:j + k].mean() for j in range(len(cos) - k + 1)] or [cos.mean()]
        j = int(np.argmax(means))
        best[track.path.name] = (float(max(means)), float(matrix.starts[mine][j]), track.duration)
    return best


@pytest.mark.parametrize("seconds", [60.0, 45.0, 100.0])
def test_a_long_section_is_the_best_mean_of_its_windows(lib, model, seconds):
    q = query(model)
    got = Ranker(lib, model, "m").rank(q, section_seconds=seconds)
    want = naive_section_scores(lib, model, q, seconds)
    assert [s.path.name for s in got] == sorted(want, key=lambda n: -want[n][0])
    for s in got:
        score, start, duration = want[s.path.name]
        assert s.score == pytest.approx(score, abs=1e-5)
        assert s.covers == (duration >= seconds)
        if s.covers:  # no beats stored: the window's start, moved back only to fit
            assert s.best_end - s.best_start == pytest.approx(seconds, abs=1e-3)
            assert s.best_start == pytest.approx(min(start, duration - seconds), abs=1e-3)
            assert s.best_end <= duration + 1e-3
        else:
            assert (s.best_start, s.best_end) == (0.0, pytest.approx(duration, abs=1e-3))


def test_a_short_section_is_centred_in_its_best_window_and_none_is_todays_ranking(lib, model):
    q = query(model, 1)
    ranker = Ranker(lib, model, "m")
    plain = ranker.rank(q)
    short = ranker.rank(q, section_seconds=10.0)
    assert [s.track_id for s in short] == [s.track_id for s in plain]
    assert [s.score for s in short] == [s.score for s in plain]
    assert all(s.covers is None for s in plain)
    for p, s in zip(plain, short):
        assert s.best_end - s.best_start == pytest.approx(10.0, abs=1e-3)
        assert s.best_start == pytest.approx(max(0.0, (p.best_start + p.best_end - 10.0) / 2), abs=1e-3)


def test_tracks_shorter_than_the_cue_are_marked_and_a_filter_drops_them(lib, model):
    ranker = Ranker(lib, model, "m")
    seconds = 60.0
    every = ranker.rank(query(model), section_seconds=seconds)
    short = {s.path.name for s in every if not s.covers}
    assert short == {f"song{i}.flac" for i, f in enumerate(FRAMES) if f * GEOMETRY.frame_seconds + 0.5 < seconds}
    covering = ranker.rank(query(model), section_seconds=seconds, filters=RankFilter(min_duration=seconds))
    assert {s.path.name for s in covering} == {s.path.name for s in every} - short
    with pytest.raises(RankingError, match="more than 0 s"):
        ranker.rank(query(model), section_seconds=0)


def test_fit_section_prefers_the_nearest_downbeat_that_lets_the_section_fit():
    grid = Beats(120.0, np.arange(0.25, 60, 0.5), np.arange(0.25, 60, 2.0))
    assert fit_section(grid, 10.6, 20.0, 60.0) == (10.25, 30.25, True)
    assert fit_section(grid, 50.0, 20.0, 60.0) == (38.25, 58.25, True)  # the last downbeat that still fits
    beats_only = Beats(120.0, grid.beats, np.zeros(0))
    assert fit_section(beats_only, 10.6, 20.0, 60.0) == (10.75, 30.75, True)
    assert fit_section(None, 50.0, 20.0, 60.0) == (40.0, 60.0, True)
    assert fit_section(grid, 3.0, 90.0, 60.0) == (0.0, 60.0, False)


# --------------------------------------------------------------------------- real beats from indexing
@pytest.fixture(scope="module")
def beat_library(tmp_path_factory, vggish):
    """Generated tracks indexed by the real pipeline: clicks at 120 BPM (40 s, accented bars), a 97 BPM
    pattern (45 s) and an 8 s click track (shorter than the cues below)."""
    root = tmp_path_factory.mktemp("beats")
    music = root / "music"
    music.mkdir()
    for name, (signal, _) in {
        "click120.wav": media_factory.click_track(120, 40, 44_100, accent_every=4, offset=0.37),
        "pattern97.flac": media_factory.beat_pattern(97, 45, 44_100, offset=0.21),
        "short.wav": media_factory.click_track(100, 8, 44_100),
    }.items():
        media_factory.write_audio(music / name, data=signal[:, None], sample_rate=44_100)
    db = root / "lib.sqlite3"
    with Library(db) as lib:
        assert index_library(lib, vggish, folders=[music]).indexed == 3
    return db


@pytest.mark.parametrize("seconds", [12.0, 33.0])
def test_a_section_has_the_cues_length_and_starts_on_a_detected_downbeat(beat_library, model, seconds):
    with Library(beat_library) as lib:
        grids = {t.path.name: lib.beats([t.id])[t.id] for t in lib.tracks()}
        found = Ranker(lib, model, "m").rank(query(model), section_seconds=seconds)
    assert len(found) == 3
    for s in found:
        grid = grids[s.path.name]
        if s.path.name == "short.wav":
            assert s.covers is False and s.best_end == pytest.approx(s.duration, abs=1e-3)
            continue
        assert s.covers and s.best_end - s.best_start == pytest.approx(seconds, abs=1e-3)
        assert s.best_end <= s.duration + 1e-3
        on = grid.downbeats if len(grid.downbeats) else grid.beats
        assert np.min(np.abs(on - s.best_start)) < 2e-3
    assert len(grids["click120.wav"].downbeats) > 0  # the accented track's section starts on a bar


def test_bpm_is_suggested_and_filtered(beat_library, model):
    with Library(beat_library) as lib:
        ranker = Ranker(lib, model, "m")
        bpms = {s.path.name: s.bpm for s in ranker.rank(query(model))}
        assert bpms["click120.wav"] == pytest.approx(120, rel=0.02)
        assert bpms["pattern97.flac"] == pytest.approx(97, rel=0.02)
        names = lambda f: sorted(s.path.name for s in ranker.rank(query(model), filters=f))
        assert names(RankFilter(bpm_min=110)) == ["click120.wav"]
        assert names(RankFilter(bpm_min=90, bpm_max=105)) == sorted(
            n for n, b in bpms.items() if b is not None and 90 <= b <= 105)
        assert "pattern97.flac" in names(RankFilter(bpm_max=105))


# ------------------------------------------------------------------------------------- the service's use cases
def test_the_service_analyses_scenes_and_ranks_each_cue_on_the_beat(beat_library, tmp_path):
    from emomv_desktop.engine import scenes as scene_module
    from emomv_desktop.engine import service
    from emomv_desktop.engine.model import ModelConfig, save_model

    torch.manual_seed(0)
    model_path = tmp_path / "model.pt"
    save_model(model_path, RetrievalModel(ModelConfig(multitask=True)).eval(), {"note": "random init, for tests"})
    video, cuts = media_factory.write_cut_video(tmp_path / "two.mp4", [14.0, 16.0], width=256, height=256)
    backends = service.Backends(device="cpu", allow_random=True, model_path=model_path, library_path=beat_library,
                                clips_per_window=1)
    session = service.InferenceSession(backends)
    try:
        session.load()
        found = session.analyse_scenes(video, min_scene_seconds=3.0, merge_threshold=1.01)
        assert isinstance(found, service.SceneAnalysis) and found.random_networks
        assert found.info.duration == pytest.approx(30.0, abs=0.1)
        assert [x for c in found.cues for x in (c.start, c.end)] == pytest.approx([0.0, cuts[0], cuts[0], 30.0], abs=0.05)
        assert (found.whole.start, found.whole.end) == pytest.approx((0.0, 30.0), abs=0.05)
        with Library(beat_library) as lib:
            grids = {t.path.name: lib.beats([t.id])[t.id] for t in lib.tracks()}
        for cue in (*found.cues, found.whole):
            analysis = session.rank_cue(found, cue, 3, filters=RankFilter(min_duration=cue.duration))
            assert analysis.cue == cue and analysis.query.duration == pytest.approx(cue.duration)
            assert analysis.suggestions and all(s.covers for s in analysis.suggestions)
            for s in analysis.suggestions:
                assert s.best_end - s.best_start == pytest.approx(cue.duration, abs=1e-3)
                grid = grids[s.path.name]
                on = grid.downbeats if len(grid.downbeats) else grid.beats
                assert np.min(np.abs(on - s.best_start)) < 2e-3
        document = found.document(session.rank_cue(found, found.whole, 2),
                                  [session.rank_cue(found, c, 2) for c in found.cues])
        assert [c["label"] for c in document["cues"]] == ["Scene 1", "Scene 2"]
        # a split scene's halves have no features: ranking a cue over one analyses it first
        halves = dataclasses.replace(found, scenes=scene_module.split_scene(found.scenes, 7.0))
        half = scene_module.scene_cues(halves.scenes)[0]
        assert halves.scenes[0].features is None
        first = session.rank_cue(halves, half, 2).suggestions[0]
        assert first.best_end - first.best_start == pytest.approx(7.0, abs=1e-3)
    finally:
        session.close()
