"""The training-only models: compact bilinear pooling against a brute-force sketch, shapes, the baseline."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from training.losses import contrastive_loss
from training.models import (
    BaselineConfig, BaselineModel, ClassificationModel, ClassifierConfig, CompactBilinearPooling, euclidean_scores,
)


def brute_force_sketch_of_outer_product(pool: CompactBilinearPooling, x1: torch.Tensor, x2: torch.Tensor):
    """Count sketch of x1 x2^T with hash (h1[i] + h2[j]) mod d and sign s1[i] s2[j], by explicit loops."""
    out = torch.zeros(x1.shape[0], pool.out_dim, dtype=torch.float64)
    for b in range(x1.shape[0]):
        for i in range(x1.shape[1]):
            for j in range(x2.shape[1]):
                bucket = (int(pool.hash1[i]) + int(pool.hash2[j])) % pool.out_dim
                out[b, bucket] += float(pool.sign1[i] * pool.sign2[j]) * float(x1[b, i]) * float(x2[b, j])
    return out


def test_compact_bilinear_pooling_equals_count_sketch_of_outer_product():
    torch.manual_seed(0)
    pool = CompactBilinearPooling(64, 64, 32)
    x1, x2 = torch.randn(3, 64, dtype=torch.float64), torch.randn(3, 64, dtype=torch.float64)
    torch.testing.assert_close(pool(x1, x2), brute_force_sketch_of_outer_product(pool, x1, x2))


def test_compact_bilinear_pooling_buffers_gradient_and_seed():
    torch.manual_seed(1)
    pool = CompactBilinearPooling(8, 6, 5)
    assert set(dict(pool.named_buffers())) == {"hash1", "sign1", "hash2", "sign2"}
    assert not list(pool.parameters())
    assert pool.hash1.min() >= 0 and pool.hash1.max() < 5 and set(pool.sign2.tolist()) <= {-1.0, 1.0}
    x1 = torch.randn(2, 8, dtype=torch.float64, requires_grad=True)
    x2 = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pool, (x1, x2))
    torch.manual_seed(1)
    again = CompactBilinearPooling(8, 6, 5)
    assert torch.equal(pool.hash1, again.hash1) and torch.equal(pool.sign2, again.sign2)


def test_classifier_architecture_and_single_task():
    torch.manual_seed(0)
    model = ClassificationModel().eval()
    video, music = torch.rand(4, 2304), torch.rand(4, 128)
    model.fit_scalers(video, music)
    out = model(video, music)
    assert out.match_logits.shape == (4, 2)
    assert out.video_emotion_logits.shape == (4, 5) and out.music_emotion_logits.shape == (4, 5)
    # the emotion heads read GELU of the normalised embedding (the authors' code)
    v = model.video_head(model.video_in(model.video_scaler(video)))
    torch.testing.assert_close(out.video_emotion_logits, model.video_emotion(F.gelu(v, approximate="tanh")))
    assert not isinstance(model.video_head.norm, torch.nn.LayerNorm)
    single = ClassificationModel(ClassifierConfig(multitask=False)).eval()
    assert single(video, music).video_emotion_logits is None
    assert not any("emotion" in name for name in single.state_dict())


def test_baseline_distance_scores_and_margin():
    torch.manual_seed(0)
    model = BaselineModel().eval()
    video, music = torch.randn(5, 2304), torch.randn(5, 128)
    out = model(video, music)
    torch.testing.assert_close(out.video_embedding.norm(dim=1), torch.ones(5))
    torch.testing.assert_close(out.distance, (out.video_embedding - out.music_embedding).norm(dim=1))
    scores = euclidean_scores(out.video_embedding, out.music_embedding)
    torch.testing.assert_close(scores.diagonal(), 1.0 / out.distance)
    assert model.config.margin == pytest.approx(math.sqrt(2))
    assert BaselineModel(BaselineConfig(multitask=False))(video, music).video_emotion_logits is None


def test_contrastive_loss_formula():
    distance = torch.tensor([0.2, 0.5, 1.3])
    match = torch.tensor([1, 0, 0])
    # (0.2^2 + (1 - 0.5)^2 + 0) / (2 * 3)
    assert float(contrastive_loss(distance, match)) == pytest.approx((0.04 + 0.25) / 6)
    assert float(contrastive_loss(distance, match, margin=2.0)) == pytest.approx((0.04 + 2.25 + 0.49) / 6)
