"""``emomv-train va-sweep``: the valence-arousal blend's alpha against an independent computation, end to end."""

from __future__ import annotations

import contextlib
import io
import json
import math
import statistics

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from emomv_desktop.engine import paths
from emomv_desktop.engine.model import load_model
from emomv_desktop.engine.va import RUSSELL_1980, WARRINER_2013
from training.cli import main
from training.data import load_retrieval
from training.evaluate import evaluate_model
from training.metrics import CB_MAP, MAP, retrieval_metrics
from training.va_sweep import ALPHAS, FIGURES, format_va_sweep, summarise, sweep_model

# Russell (1980)'s angles for exciting, fearful, tense, sad, relaxing, typed here independently of engine/va.py
CIRCUMPLEX = np.array([[math.cos(math.radians(d)), math.sin(math.radians(d))] for d in (45, 135, 90, 225, 315)])


@torch.no_grad()
def test_the_sweep_equals_an_independent_computation(emomv_data):
    model, _ = load_model(paths.model_path())
    items = load_retrieval(emomv_data, "C")
    got = sweep_model(model, items, alphas=(0.0, 0.3, 1.0), spaces=(RUSSELL_1980, WARRINER_2013))
    assert got.shape == (2, 3, len(FIGURES))
    video, music = model.embed_video(items.video), model.embed_music(items.music)
    scores = model.score_matrix(video, music).double().numpy()
    p_video = torch.softmax(video.emotion_logits / model.config.video_temperature, -1).double().numpy()
    p_music = torch.softmax(music.emotion_logits / model.config.music_temperature, -1).double().numpy()
    closeness = 1 - cdist(p_video @ CIRCUMPLEX, p_music @ CIRCUMPLEX) / 2.0  # the circle's diameter
    lam = model.config.agreement_weight
    labels = items.labels.numpy()
    for a, alpha in enumerate((0.0, 0.3, 1.0)):
        blended = alpha * scores + (1 - alpha) * (-1 + (2 + lam) * closeness)
        v2m, m2v = retrieval_metrics(blended, labels, labels), retrieval_metrics(blended.T, labels, labels)
        want = [v2m[MAP], m2v[MAP], v2m[CB_MAP], m2v[CB_MAP]]
        np.testing.assert_allclose(got[0, a], want + [np.mean(want)], atol=1e-12)
    # alpha = 1 is the model alone: `emomv-train evaluate`'s figures
    evaluated = evaluate_model(paths.model_path(), emomv_data, "C", "retrieval")["directions"]
    assert 100 * got[0, 2, 0] == pytest.approx(evaluated["v2m"][MAP]) and 100 * got[1, 2, 3] == pytest.approx(
        evaluated["m2v"][CB_MAP])
    assert not np.allclose(got[0, 0], got[1, 0])  # the two coordinate sets differ where they matter


def test_va_sweep_command(emomv_data):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["va-sweep", "--data", str(emomv_data), "--seeds", "1", "--held-out", "C", "--max-epochs", "2",
                     "--json"])
    assert code == 0
    result = json.loads(out.getvalue())
    assert result["alphas"] == list(ALPHAS) and result["seeds"] == [1] and list(result["clean"]) == ["C"]
    for space in ("russell-1980", "warriner-2013"):
        rows = result["clean"]["C"][space]
        assert list(rows) == [f"{a:.1f}" for a in ALPHAS]
        assert all(list(r) == list(FIGURES) for r in rows.values())
        one = rows["0.5"]["v2m.mAP"]
        assert one["min"] == one["mean"] == one["max"] and one["std"] == 0.0 and 0 < one["mean"] < 100
        assert result["best_alpha"][space] in ALPHAS
    assert result["spaces"]["russell-1980"]["coordinates"][2] == [0.0, 1.0]  # tense at 90 degrees
    shipped = result["saved_model"]["datasets"]["C"]["warriner-2013"]["1.0"]
    evaluated = evaluate_model(paths.model_path(), emomv_data, "C", "retrieval")["directions"]
    assert shipped["m2v.mAP"]["mean"] == pytest.approx(evaluated["m2v"][MAP])
    text = format_va_sweep(result)
    assert "EmoMV-C held out" in text and "not clean" in text and "best alpha" in text


def test_the_seed_spread_is_the_sample_std():
    """``±`` over seeds is the sample std (ddof=1) as in every other report, not the population std."""
    rng = np.random.default_rng(3)
    runs = rng.uniform(0.2, 0.6, (5, 2, 3, len(FIGURES)))  # (seeds, spaces, alphas, figures), fractions
    summary = summarise(runs, (0.0, 0.5, 1.0), (RUSSELL_1980, WARRINER_2013))
    cell = summary[WARRINER_2013.name]["0.5"][FIGURES[2]]
    values = [100 * v for v in runs[:, 1, 1, 2]]
    assert cell == pytest.approx({"mean": statistics.mean(values), "std": statistics.stdev(values),
                                  "min": min(values), "max": max(values)})
