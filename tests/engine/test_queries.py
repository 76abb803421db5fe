"""Queries beyond a video: temp track (real files, real random-init VGGish), stills through the real SlowFast
architecture, Rocchio feedback, and music -> video."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from emomv_desktop.engine import queries, ranking
from emomv_desktop.engine.backbones import SlowFastExtractor, VGGishExtractor, preprocess_clip
from emomv_desktop.engine.errors import DecodeError
from emomv_desktop.engine.indexer import index_library
from emomv_desktop.engine.library import Library
from emomv_desktop.engine.model import ModelConfig, RetrievalModel
from emomv_desktop.engine.protocol import MUSIC_BACKBONE
from emomv_desktop.engine.queries import Feedback, QueryError
from emomv_desktop.engine.ranking import Ranker, RankingError, embed_query

from .. import media_factory
from .helpers import make_features

LAMBDA = 1.0


def blended_model(seed: int = 0) -> RetrievalModel:
    torch.manual_seed(seed)
    return RetrievalModel(ModelConfig(multitask=True, agreement_weight=LAMBDA)).eval()


# ======================================================================================== temp track
@pytest.fixture(scope="module")
def music(tmp_path_factory):
    """A generated library folder: a reference, its byte copy, the same music re-encoded lossily (its
    neighbour), four other pieces; and a copy of the reference outside the library."""
    root = tmp_path_factory.mktemp("temp-track")
    folder = root / "library"
    folder.mkdir()
    media_factory.write_audio(folder / "ref.flac", seconds=40.0, seed=1)
    shutil.copyfile(folder / "ref.flac", folder / "copy.flac")
    media_factory.write_audio(folder / "near.ogg", seconds=40.0, seed=1)
    for seed in range(2, 6):
        media_factory.write_audio(folder / f"other{seed}.flac", seconds=40.0, seed=seed)
    (root / "outside").mkdir()
    shutil.copyfile(folder / "ref.flac", root / "outside" / "reference.flac")
    return root


@pytest.fixture(scope="module")
def vggish() -> VGGishExtractor:
    """The real VGGish network, random weights (the pretrained file cannot be downloaded here), seeded; exact
    (fp32) arithmetic, so the near-ties among the generated tracks do not depend on the CPU's bf16 support."""
    from emomv_desktop.engine.backbones import Precision

    torch.manual_seed(0)
    return VGGishExtractor.build(None, "cpu", precision=Precision.EXACT)


@pytest.fixture(scope="module")
def indexed(music, vggish, tmp_path_factory):
    """The folder indexed by the real indexer (float16 storage, the app's default) and a model whose music
    standardisation is fitted on it."""
    path = tmp_path_factory.mktemp("db") / "lib.sqlite3"
    with Library(path) as lib:
        report = index_library(lib, vggish, folders=[music / "library"])
        assert report.indexed == 7 and report.failed == 0
        model = blended_model()
        model.fit_scalers(None, torch.from_numpy(lib.window_features(MUSIC_BACKBONE).features))
    return path, model


@pytest.fixture
def lib(indexed):
    with Library(indexed[0]) as library:
        yield library


@pytest.fixture
def ranker(lib, indexed):
    return Ranker(lib, indexed[1], "temp-track-model")


def ids(lib) -> dict[str, int]:
    return {t.path.name: t.id for t in lib.tracks()}


@torch.inference_mode()
def naive_temp_track(lib, model, reference: np.ndarray, sound_weight: float, exclude: set[int]):
    """The definition, track by track: feel (model score rescaled from [-1, 1 + lambda] to [-1, 1]) and sound
    (cosine of standardised VGGish means), blended, best window."""
    matrix = lib.window_features(MUSIC_BACKBONE)
    mean, std = model.music_scaler.mean.numpy(), model.music_scaler.std.numpy()
    ref = model.embed_music(torch.from_numpy(reference[None]))
    z_ref = (reference - mean) / std
    rows = []
    for track in lib.tracks():
        if track.id in exclude:
            continue
        feats = matrix.features[matrix.track_ids == track.id]
        out = model.embed_music(torch.from_numpy(feats))
        best = -math.inf
        for w in range(len(feats)):
            feel = float(out.embedding[w] @ ref.embedding[0])
            feel += LAMBDA * float(torch.softmax(out.emotion_logits[w], -1) @ torch.softmax(ref.emotion_logits[0], -1))
            feel = -1 + 2 * (feel + 1) / (2 + LAMBDA)
            z = (feats[w] - mean) / std
            sound = float(z @ z_ref / (np.linalg.norm(z) * np.linalg.norm(z_ref)))
            best = max(best, (1 - sound_weight) * feel + sound_weight * sound)
        rows.append((track.id, best))
    return sorted(rows, key=lambda r: (-r[1], r[0]))


