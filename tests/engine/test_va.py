"""The valence-arousal map: published coordinates, positions as expectations, the EMID-style blend in the ranking."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from emomv_desktop.engine import ranking, va
from emomv_desktop.engine.emotions import Emotion
from emomv_desktop.engine.library import Library
from emomv_desktop.engine.model import ModelConfig, RetrievalModel
from emomv_desktop.engine.protocol import MUSIC_BACKBONE
from emomv_desktop.engine.ranking import Ranker, RankingError

from .helpers import fill_library
from .helpers import random_query as query

FRAMES = (3, 31, 36, 47, 80, 12, 64, 33, 100, 40, 5, 58)

# The sources' numbers, typed here from the papers (independently of engine/va.py)
RUSSELL_DEGREES = {"exciting": 45, "fearful": 135, "tense": 90, "sad": 225, "relaxing": 315}
WARRINER_RATINGS = {"exciting": (7.95, 6.95), "fearful": (2.66, 5.45), "tense": (2.75, 5.32), "sad": (2.10, 3.49),
                    "relaxing": (8.19, 4.29)}


def expected_position(p, space: str) -> tuple[float, float]:
    """sum_k p_k * (valence_k, arousal_k), one emotion at a time."""
    v = a = 0.0
    for k, emotion in enumerate(("exciting", "fearful", "tense", "sad", "relaxing")):
        if space == "russell-1980":
            ev, ea = math.cos(math.radians(RUSSELL_DEGREES[emotion])), math.sin(math.radians(RUSSELL_DEGREES[emotion]))
        else:
            ev, ea = ((x - 5) / 4 for x in WARRINER_RATINGS[emotion])
        v += p[k] * ev
        a += p[k] * ea
    return v, a


@pytest.mark.parametrize("space", list(va.SPACES.values()), ids=list(va.SPACES))
def test_positions_are_the_expectation_of_the_distribution(space):
    assert [e.label for e in Emotion] == ["exciting", "fearful", "tense", "sad", "relaxing"]
    p = np.random.default_rng(0).dirichlet(np.ones(5) * 0.7, size=40)
    got = space.position(p)
    assert got.shape == (40, 2)
    np.testing.assert_allclose(got, [expected_position(row, space.name) for row in p], atol=1e-12)
    for e in Emotion:  # a certain emotion sits on its published point
        np.testing.assert_allclose(space.position(np.eye(5)[e]), expected_position(np.eye(5)[e], space.name))
    assert np.all(np.abs(got) <= 1.0)


@pytest.mark.parametrize("space", list(va.SPACES.values()), ids=list(va.SPACES))
def test_closeness_is_one_minus_distance_over_the_diameter(space):
    points = [expected_position(np.eye(5)[k], space.name) for k in range(5)]
    diameter = max(math.dist(a, b) for a, b in itertools.combinations(points, 2))
    assert space.diameter == pytest.approx(diameter)
    rng = np.random.default_rng(1)
    a, b = space.position(rng.dirichlet(np.ones(5), 30)), space.position(rng.dirichlet(np.ones(5), 30))
    np.testing.assert_allclose(space.closeness(a, b), [1 - math.dist(x, y) / diameter for x, y in zip(a, b)])
    assert space.closeness(a, a) == pytest.approx(np.ones(30))
    closeness = space.closeness(space.position(np.eye(5))[:, None], space.position(np.eye(5))[None])
    assert closeness.min() == pytest.approx(0.0) and closeness.max() == pytest.approx(1.0)


def test_a_space_needs_five_points():
    with pytest.raises(ValueError):
        va.VASpace("x", "nowhere", np.zeros((4, 2)))


def test_blend_validates_alpha():
    with pytest.raises(ValueError):
        va.blend(np.zeros(3), np.zeros(3), 1.5, (-1.0, 1.0))


# --------------------------------------------------------------------------------------- in the ranking
LAMBDA = 2.0


@pytest.fixture
def model():
    torch.manual_seed(3)
    config = ModelConfig(multitask=True, agreement_weight=LAMBDA, music_temperature=1.7, video_temperature=0.8)
    m = RetrievalModel(config)
    with torch.no_grad():  # confident, unequal emotions, so positions spread over the map
        m.music_emotion.weight.mul_(10)
        m.video_emotion.weight.mul_(10)
    return m.eval()


@pytest.fixture
def lib(tmp_path):
    with Library(tmp_path / "lib.sqlite3", feature_dtype="float32") as library:
        fill_library(library, library.add_folder(tmp_path), FRAMES, groups=4)
        yield library


@torch.inference_mode()
def naive_blend(lib, model, features, alpha, space_name):
    """Per track and window, straight from the definition: the model's score and the closeness of positions."""
    matrix = lib.window_features(MUSIC_BACKBONE)
    points = [expected_position(np.eye(5)[k], space_name) for k in range(5)]
    diameter = max(math.dist(a, b) for a, b in itertools.combinations(points, 2))
    video = model.embed_video(torch.from_numpy(features[None]))
    query_pos = expected_position(torch.softmax(video.emotion_logits[0] / 0.8, -1).numpy(), space_name)
    rows = []
    for track in lib.tracks():
        out = model.embed_music(torch.from_numpy(matrix.features[matrix.track_ids == track.id]))
        values = []
        for w in range(len(out.embedding)):
            score = float(out.embedding[w] @ video.embedding[0])
            agreement = torch.softmax(video.emotion_logits[0], -1) @ torch.softmax(out.emotion_logits[w], -1)
            score += LAMBDA * float(agreement)
            shown = torch.softmax(out.emotion_logits[w] / 1.7, -1).numpy()
            closeness = 1 - math.dist(expected_position(shown, space_name), query_pos) / diameter
            values.append(alpha * score + (1 - alpha) * (-1 + (2 + LAMBDA) * closeness))
        rows.append((track.id, max(values)))
    return sorted(rows, key=lambda r: (-r[1], r[0]))


