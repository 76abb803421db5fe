"""The training-only models: the paper's binary classifier (compact bilinear pooling) and the baseline.

The retrieval model is not here: it is :class:`emomv_desktop.engine.model.RetrievalModel`, the one
definition the app also loads. All models take raw backbone features and standardise them with scaler
buffers fitted on their training rows (``fit_scalers``), so a model is self-contained.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn
from torch.nn import functional as F

from emomv_desktop.engine.emotions import NUM_EMOTIONS
from emomv_desktop.engine.model import ProjectionHead, Standardizer, gelu
from emomv_desktop.engine.protocol import MUSIC_FEATURE_DIM, VIDEO_FEATURE_DIM


class CompactBilinearPooling(nn.Module):
    """Compact bilinear pooling (Gao et al. 2016; Fukui et al. 2016), as the EmoMV code does it.

    Each input gets a count sketch: a hash ``h[i]`` uniform in ``0..out_dim-1`` and a sign ``s[i]`` in
    ``{-1, +1}`` per input dimension, drawn once from the global torch RNG at construction and kept as
    buffers. The output is the circular convolution of the two sketches, computed as
    ``irfft(rfft(sketch_1) * rfft(sketch_2), n=out_dim)``, which equals the count sketch of the outer
    product ``x1 x2^T`` under the hash ``(h1[i] + h2[j]) mod out_dim`` and sign ``s1[i] s2[j]``. No signed
    square root and no normalisation afterwards (as in the authors' code). Autograd through ``torch.fft``
    gives the exact gradient.
    """

    def __init__(self, dim1: int, dim2: int, out_dim: int) -> None:
        super().__init__()
        self.out_dim = out_dim
        for name, dim in (("1", dim1), ("2", dim2)):
            self.register_buffer("hash" + name, torch.randint(out_dim, (dim,)))
            self.register_buffer("sign" + name, torch.randint(2, (dim,)).float() * 2 - 1)

    def sketch(self, x: torch.Tensor, hashes: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
        """Count sketch ``(B, dim) -> (B, out_dim)``: ``y[:, h[i]] += s[i] x[:, i]``."""
        return x.new_zeros(x.shape[0], self.out_dim).index_add_(1, hashes, x * signs)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        f1 = torch.fft.rfft(self.sketch(x1, self.hash1, self.sign1), dim=-1)
        f2 = torch.fft.rfft(self.sketch(x2, self.hash2, self.sign2), dim=-1)
        return torch.fft.irfft(f1 * f2, n=self.out_dim, dim=-1)


class PairScalers(nn.Module):
    """Per-modality standardisation buffers with the same ``fit_scalers`` as the engine's RetrievalModel."""

    def __init__(self, video_dim: int, music_dim: int) -> None:
        super().__init__()
        self.video_scaler = Standardizer(video_dim)
        self.music_scaler = Standardizer(music_dim)

    def fit_scalers(self, video: torch.Tensor | None, music: torch.Tensor | None) -> None:
        """Fit on training features; a modality given as ``None`` keeps its current statistics."""
        for scaler, x in ((self.video_scaler, video), (self.music_scaler, music)):
            if x is not None:
                scaler.fit(x)


def _emotion_head(dim: int, multitask: bool) -> nn.Module | None:
    return nn.Linear(dim, NUM_EMOTIONS) if multitask else None


def _logits(head: nn.Module | None, x: torch.Tensor) -> torch.Tensor | None:
    return None if head is None else head(x)


# ----------------------------------------------------------------------------------- classifier


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    video_dim: int = VIDEO_FEATURE_DIM
    music_dim: int = MUSIC_FEATURE_DIM
    embed_dim: int = 64
    pooled_dim: int = 32
    hidden_dim: int = 32
    dropout: float = 0.5
    multitask: bool = True


@dataclasses.dataclass
class ClassifierOutput:
    match_logits: torch.Tensor  # (N, 2): column 1 = matched
    video_emotion_logits: torch.Tensor | None
    music_emotion_logits: torch.Tensor | None


class ClassificationModel(PairScalers):
    """The paper's binary matched/mismatched classifier (Sec. 5.1, Fig. 12), layer by layer as coded.

    ``Linear(2304->64)`` / ``Linear(128->64)`` -> projection heads without LayerNorm -> compact bilinear
    pooling (64 x 64 -> 32) -> ``Linear(32->32)`` -> GELU -> ``Linear(32->2)``. Multi-task adds
    ``Linear(64->5)`` emotion heads on GELU of each L2-normalised embedding (the authors' code; the paper's
    text places them after the 64-d input layers instead, which is where the retrieval model has them).
    """

    def __init__(self, config: ClassifierConfig | None = None) -> None:
        config = config or ClassifierConfig()
        super().__init__(config.video_dim, config.music_dim)
        self.config = config
        self.video_in = nn.Linear(config.video_dim, config.embed_dim)
        self.music_in = nn.Linear(config.music_dim, config.embed_dim)
        self.video_head = ProjectionHead(config.embed_dim, config.dropout, layer_norm=False)
        self.music_head = ProjectionHead(config.embed_dim, config.dropout, layer_norm=False)
        self.pool = CompactBilinearPooling(config.embed_dim, config.embed_dim, config.pooled_dim)
        self.fusion = nn.Sequential(
            nn.Linear(config.pooled_dim, config.hidden_dim), nn.GELU(approximate="tanh"), nn.Linear(config.hidden_dim, 2)
        )
        self.video_emotion = _emotion_head(config.embed_dim, config.multitask)
        self.music_emotion = _emotion_head(config.embed_dim, config.multitask)

    def forward(self, video: torch.Tensor, music: torch.Tensor) -> ClassifierOutput:
        v = self.video_head(self.video_in(self.video_scaler(video)))
        m = self.music_head(self.music_in(self.music_scaler(music)))
        return ClassifierOutput(
            self.fusion(self.pool(v, m)), _logits(self.video_emotion, gelu(v)), _logits(self.music_emotion, gelu(m))
        )


# ------------------------------------------------------------------------------------- baseline


@dataclasses.dataclass(frozen=True)
class BaselineConfig:
    """Shape of the modified Li & Kumar baseline; see docs/training.md for the reading of Sec. 5.2."""

    video_dim: int = VIDEO_FEATURE_DIM
    music_dim: int = MUSIC_FEATURE_DIM
    hidden_dim: int = 128
    feature_dim: int = 64
    embed_dim: int = 64
    multitask: bool = True
    margin: float = math.sqrt(2.0)  # Euclidean distance of orthogonal unit vectors = our model's cosine margin


@dataclasses.dataclass
class BaselineOutput:
    video_embedding: torch.Tensor  # (N, E), unit length
    music_embedding: torch.Tensor
    video_emotion_logits: torch.Tensor | None
    music_emotion_logits: torch.Tensor | None

    @property
    def distance(self) -> torch.Tensor:
        """Euclidean distance of each pair's unit embeddings, in [0, 2]."""
        return pair_distance(self.video_embedding, self.music_embedding)


def pair_distance(video_embedding: torch.Tensor, music_embedding: torch.Tensor) -> torch.Tensor:
    """Row-wise Euclidean distance, written so its gradient stays finite at distance 0."""
    squared = (video_embedding - music_embedding).pow(2).sum(-1)
    return torch.sqrt(squared + 1e-12)


def _subnetwork(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """Li & Kumar's feature subnetwork on a pretrained feature: FC layers, each followed by ReLU."""
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim), nn.ReLU())


