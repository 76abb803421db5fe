"""The EmoMV retrieval model: the one definition shared by the app and by ``training/``.

Architecture (EmoMV paper Sec. 5.1 / 6.1, the details as the authors' released code has them):

* input layers ``Linear(2304->64)`` (video) and ``Linear(128->64)`` (music), no activation;
* a projection head per modality: ``p = fc1(x); h = dropout(fc2(gelu(p))); h = gelu(h) + p;
  h = LayerNorm(h)``; the embedding is ``normalize(gelu(h))`` (64-d, unit length);
* multi-task: ``Linear(64->5)`` emotion heads on ``gelu`` of the input-layer output;
* score: cosine similarity of the two embeddings (the paper's); a model may add the agreement of its two
  emotion distributions, ``score = cos + agreement_weight * <p_video, p_music>`` (the shipped recipe,
  docs/model.md; in the spirit of EMID's semantic + emotional score). :meth:`RetrievalModel.score_vector`
  turns either into one dot product, so the engine ranks a whole library with one matrix-vector product;
* displayed emotion probabilities are ``softmax(logits / T)`` with a per-head temperature fitted on held-out
  data (calibration); the agreement term uses the raw ``softmax(logits)`` the recipe was selected with.

GELU is the tanh approximation everywhere. Per-modality standardisation (mean/std fitted on the
training data) is part of the model as buffers, so a saved model carries its scalers and the engine
feeds it raw backbone features.

A saved model is two files: ``NAME.pt`` (``torch.save`` of plain tensors and primitives, loadable with
``weights_only=True``) and ``NAME.card.json`` (the model card: the feature protocol it expects, its
training data and figures, the sha256 of the weights file).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .emotions import NUM_EMOTIONS
from .errors import ModelFileError
from .fileio import atomic_path, sha256_of, write_text_atomically
from .protocol import FEATURE_PROTOCOL, MUSIC_FEATURE_DIM, PROTOCOL_KEYS, VIDEO_FEATURE_DIM

CHECKPOINT_FORMAT = "emomv-retrieval-model"
CHECKPOINT_VERSION = 1


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU, tanh approximation (as in the authors' code)."""
    return F.gelu(x, approximate="tanh")


class ProjectionHead(nn.Module):
    """The paper's Figure 13 projection head: two 64-unit layers, GELU, dropout, residual, (LayerNorm), L2.

    ``layer_norm=False`` gives the classification model's head (the authors use LayerNorm only in the
    retrieval models).
    """

    def __init__(self, dim: int = 64, dropout: float = 0.5, layer_norm: bool = True) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, dim)
        self.fc2 = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim) if layer_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.fc1(x)
        h = self.dropout(self.fc2(gelu(p)))
        h = gelu(h) + p
        h = self.norm(h)
        return F.normalize(gelu(h), dim=-1)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters that define the shape of a :class:`RetrievalModel`."""

    video_dim: int = VIDEO_FEATURE_DIM
    music_dim: int = MUSIC_FEATURE_DIM
    embed_dim: int = 64
    num_emotions: int = NUM_EMOTIONS
    multitask: bool = True
    dropout: float = 0.5
    agreement_weight: float = 0.0  # lambda of the blended score (0: the paper's cosine)
    video_temperature: float = 1.0  # temperature of the displayed video emotion probabilities
    music_temperature: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**data)


class Standardizer(nn.Module):
    """``(x - mean) / std`` with the statistics held as buffers (identity until :meth:`fit`).

    The buffers hold the spread actually divided by, floor included, so a saved model behaves the same
    whatever floor (or none) it was fitted with.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, x: torch.Tensor, eps: float = 1e-8, floor: float = 0.0) -> "Standardizer":
        """Fit on ``x`` ``(N, dim)``. A constant dimension (spread <= ``eps``) keeps a spread of 1; with
        ``floor > 0`` every other spread is at least ``floor`` x the median spread of the non-constant
        dimensions, so a near-constant dimension cannot turn a tiny absolute change into many units."""
        x = torch.as_tensor(x, dtype=torch.float64)
        self.mean.copy_(x.mean(0).to(self.mean.dtype))
        std = x.std(0, unbiased=False)
        varying = std > eps
        if floor > 0 and bool(varying.any()):
            std = torch.where(varying, std.clamp_min(floor * float(std[varying].median())), std)
        self.std.copy_(torch.where(varying, std, torch.ones_like(std)).to(self.std.dtype))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