@pytest.mark.parametrize("alpha, space", [(0.0, "russell-1980"), (0.4, "russell-1980"), (0.7, "warriner-2013")])
def test_blended_ranking_equals_the_definition(lib, model, alpha, space):
    features = np.random.default_rng(5).gamma(0.5, 0.4, 2304).astype(np.float32)
    got = va.rank_blended(Ranker(lib, model, "m"), ranking.embed_query(model, features), alpha=alpha,
                          space=va.SPACES[space])
    want = naive_blend(lib, model, features, alpha, space)
    assert [s.track_id for s in got] == [t for t, _ in want]
    np.testing.assert_allclose([s.score for s in got], [v for _, v in want], rtol=1e-5, atol=1e-5)


def test_alpha_one_is_the_model_alone(lib, model):
    q = query(model, 6)
    ranker = Ranker(lib, model, "m")
    alone = ranker.rank(q)
    blended = va.rank_blended(ranker, q, alpha=1.0)
    assert [s.track_id for s in blended] == [s.track_id for s in alone]
    np.testing.assert_allclose([s.score for s in blended], [s.score for s in alone], rtol=1e-6)


def test_track_positions_are_the_mean_of_their_windows_distributions(lib, model):
    cache = Ranker(lib, model, "m").prepare()
    matrix = lib.window_features(MUSIC_BACKBONE)
    got = va.track_positions(cache, va.RUSSELL_1980)
    with torch.inference_mode():
        for row, track_id in enumerate(cache.tracks.ids):
            logits = model.embed_music(torch.from_numpy(matrix.features[matrix.track_ids == track_id])).emotion_logits
            mean_p = torch.softmax(logits / 1.7, -1).numpy().mean(0)
            np.testing.assert_allclose(got[row], expected_position(mean_p, "russell-1980"), atol=1e-5)
    assert got.std(axis=0).min() > 0.01  # the tracks spread over the map


def test_single_task_models_have_no_map(lib):
    torch.manual_seed(0)
    single = RetrievalModel(ModelConfig(multitask=False)).eval()
    q = query(single)
    with pytest.raises(RankingError, match="single-task"):
        va.rank_blended(Ranker(lib, single, "s"), q, alpha=0.5)
    with pytest.raises(RankingError, match="single-task"):
        va.track_positions(Ranker(lib, single, "s").prepare())