@pytest.mark.parametrize("sound_weight", [0.0, 0.5, 1.0])
def test_a_file_ranks_its_library_copys_neighbours_and_never_itself(music, vggish, lib, ranker, sound_weight):
    names = ids(lib)
    from_file = queries.temp_track_query(ranker, music / "outside" / "reference.flac", vggish=vggish)
    from_track = queries.temp_track_query(ranker, names["ref.flac"])
    # the reference's duplicates (same size and features) are never suggested, whichever way it is given
    assert from_file.exclude == from_track.exclude == {names["ref.flac"], names["copy.flac"]}
    by_file = queries.rank_temp_track(ranker, from_file, sound_weight=sound_weight)
    by_track = queries.rank_temp_track(ranker, from_track, sound_weight=sound_weight)
    assert [s.track_id for s in by_file] == [s.track_id for s in by_track]
    # the same up to the library's float16 storage of the track's features (the file's are float32)
    np.testing.assert_allclose([s.score for s in by_file], [s.score for s in by_track], atol=1e-2)
    assert by_file[0].path.name == "near.ogg"  # the same music, re-encoded: its nearest neighbour
    assert len(by_file) == 5 and not {"ref.flac", "copy.flac"} & {s.path.name for s in by_file}


@pytest.mark.parametrize("sound_weight", [0.0, 0.3, 1.0])
def test_the_temp_track_score_is_the_stated_blend(lib, ranker, indexed, sound_weight):
    names = ids(lib)
    q = queries.temp_track_query(ranker, names["other3.flac"], section=(4.0, 31.0))
    got = queries.rank_temp_track(ranker, q, sound_weight=sound_weight)
    want = dict(naive_temp_track(lib, indexed[1], q.features, sound_weight, {names["other3.flac"]}))
    assert sorted(s.track_id for s in got) == sorted(want)
    np.testing.assert_allclose([s.score for s in got], [want[s.track_id] for s in got], atol=1e-5)
    assert all(a.score >= b.score for a, b in zip(got, got[1:]))


def test_a_section_is_the_overlap_weighted_mean_of_its_windows(lib, ranker):
    track_id = ids(lib)["other2.flac"]
    matrix = lib.window_features(MUSIC_BACKBONE)
    mine = matrix.track_ids == track_id
    assert mine.sum() == 3  # 40 s: three 29.76 s windows
    q = queries.temp_track_query(ranker, track_id, section=(3.0, 12.0))
    weights = [max(0.0, min(e, 12.0) - max(s, 3.0)) for s, e in zip(matrix.starts[mine], matrix.ends[mine])]
    expected = sum(w * f for w, f in zip(weights, matrix.features[mine])) / sum(weights)
    np.testing.assert_allclose(q.features, expected, rtol=1e-5, atol=1e-5)
    assert q.section == (3.0, 12.0) and q.emotion is not None
    whole = queries.temp_track_query(ranker, track_id)
    whole_mean = matrix.features[mine].mean(axis=0)  # the windows are equally long: their plain mean
    np.testing.assert_allclose(whole.features, whole_mean, rtol=1e-5, atol=1e-5)
    with pytest.raises(QueryError, match="outside the track"):
        queries.temp_track_query(ranker, track_id, section=(50.0, 60.0))


