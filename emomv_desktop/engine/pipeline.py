"""Loading what the entry points need, once, on one device: the backbones and the retrieval model.

The CLI and the GUI call these from the thread that will own the models (the inference thread). Every
problem a user can fix is an :class:`~emomv_desktop.engine.errors.EngineError` that says how:
missing backbone weights -> ``WeightsError`` (``emomv-desktop models download``/``import``), a missing
or unfit retrieval model -> ``ModelFileError``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from . import paths, weights
from .backbones import DEFAULT_CLIPS_PER_WINDOW, SlowFastExtractor, VGGishExtractor, load_extractors, select_device
from .errors import ModelFileError
from .model import RetrievalModel, load_model

__all__ = ["LoadedModel", "Models", "load_models", "load_retrieval_model", "load_vggish", "select_device"]

NO_MODEL_HINT = "no retrieval model here; train one with `emomv-train fit` or set EMOMV_MODEL to a model file"


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """The retrieval model with its card; ``model_id`` (the weights' sha256) keys the ranking caches."""

    model: RetrievalModel
    card: dict
    model_id: str
    path: Path

    @property
    def multitask(self) -> bool:
        return self.model.config.multitask


@dataclasses.dataclass(frozen=True)
class Models:
    """Everything a video query needs, on ``device``."""

    slowfast: SlowFastExtractor
    vggish: VGGishExtractor
    retrieval: LoadedModel
    device: torch.device


def load_retrieval_model(path: Path | str | None = None, *, device: torch.device | str = "cpu") -> LoadedModel:
    """The model at ``path`` (default :func:`paths.model_path`), its card checked against the engine."""
    path = Path(path) if path is not None else paths.model_path()
    if not path.is_file():
        raise ModelFileError(path, NO_MODEL_HINT)
    model, card = load_model(path, map_location=device)
    return LoadedModel(model, card, str(card["weights_sha256"]), path)


def load_vggish(device: torch.device | str, *, allow_random: bool = False) -> VGGishExtractor:
    """The music extractor alone (indexing needs no SlowFast). ``allow_random``: tests and benchmarks only."""
    state = weights.load_cached([weights.VGGISH], allow_missing=allow_random)[weights.VGGISH]
    return VGGishExtractor.build(state, device)


def load_models(
    device: torch.device | str,
    model_path: Path | str | None = None,
    *,
    clips_per_window: int = DEFAULT_CLIPS_PER_WINDOW,
    allow_random: bool = False,
) -> Models:
    """Both backbones and the retrieval model; the model is checked first (cheap, and the likelier problem).

    ``clips_per_window``: SlowFast clips averaged per analysis window (speed/quality, see engine.backbones).
    """
    device = torch.device(device)
    retrieval = load_retrieval_model(model_path, device=device)
    slowfast, vggish = load_extractors(device, allow_random=allow_random, clips_per_window=clips_per_window)
    return Models(slowfast, vggish, retrieval, device)