def _projection(in_dim: int, embed_dim: int) -> nn.Sequential:
    """Cross-modal projection: two FC layers (ReLU between them); L2 normalisation follows in ``forward``."""
    return nn.Sequential(nn.Linear(in_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim))


class BaselineModel(PairScalers):
    """Stage 1 of the modified Li & Kumar baseline (paper Sec. 5.2).

    Per modality: FC+ReLU subnetwork on the pretrained feature -> (multi-task) ``Linear(->5)`` emotion head
    trained with cross-entropy (softmax: one label per clip, where Li & Kumar used sigmoid outputs) ->
    two-layer projection into a common space, L2-normalised. Trained with the contrastive loss on the
    Euclidean distance (+ the two cross-entropies when multi-task). Stage 2, a logistic regression on the
    distance, lives in :mod:`training.experiments`; retrieval scores are ``1 / distance``.
    """

    def __init__(self, config: BaselineConfig | None = None) -> None:
        config = config or BaselineConfig()
        super().__init__(config.video_dim, config.music_dim)
        self.config = config
        self.video_net = _subnetwork(config.video_dim, config.hidden_dim, config.feature_dim)
        self.music_net = _subnetwork(config.music_dim, config.hidden_dim, config.feature_dim)
        self.video_emotion = _emotion_head(config.feature_dim, config.multitask)
        self.music_emotion = _emotion_head(config.feature_dim, config.multitask)
        self.video_projection = _projection(config.feature_dim, config.embed_dim)
        self.music_projection = _projection(config.feature_dim, config.embed_dim)

    def embed_video(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.video_net(self.video_scaler(video))
        return F.normalize(self.video_projection(h), dim=-1), _logits(self.video_emotion, h)

    def embed_music(self, music: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.music_net(self.music_scaler(music))
        return F.normalize(self.music_projection(h), dim=-1), _logits(self.music_emotion, h)

    def forward(self, video: torch.Tensor, music: torch.Tensor) -> BaselineOutput:
        v, v_logits = self.embed_video(video)
        m, m_logits = self.embed_music(music)
        return BaselineOutput(v, m, v_logits, m_logits)


def euclidean_scores(video_embedding: torch.Tensor, music_embedding: torch.Tensor) -> torch.Tensor:
    """The baseline's retrieval score ``S = 1 / d_Euclid`` for every (video, music) pair: ``(Nv, Nm)``.

    A zero distance (identical embeddings) scores ``inf``: ranked first, as the paper's formula implies.
    """
    return 1.0 / torch.cdist(video_embedding, music_embedding)