def test_clear_caches_also_drops_the_sound_index(lib, ranker):
    """One clear-all path: the VGGish-space index a temp track builds goes with the ranking caches (the engine's
    autouse ``fresh_caches`` fixture relies on it)."""
    q = queries.temp_track_query(ranker, ids(lib)["ref.flac"])
    queries.rank_temp_track(ranker, q, sound_weight=1.0)
    assert queries._SOUNDS  # built for the "sounds like" score
    ranking.clear_caches()
    assert not queries._SOUNDS


def test_a_library_file_given_as_a_file_excludes_itself(music, vggish, lib, ranker):
    names = ids(lib)
    q = queries.temp_track_query(ranker, music / "library" / "near.ogg", vggish=vggish)
    assert names["near.ogg"] in q.exclude and names["ref.flac"] not in q.exclude
    assert names["near.ogg"] not in {s.track_id for s in queries.rank_temp_track(ranker, q)}
    with pytest.raises(ValueError, match="VGGish"):
        queries.temp_track_query(ranker, music / "library" / "near.ogg")
    with pytest.raises(RankingError, match="not a rankable track"):
        queries.temp_track_query(ranker, 999)
    with pytest.raises(ValueError):
        queries.rank_temp_track(ranker, q, sound_weight=1.5)


# ================================================================================================ stills
@pytest.fixture(scope="module")
def slowfast() -> SlowFastExtractor:
    """The real SlowFast-R50 architecture, random weights."""
    return SlowFastExtractor.build(None, "cpu")


@pytest.fixture(scope="module")
def stills(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stills")
    board = np.zeros((480, 720, 3), np.uint8)
    board[:, :, 0] = np.linspace(0, 255, 720, dtype=np.uint8)  # a red ramp (RGB)
    board[120:360, 180:540] = (30, 160, 220)
    cv2.imwrite(str(folder / "a-ramp.png"), cv2.cvtColor(board, cv2.COLOR_RGB2BGR))
    noise = np.random.default_rng(0).integers(0, 255, (300, 200, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / "b-noise.webp"), noise, [cv2.IMWRITE_WEBP_QUALITY, 101])  # 101: lossless WebP
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"")
    return folder


@pytest.fixture(scope="module")
def still_run(stills, slowfast):
    """The folder's stills through the real network, once for the module (each clip takes seconds on a CPU)."""
    return queries.still_features(slowfast, stills)


def test_images_of_a_folder_by_name(stills):
    assert [p.name for p in queries.image_paths(stills)] == ["a-ramp.png", "b-noise.webp"]
    image = queries.read_image(stills / "a-ramp.png")
    assert image.shape == (480, 720, 3) and image.dtype == np.uint8
    assert tuple(image[240, 360]) == (30, 160, 220) and image[0, -1, 0] == 255  # RGB order, upright
    assert queries.read_image(stills / "b-noise.webp").shape == (300, 200, 3)


def test_a_still_is_a_motionless_clip_through_slowfast(stills, slowfast, still_run):
    paths, features = still_run
    assert [p.name for p in paths] == ["a-ramp.png", "b-noise.webp"]
    assert features.shape == (2, 2304) and np.isfinite(features).all()
    assert not np.allclose(features[0], features[1])
    # the definition: the frame at short side 256, repeated for the 32 fast-pathway frames, the video transform
    frame = cv2.resize(queries.read_image(paths[0]), (384, 256), interpolation=cv2.INTER_AREA)
    clip = preprocess_clip(np.repeat(frame[None], 32, axis=0))
    assert clip.shape == (3, 32, 256, 256)
    torch.testing.assert_close(queries.still_clip(queries.read_image(paths[0])), clip)
    np.testing.assert_allclose(features[0], slowfast.clip_features(clip[None])[0].numpy(), rtol=1e-4, atol=1e-5)
    small = queries.still_clip(queries.read_image(paths[1]))  # 200 px wide: scaled up to the short side 256
    assert small.shape == (3, 32, 256, 256) and torch.equal(small[:, 0], small[:, 31])


