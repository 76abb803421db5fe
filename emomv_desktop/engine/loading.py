"""Loading what a front-end needs, once, on one device: the backbones, the retrieval model, the library.

:class:`Backends` says where everything comes from; the service layer (:mod:`engine.service`) calls it from
the thread that will own the models. Every problem a user can fix is an
:class:`~emomv_desktop.engine.errors.EngineError` that says how: missing backbone weights -> ``WeightsError``
(``emomv-desktop models download``/``import``), a missing or unfit retrieval model -> ``ModelFileError``.

Demo mode: with ``EMOMV_RANDOM_NETWORKS=1`` (:func:`random_networks_requested`) the entry points build the
backbones with random weights where the pretrained files are missing (``allow_random``: what the tests
use), so the app can be tried and its structure checked without the downloads. The extractors then say
``pretrained=False`` and every result says so. It never switches on by itself.

Import order: this module imports :mod:`engine.weights` and :mod:`engine.backbones`; ``weights`` imports
``backbones`` (for the architectures it checks files against); ``backbones`` imports neither.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from . import paths
from .errors import ModelFileError

if TYPE_CHECKING:
    import torch

    from .backbones import Precision, SlowFastExtractor, VGGishExtractor
    from .library import Library
    from .model import RetrievalModel

__all__ = [
    "RANDOM_NETWORKS_ENV",
    "Backends",
    "LoadedModel",
    "load_extractors",
    "load_retrieval_model",
    "load_slowfast",
    "load_vggish",
    "random_networks_requested",
    "select_device",
    "silence_library_warnings",
]

RANDOM_NETWORKS_ENV = "EMOMV_RANDOM_NETWORKS"
NO_MODEL_HINT = "no retrieval model here; train one with `emomv-train fit` or set EMOMV_MODEL to a model file"

# Warnings the libraries under the backbones print on import or build (pytorchvideo's fvcore import, the
# TorchScript deprecation its hub code triggers): not the user's business, and not theirs to fix.
_LIBRARY_WARNING_MODULES = r"(fvcore|pytorchvideo|torchvggish|torch\.jit)(\.|$)"


def random_networks_requested() -> bool:
    """True when ``EMOMV_RANDOM_NETWORKS=1``: the demo/test mode (random backbones where weights are missing)."""
    return os.environ.get(RANDOM_NETWORKS_ENV, "").strip() == "1"


def silence_library_warnings() -> None:
    """Hide the backbone libraries' own Future/Deprecation/User warnings; the caller's warnings still show.

    Called once by each entry point (CLI, GUI) before anything loads SlowFast.
    """
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category, module=_LIBRARY_WARNING_MODULES)


def select_device(prefer: str | None = None) -> "torch.device":
    """The device to run the backbones on: CUDA when available unless ``prefer`` names one ("cpu", "cuda:1")."""
    import torch

    if prefer:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """The retrieval model with its card; ``model_id`` (the weights' sha256) keys the ranking caches."""

    model: "RetrievalModel"
    card: dict
    model_id: str
    path: Path

    @property
    def multitask(self) -> bool:
        return self.model.config.multitask


def load_retrieval_model(path: Path | str | None = None, *, device: "torch.device | str" = "cpu") -> LoadedModel:
    """The model at ``path`` (default :func:`paths.model_path`), its card checked against the engine."""
    from .model import load_model

    path = Path(path) if path is not None else paths.model_path()
    if not path.is_file():
        raise ModelFileError(path, NO_MODEL_HINT)
    model, card = load_model(path, map_location=device)
    return LoadedModel(model, card, str(card["weights_sha256"]), path)


def _precision(precision: "Precision | str | None") -> dict:
    """``precision=`` for an extractor's build: None keeps that extractor's own default (see backbones)."""
    from .backbones import Precision

    return {} if precision is None else {"precision": Precision(precision)}


def load_slowfast(
    device: "torch.device | str", *, allow_random: bool = False, clips_per_window: int | None = None,
    precision: "Precision | str | None" = None,
) -> "SlowFastExtractor":
    """The video extractor alone (a query needs no VGGish). ``allow_random``: demo mode, tests, benchmarks."""
    from . import weights
    from .backbones import SlowFastExtractor

    state = weights.load_cached([weights.SLOWFAST], allow_missing=allow_random)[weights.SLOWFAST]
    extra = {"clips_per_window": clips_per_window} if clips_per_window else {}
    return SlowFastExtractor.build(state, device, **extra, **_precision(precision))


def load_vggish(device: "torch.device | str", *, allow_random: bool = False,
                precision: "Precision | str | None" = None) -> "VGGishExtractor":
    """The music extractor alone (indexing needs no SlowFast)."""
    from . import weights
    from .backbones import VGGishExtractor

    state = weights.load_cached([weights.VGGISH], allow_missing=allow_random)[weights.VGGISH]
    return VGGishExtractor.build(state, device, **_precision(precision))


def load_extractors(
    device: "torch.device | str", *, allow_random: bool = False, clips_per_window: int | None = None,
    precision: "Precision | str | None" = None,
) -> "tuple[SlowFastExtractor, VGGishExtractor]":
    """Both extractors with the cached pretrained weights (:mod:`engine.weights`), on ``device``.

    Raises :class:`WeightsError` naming every missing or corrupt weight file and how to get it (checked
    before either network is built). With ``allow_random`` a *missing* file gives a random-init extractor
    instead, and its ``.pretrained`` is False; a corrupt file is always an error.
    """
    from . import weights

    weights.require(weights.REGISTRY, allow_missing=allow_random)
    return (load_slowfast(device, allow_random=allow_random, clips_per_window=clips_per_window, precision=precision),
            load_vggish(device, allow_random=allow_random, precision=precision))


@dataclasses.dataclass
class Backends:
    """Where the backbones, the retrieval model and the library come from.

    ``device=None`` lets :meth:`resolve_device` pick (GPU when there is one); the choice is made in the
    thread that loads the models, never at construction. :meth:`from_environment` is what the entry points
    use: pretrained weights only, unless the demo mode is switched on.
    """

    device: str | None = None
    allow_random: bool = False
    model_path: Path | None = None
    library_path: Path | None = None
    clips_per_window: int | None = None
    precision: str | None = None
    """``"exact"`` (fp32) or ``"fast"`` (half precision where the hardware has it) for both backbones; None keeps
    each backbone's default (VGGish fast, SlowFast exact: see ``backbones.Precision``)."""

    @classmethod
    def from_environment(cls, **overrides) -> "Backends":
        return cls(**{"allow_random": random_networks_requested(), **overrides})

    def resolve_device(self) -> "torch.device":
        return select_device(self.device)

    def library_path_or_default(self) -> Path:
        return Path(self.library_path) if self.library_path else paths.library_db()

    def library(self, *, create: bool = True) -> "Library":
        """The library; ``create=False`` only opens an existing one (commands that only look create nothing)."""
        from .library import Library

        return Library(self.library_path_or_default(), create=create)

    def check_weights(self) -> None:
        """Raise ``WeightsError`` naming every pretrained file that is missing or corrupt (and how to get it).

        Both backbones are required before analysis is enabled, even though a query only runs SlowFast:
        the library cannot be indexed without VGGish, and one message naming both files is clearer than two.
        With ``allow_random`` only corrupt files are errors.
        """
        from . import weights

        weights.require(weights.REGISTRY, allow_missing=self.allow_random)

    def video_extractor(self, device: "torch.device") -> "SlowFastExtractor":
        return load_slowfast(device, allow_random=self.allow_random, clips_per_window=self.clips_per_window,
                             precision=self.precision)

    def music_extractor(self, device: "torch.device") -> "VGGishExtractor":
        return load_vggish(device, allow_random=self.allow_random, precision=self.precision)

    def model(self, device: "torch.device") -> LoadedModel:
        return load_retrieval_model(self.model_path, device=device)
