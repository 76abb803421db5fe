"""The shipped model's 0-100 scale against an independent computation on the released retrieval sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emomv_desktop.engine.model import load_model
from emomv_desktop.engine.paths import model_path
from emomv_desktop.engine.scale import ScoreScale



def test_the_shipped_scale_is_the_percentile_of_every_retrieval_set_pairing(emomv_data):
    from training.data import load_retrieval

    model, card = load_model(model_path())
    scale = ScoreScale.from_card(card)
    assert scale is not None, "the shipped card has no score_scale: run scripts/calibrate_score.py"
    scores = []
    with torch.no_grad():
        for key in ("B", "C"):
            items = load_retrieval(emomv_data, key)
            # the ranking's path (score vectors, as the app multiplies them), not the script's score_matrix
            video = model.score_vector(model.embed_video(items.video)).numpy()
            music = model.score_vector(model.embed_music(items.music)).numpy()
            scores.append((video.astype(np.float64) @ music.astype(np.float64).T).ravel())
    scores = np.concatenate(scores)
    assert len(scores) == 120 * 120 + 96 * 96
    for q in np.percentile(scores, [5, 25, 50, 75, 95]):
        assert scale.percent(q) == pytest.approx(100 * np.mean(scores <= q), abs=1.0)
    probe = np.linspace(scores.min() - 1, scores.max() + 1, 500)
    assert np.all(np.diff(scale.percent(probe)) >= 0)
    assert scale.percent(scores.min() - 1) == 0 and scale.percent(scores.max() + 1) == 100