def test_a_mood_board_is_one_query_and_a_storyboard_a_cue_per_still(stills, slowfast, still_run):
    model = blended_model()
    _, features = still_run
    ramp, noise = stills / "a-ramp.png", stills / "b-noise.webp"
    board = queries.still_query(slowfast, model, [ramp, noise, ramp])  # the mean, each still as often as given
    assert board.path is None and board.duration is None
    mean = (2 * features[0] + features[1]) / 3
    np.testing.assert_allclose(board.score_vector, embed_query(model, mean).score_vector, atol=1e-5)
    cues = queries.storyboard_queries(slowfast, model, [(ramp, 2.5), (ramp, 4.0)])
    assert [(c.path.name, c.start, c.end) for c in cues] == [("a-ramp.png", 0.0, 2.5), ("a-ramp.png", 2.5, 6.5)]
    for cue in cues:
        np.testing.assert_allclose(cue.query.score_vector, embed_query(model, features[0]).score_vector, atol=1e-5)
    assert cues[1].query.duration == 4.0
    with pytest.raises(QueryError, match="duration"):
        queries.storyboard_queries(slowfast, model, [(ramp, 0.0)])


def test_bad_images_are_clear_errors(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "empty.jpg").write_bytes(b"")
    for name, reason in (("broken.png", "not a readable image"), ("empty.jpg", "not a readable image"),
                         ("missing.jpg", "file not found")):
        with pytest.raises(DecodeError, match=reason) as info:
            queries.read_image(tmp_path / name)
        assert info.value.path == tmp_path / name
    (tmp_path / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic not an image")
    try:
        import pillow_heif  # noqa: F401 - optional; not a dependency
        expected = "not a readable HEIF image"
    except ImportError:
        expected = "pillow-heif"
    with pytest.raises(DecodeError, match=expected):
        queries.read_image(tmp_path / "photo.heic")
    (tmp_path / "none").mkdir()
    with pytest.raises(QueryError, match="no images"):
        queries.image_paths(tmp_path / "none")


# ============================================================================================== feedback
@pytest.fixture
def synthetic(tmp_path):
    """Twelve tracks of random features, plus a near-copy ("twin") of tracks 0 and 1."""
    with Library(tmp_path / "lib.sqlite3", feature_dtype="float32") as library:
        folder = library.add_folder(tmp_path)
        for i in range(12):
            path = folder / f"song{i}.flac"
            feats = make_features(path, 40, seed=i)
            feats.frame_features[:] += np.float32(i % 4) * 0.3
            library.store_features(path, feats, MUSIC_BACKBONE, size=i, mtime_ns=i, folder=folder)
            if i < 2:
                twin = folder / f"twin{i}.flac"
                noise = np.random.default_rng(100 + i).normal(0, 0.01, feats.frame_features.shape)
                feats.frame_features[:] += noise.astype(np.float32)
                library.store_features(twin, feats, MUSIC_BACKBONE, size=100 + i, mtime_ns=i, folder=folder)
        yield library


def position(suggestions, name: str) -> int:
    return [s.path.name for s in suggestions].index(name)


def test_feedback_moves_a_liked_tracks_neighbour_up_and_a_disliked_ones_down(synthetic):
    model = blended_model(2)
    ranker = Ranker(synthetic, model, "feedback-model")
    q = embed_query(model, np.random.default_rng(7).gamma(0.5, 0.4, 2304).astype(np.float32))
    before = ranker.rank(q)
    by_name = {s.path.name: s.track_id for s in before}
    liked, disliked = by_name["song0.flac"], by_name["song1.flac"]
    feedback = Feedback().like(liked).dislike(disliked)
    moved = queries.apply_feedback(ranker, q, feedback)
    after = ranker.rank(moved)
    assert position(after, "twin0.flac") < position(before, "twin0.flac")
    assert position(after, "twin1.flac") > position(before, "twin1.flac")
    # Rocchio's formula with the stated weights, each rated track by its best window for the original query
    cache = ranker.prepare()
    section = {s.track_id: (s.best_start, s.best_end) for s in before}

    def window_vector(track_id):
        row = int(np.flatnonzero(cache.tracks.ids == track_id)[0])
        o, c = cache.offsets[row], cache.tracks.counts[row]
        k = o + int(np.flatnonzero(np.isclose(cache.starts[o:o + c], section[track_id][0]))[0])
        return cache.vectors[k, : cache.score_dim]

    expected = 1.0 * q.score_vector + 0.75 * window_vector(liked) - 0.15 * window_vector(disliked)
    np.testing.assert_allclose(moved.score_vector, expected, atol=1e-6)
    # deterministic, and undone by taking the rating back
    again = queries.apply_feedback(ranker, q, Feedback().dislike(disliked).like(liked))
    np.testing.assert_array_equal(again.score_vector, moved.score_vector)
    assert [s.track_id for s in ranker.rank(again)] == [s.track_id for s in after]
    undone = feedback.clear(liked).clear(disliked)
    assert queries.apply_feedback(ranker, q, undone) is q
    assert [s.track_id for s in ranker.rank(queries.apply_feedback(ranker, q, undone))] == [s.track_id for s in before]


def test_feedback_sets_stay_apart():
    feedback = Feedback().like(3).dislike(3)
    assert feedback.liked == frozenset() and feedback.disliked == {3}
    with pytest.raises(ValueError, match="both"):
        Feedback(liked=frozenset({1}), disliked=frozenset({1}))


def test_feedback_on_an_unknown_track_is_an_error(synthetic):
    model = blended_model()
    ranker = Ranker(synthetic, model, "m")
    q = embed_query(model, np.ones(2304, np.float32))
    with pytest.raises(RankingError, match="not a rankable track"):
        queries.apply_feedback(ranker, q, Feedback().like(12345))


# ========================================================================================= music -> video
def test_the_scene_built_to_fit_the_track_ranks_first():
    rng = np.random.default_rng(0)
    scenes = rng.normal(size=(5, 72))
    scenes /= np.linalg.norm(scenes, axis=1, keepdims=True)
    windows = rng.normal(size=(4, 72))
    windows[2] = scenes[3] + rng.normal(0, 0.05, 72)  # window 2 of the track was made to fit scene 3
    windows /= np.linalg.norm(windows, axis=1, keepdims=True)
    spans = [(0.0, 4.0), (4.0, 9.5), (9.5, 12.0), (12.0, 20.0), (20.0, 31.0)]
    window_spans = np.array([[0, 29.76], [4.8, 34.56], [9.6, 39.36], [14.4, 44.16]])
    fits = queries.scenes_for_track(list(scenes), spans, windows, window_spans)
    assert (fits[0].scene, fits[0].start, fits[0].end) == (3, 12.0, 20.0)
    assert (fits[0].section_start, fits[0].section_end) == (9.6, 39.36)
    best = (scenes @ windows.T).max(axis=1)  # the definition: each scene's best window
    assert [f.scene for f in fits] == sorted(range(5), key=lambda s: -best[s])
    np.testing.assert_allclose([f.score for f in fits], sorted(best, reverse=True), rtol=1e-6)
    assert [f.rank for f in fits] == [1, 2, 3, 4, 5]
    with pytest.raises(RankingError, match="same model"):
        queries.scenes_for_track(list(scenes), spans, windows[:, :64], window_spans)


def test_a_library_tracks_windows_for_music_to_video(synthetic):
    model = blended_model()
    ranker = Ranker(synthetic, model, "m")
    track_id = next(t.id for t in synthetic.tracks() if t.path.name == "song5.flac")
    vectors, spans = queries.track_windows(ranker, track_id)
    matrix = synthetic.window_features(MUSIC_BACKBONE)
    with torch.inference_mode():
        mine = torch.from_numpy(matrix.features[matrix.track_ids == track_id])
        expected = model.score_vector(model.embed_music(mine))
    np.testing.assert_allclose(vectors, expected.numpy(), atol=1e-6)
    np.testing.assert_allclose(spans[:, 0], matrix.starts[matrix.track_ids == track_id])
    video = embed_query(model, np.random.default_rng(1).gamma(0.5, 0.4, 2304).astype(np.float32))
    fits = queries.scenes_for_track([video.score_vector], [(0.0, 10.0)], vectors, spans)
    ranked = ranker.rank(video, filters=ranking.RankFilter(text="song5"))  # the same best window, the other way
    assert fits[0].score == pytest.approx(ranked[0].score, rel=1e-5)