@dataclasses.dataclass
class Embedded:
    """One modality's output: unit-length embeddings and (multi-task) emotion logits."""

    embedding: torch.Tensor
    emotion_logits: torch.Tensor | None


class RetrievalModel(nn.Module):
    """Video and music projection into a shared 64-d space, plus optional emotion heads."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ModelConfig()
        self.video_scaler = Standardizer(config.video_dim)
        self.music_scaler = Standardizer(config.music_dim)
        self.video_in = nn.Linear(config.video_dim, config.embed_dim)
        self.music_in = nn.Linear(config.music_dim, config.embed_dim)
        self.video_head = ProjectionHead(config.embed_dim, config.dropout, layer_norm=True)
        self.music_head = ProjectionHead(config.embed_dim, config.dropout, layer_norm=True)
        if config.multitask:
            self.video_emotion: nn.Module | None = nn.Linear(config.embed_dim, config.num_emotions)
            self.music_emotion: nn.Module | None = nn.Linear(config.embed_dim, config.num_emotions)
        else:
            self.video_emotion = None
            self.music_emotion = None

    def fit_scalers(self, video: torch.Tensor | None, music: torch.Tensor | None, *, video_floor: float = 0.0) -> None:
        """Fit the per-modality standardisation on training features (raw backbone outputs); ``video_floor``:
        the video spread's floor as a fraction of its median (:meth:`Standardizer.fit`)."""
        if video is not None:
            self.video_scaler.fit(video, floor=video_floor)
        if music is not None:
            self.music_scaler.fit(music)

    @staticmethod
    def _embed(x, scaler, layer_in, head, emotion_head) -> Embedded:
        z = layer_in(scaler(x))
        logits = emotion_head(gelu(z)) if emotion_head is not None else None
        return Embedded(head(z), logits)

    def embed_video(self, video: torch.Tensor) -> Embedded:
        """Raw 2304-d SlowFast features ``(N, 2304)`` -> unit embeddings ``(N, 64)`` (+ emotion logits)."""
        return self._embed(video, self.video_scaler, self.video_in, self.video_head, self.video_emotion)

    def embed_music(self, music: torch.Tensor) -> Embedded:
        """Raw 128-d VGGish features ``(N, 128)`` -> unit embeddings ``(N, 64)`` (+ emotion logits)."""
        return self._embed(music, self.music_scaler, self.music_in, self.music_head, self.music_emotion)

    @property
    def blended(self) -> bool:
        """Whether the score adds the emotion agreement to the cosine."""
        return self.config.multitask and self.config.agreement_weight > 0

    @property
    def score_dim(self) -> int:
        """Length of :meth:`score_vector` (the embedding, plus the emotion distribution for a blended model)."""
        return self.config.embed_dim + (self.config.num_emotions if self.blended else 0)

    def score_vector(self, out: Embedded) -> torch.Tensor:
        """Vectors whose dot product is the model's score: ``[embedding, sqrt(lambda) * softmax(logits)]``.

        For the paper's cosine (single-task, or ``agreement_weight == 0``) this is the embedding itself.
        """
        if not self.blended:
            return out.embedding
        assert out.emotion_logits is not None
        scale = self.config.agreement_weight ** 0.5
        return torch.cat([out.embedding, scale * torch.softmax(out.emotion_logits.float(), dim=-1).to(out.embedding.dtype)], -1)

    def score_matrix(self, video: Embedded, music: Embedded, agreement_weight: float | None = None) -> torch.Tensor:
        """The score of every video with every music, ``(N_video, N_music)``.

        ``agreement_weight`` overrides the config's lambda (a recipe choosing it on held-out data; 0 gives the
        cosine alone). With the config's lambda this equals the product of :meth:`score_vector` rows.
        """
        if agreement_weight is None:
            return self.score_vector(video) @ self.score_vector(music).T
        scores = video.embedding @ music.embedding.T
        if agreement_weight and video.emotion_logits is not None and music.emotion_logits is not None:
            scores = scores + agreement_weight * (video.emotion_logits.softmax(-1) @ music.emotion_logits.softmax(-1).T)
        return scores

    def emotion_probabilities(self, out: Embedded, modality: str) -> torch.Tensor | None:
        """Calibrated emotion probabilities ``softmax(logits / T)`` of ``modality`` ("video"/"music")."""
        if out.emotion_logits is None:
            return None
        temperature = self.config.video_temperature if modality == "video" else self.config.music_temperature
        return torch.softmax(out.emotion_logits.float() / temperature, dim=-1)

    def forward(self, video: torch.Tensor, music: torch.Tensor) -> tuple[Embedded, Embedded, torch.Tensor]:
        """Paired forward: both embeddings and the cosine similarity of each pair ``(N,)``."""
        v = self.embed_video(video)
        m = self.embed_music(music)
        return v, m, (v.embedding * m.embedding).sum(-1)


