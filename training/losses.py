"""Training objectives, all loss weights 1 (as in the authors' code).

Each objective is ``loss(model, batch) -> scalar`` on a :class:`training.data.PairSplit` batch, so the loop
does not know which model it trains. (The recipe's masked losses for rows lacking a modality plug in here.)
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

from emomv_desktop.engine.model import RetrievalModel, cosine_distance

from .data import PairSplit
from .models import BaselineModel, ClassificationModel

Objective = Callable[[torch.nn.Module, PairSplit], torch.Tensor]


def contrastive_loss(distance: torch.Tensor, match: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Hadsell et al.'s contrastive loss as the authors code it: ``sum(y d^2 + (1-y) max(0, margin-d)^2) / (2N)``.

    With ``d = 1 - cos`` and margin 1, mismatched pairs are pushed to cosine <= 0.
    """
    y = match.to(distance.dtype)
    per_pair = y * distance.pow(2) + (1.0 - y) * F.relu(margin - distance).pow(2)
    return per_pair.sum() / (2 * distance.shape[0])


def emotion_loss(video_logits: torch.Tensor | None, music_logits: torch.Tensor | None, batch: PairSplit) -> torch.Tensor:
    """Cross-entropy of each emotion head that exists (zero for single-task models)."""
    total = torch.zeros(())
    if video_logits is not None:
        total = total + F.cross_entropy(video_logits, batch.video_emotion)
    if music_logits is not None:
        total = total + F.cross_entropy(music_logits, batch.music_emotion)
    return total


def classification_objective(model: ClassificationModel, batch: PairSplit) -> torch.Tensor:
    """CE(match) (+ CE(video emotion) + CE(music emotion) when multi-task)."""
    out = model(batch.video, batch.music)
    return F.cross_entropy(out.match_logits, batch.match) + emotion_loss(
        out.video_emotion_logits, out.music_emotion_logits, batch
    )


def retrieval_objective(model: RetrievalModel, batch: PairSplit) -> torch.Tensor:
    """Contrastive loss on ``1 - cos`` (margin 1) (+ the two emotion CEs when multi-task)."""
    v, m, _ = model(batch.video, batch.music)
    distance = cosine_distance(v.embedding, m.embedding)
    return contrastive_loss(distance, batch.match) + emotion_loss(v.emotion_logits, m.emotion_logits, batch)


def baseline_objective(model: BaselineModel, batch: PairSplit) -> torch.Tensor:
    """Stage 1 of the baseline: contrastive loss on the Euclidean distance (+ the two emotion CEs)."""
    out = model(batch.video, batch.music)
    return contrastive_loss(out.distance, batch.match, model.config.margin) + emotion_loss(
        out.video_emotion_logits, out.music_emotion_logits, batch
    )
