"""Builders shared by the engine tests (no fixtures: those live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emomv_desktop.engine.features import AudioInfo, TrackFeatures
from emomv_desktop.engine.protocol import MUSIC_BACKBONE, MUSIC_FEATURE_DIM, VGGISH_FRAME_SECONDS, VIDEO_FEATURE_DIM


def make_features(path: Path, frames: int, *, seed: int = 0, duration: float | None = None, title=None):
    """Random VGGish frame features of a ``frames``-frame track at ``path`` (what indexing stores)."""
    rng = np.random.default_rng(seed)
    duration = frames * VGGISH_FRAME_SECONDS + 0.5 if duration is None else duration
    info = AudioInfo(path, duration, 44100, 2, "pcm_s16le", title=title)
    return TrackFeatures(rng.random((frames, MUSIC_FEATURE_DIM), dtype=np.float32), duration, info)


def fill_library(library, folder: Path, frames: tuple[int, ...], *, groups: int) -> None:
    """Store one random track per entry of ``frames`` (that many frames each) in ``library``'s ``folder``,
    shifted by ``i % groups`` x 0.3 so the tracks form ``groups`` clusters."""
    for i, count in enumerate(frames):
        path = folder / f"song{i}.flac"
        feats = make_features(path, count, seed=i)
        feats.frame_features[:] += np.float32(i % groups) * 0.3
        library.store_features(path, feats, MUSIC_BACKBONE, size=count, mtime_ns=i, folder=folder)


def random_query(model, seed=0):
    """A video query from random SlowFast-like features (non-negative, sparse-ish like pooled ReLU outputs)."""
    from emomv_desktop.engine.ranking import embed_query

    return embed_query(model, np.random.default_rng(seed).gamma(0.5, 0.4, VIDEO_FEATURE_DIM).astype(np.float32))


def randomised_slowfast(seed: int = 0):
    """pytorchvideo's SlowFast-R50 with random weights *and* random BatchNorm statistics and affine parameters
    (random init leaves every BatchNorm the identity up to eps, which would hide a wrong fold), in eval mode."""
    import torch

    from emomv_desktop.engine.backbones import build_slowfast_module

    torch.manual_seed(seed)
    model = build_slowfast_module(with_head=True)
    generator = torch.Generator().manual_seed(seed + 1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=generator) * 0.2)
            module.running_var.copy_(torch.rand(size, generator=generator) * 2 + 0.2)
            module.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(size, generator=generator) * 0.1)
    return model.eval()