def cosine_distance(video_embedding: torch.Tensor, music_embedding: torch.Tensor) -> torch.Tensor:
    """``1 - cos`` for unit-length embeddings, pairwise by row."""
    return 1.0 - (video_embedding * music_embedding).sum(-1)


# --------------------------------------------------------------------------------------- persistence


def card_path_for(weights_path: Path | str) -> Path:
    """``model.pt`` -> ``model.card.json``."""
    p = Path(weights_path)
    return p.with_name(p.stem + ".card.json")


def save_model(path: Path | str, model: RetrievalModel, card: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``path`` (weights + config) and its card; returns the card as written.

    The card gets ``config``, ``feature_protocol`` (unless given) and ``weights_sha256`` filled in.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": state,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    card = dict(card or {})
    card.setdefault("format", CHECKPOINT_FORMAT)
    card["config"] = model.config.to_dict()
    card.setdefault("feature_protocol", FEATURE_PROTOCOL)
    card["weights_file"] = path.name
    card["weights_sha256"] = sha256_of(path)
    write_text_atomically(card_path_for(path), json.dumps(card, indent=2, sort_keys=False) + "\n")
    return card


def check_card(card: dict[str, Any], protocol: dict[str, dict[str, object]] = FEATURE_PROTOCOL) -> list[str]:
    """Reasons why a model card does not fit ``protocol`` (empty list: it fits)."""
    problems: list[str] = []
    theirs = card.get("feature_protocol")
    if not isinstance(theirs, dict):
        return ["the model card has no feature_protocol"]
    for modality, ours in protocol.items():
        other = theirs.get(modality)
        if not isinstance(other, dict):
            problems.append(f"the model card does not describe its {modality} features")
            continue
        for key in PROTOCOL_KEYS:
            if other.get(key) != ours.get(key):
                problems.append(f"{modality} {key}: model expects {other.get(key)!r}, engine provides {ours.get(key)!r}")
    return problems


def load_model(
    path: Path | str,
    *,
    protocol: dict[str, dict[str, object]] | None = FEATURE_PROTOCOL,
    map_location: str | torch.device = "cpu",
) -> tuple[RetrievalModel, dict[str, Any]]:
    """Load a model and its card, in eval mode.

    Raises :class:`ModelFileError` if a file is missing, the weights do not match the card's sha256,
    the state dict does not fit the config, or (unless ``protocol=None``) the card's feature protocol
    does not match the engine's.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "model file not found")
    card_file = card_path_for(path)
    if not card_file.is_file():
        raise ModelFileError(path, f"model card {card_file.name} not found beside the model")
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(card_file, f"unreadable model card ({exc})") from exc
    expected_sha = card.get("weights_sha256")
    if expected_sha and sha256_of(path) != expected_sha:
        raise ModelFileError(path, "weights do not match the sha256 recorded in the model card")
    if protocol is not None:
        problems = check_card(card, protocol)
        if problems:
            raise ModelFileError(path, "model does not fit this engine's features: " + "; ".join(problems))
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise ModelFileError(path, f"cannot read model weights ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError(path, "not an EmoMV retrieval model file")
    try:
        config = ModelConfig.from_dict(payload["config"])
        model = RetrievalModel(config)
        model.load_state_dict(payload["state_dict"], strict=True)
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise ModelFileError(path, f"weights do not fit the model ({exc})") from exc
    model.eval()
    return model, card
