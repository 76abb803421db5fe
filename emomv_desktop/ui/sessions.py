"""What each worker lane owns, and the engine calls it makes. Plain Python: no Qt in this module.

Thread roles (one :class:`~emomv_desktop.ui.worker.WorkerLane` each; each object below is created and used
only by the jobs of its own lane, so nothing here is shared between threads):

* **inference** — :class:`InferenceSession`: the SlowFast extractor, the retrieval model and the ranker
  (with its own read connection to the library). Video analysis and ranking run here, one request at a
  time; a newer request cancels the older one, which stops at its next clip.
* **indexing** — :class:`IndexSession`: the VGGish extractor and a write connection to the library.
  Indexing may take hours, so it has its own thread and keeps the inference lane free for queries. While a
  video is analysed the window pauses indexing between batches, so the two networks never compete for the
  device: the user's query always has it to itself (see ``MainWindow``).
* **io** — :class:`LibraryReader`: short reads and writes of the library (folders, stats, failures) and
  small files (result exports), so the GUI thread never touches SQLite or the disk synchronously.
* **transfer** — long file jobs that use no model: weight downloads and imports, preview-MP4 exports.

:class:`Backends` says where the models come from. The app uses the pretrained weights; tests pass
``allow_random=True`` (random-init backbones built by the engine's own constructors), which the window
marks as "random weights (test mode)".
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from emomv_desktop.engine import paths
from emomv_desktop.engine.errors import WeightsError
from emomv_desktop.engine.jobs import CancelToken, ProgressCallback

if TYPE_CHECKING:
    import torch

    from emomv_desktop.engine.backbones import SlowFastExtractor, VGGishExtractor
    from emomv_desktop.engine.library import IndexReport, Library, LibraryStats, Track
    from emomv_desktop.engine.model import RetrievalModel
    from emomv_desktop.engine.pipeline import LoadedModel
    from emomv_desktop.engine.ranking import Ranker, Suggestion, VideoQuery

DEFAULT_TOP = 500


@dataclasses.dataclass
class Backends:
    """Where the backbones, the retrieval model and the library come from.

    ``device=None`` lets :meth:`resolve_device` pick (GPU when there is one); the choice is made in the
    inference lane when the models are loaded, never at construction.
    """

    device: str | None = None
    allow_random: bool = False
    model_path: Path | None = None
    library_path: Path | None = None
    clips_per_window: int | None = None

    def resolve_device(self) -> "torch.device":
        from emomv_desktop.engine.backbones import select_device

        return select_device(self.device)

    def library(self) -> "Library":
        from emomv_desktop.engine.library import Library

        return Library(self.library_path or paths.library_db())

    def check_weights(self) -> None:
        """Raise ``WeightsError`` naming every pretrained file that is missing or corrupt (and how to get it).

        Both backbones are required before analysis is enabled, even though a query only runs SlowFast:
        the library cannot be indexed without VGGish, and one message naming both files is clearer than two.
        With ``allow_random`` only corrupt files are errors.
        """
        from emomv_desktop.engine import weights

        statuses = [weights.weight_status(key) for key in weights.REGISTRY]
        bad = [s for s in statuses if s.state != weights.WeightState.PRESENT]
        if self.allow_random:
            bad = [s for s in bad if s.state == weights.WeightState.CORRUPT]
        if bad:
            raise WeightsError(weights.describe_problems(bad))

    def video_extractor(self, device: "torch.device") -> "SlowFastExtractor":
        """SlowFast alone (the inference lane needs no VGGish); random weights only when allowed and missing."""
        from emomv_desktop.engine import weights
        from emomv_desktop.engine.backbones import SlowFastExtractor

        state = weights.load_cached([weights.SLOWFAST], allow_missing=self.allow_random)[weights.SLOWFAST]
        extra = {"clips_per_window": self.clips_per_window} if self.clips_per_window else {}
        return SlowFastExtractor.build(state, device, **extra)

    def music_extractor(self, device: "torch.device") -> "VGGishExtractor":
        from emomv_desktop.engine.pipeline import load_vggish

        return load_vggish(device, allow_random=self.allow_random)

    def model(self, device: "torch.device") -> "LoadedModel":
        from emomv_desktop.engine.pipeline import load_retrieval_model

        return load_retrieval_model(self.model_path, device=device)


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the inference lane loaded, for the status bar and the About box."""

    device: str
    pretrained: bool
    card: dict[str, Any]
    model_path: Path


@dataclasses.dataclass(frozen=True)
class Analysis:
    """One finished query: the video's analysis and its ranked tracks."""

    query: "VideoQuery"
    suggestions: list["Suggestion"]


class InferenceSession:
    """State of the inference lane (see the module docstring). Every method runs as a job on that lane."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self._extractor: SlowFastExtractor | None = None
        self._model: RetrievalModel | None = None
        self._ranker: Ranker | None = None
        self._library: Library | None = None

    def load(self, progress: ProgressCallback, cancel: CancelToken) -> ModelInfo:
        """Load the model and the video backbone (once). Raises ``WeightsError``/``ModelFileError`` with the fix."""
        from emomv_desktop.engine.jobs import report
        from emomv_desktop.engine.ranking import Ranker

        device = self.backends.resolve_device()
        report(progress, 0, 3, "checking the pretrained backbones")
        self.backends.check_weights()
        report(progress, 0, 3, "loading the retrieval model")
        loaded = self.backends.model(device)
        cancel.check()
        report(progress, 1, 3, "loading SlowFast")
        extractor = self.backends.video_extractor(device)
        cancel.check()
        report(progress, 2, 3, "opening the library")
        self.close()
        self._library = self.backends.library()
        self._ranker = Ranker(self._library, loaded.model, loaded.model_id)
        self._model, self._extractor = loaded.model, extractor
        self._ranker.prepare(progress=progress, cancel=cancel)  # embed the library now: the first query is fast
        report(progress, 3, 3, "ready")
        return ModelInfo(str(device), bool(extractor.pretrained), loaded.card, loaded.path)

    def analyse(self, path: Path, top: int | None, progress: ProgressCallback, cancel: CancelToken) -> Analysis:
        from emomv_desktop.engine.ranking import analyse_video

        if self._ranker is None or self._extractor is None or self._model is None:
            raise RuntimeError("analysis requested before the models were loaded")
        query = analyse_video(path, self._extractor, self._model, progress=progress, cancel=cancel)
        self._ranker.prepare(progress=progress, cancel=cancel)  # re-embeds the library only if it changed
        return Analysis(query, self._ranker.rank(query, top=top))

    def rerank(self, query: "VideoQuery", top: int | None, progress: ProgressCallback, cancel: CancelToken) -> Analysis:
        """Rank an analysed video again (the library changed): no video decoding, milliseconds."""
        if self._ranker is None:
            raise RuntimeError("ranking requested before the models were loaded")
        self._ranker.prepare(progress=progress, cancel=cancel)
        return Analysis(query, self._ranker.rank(query, top=top))

    def close(self, *_job_args: object) -> None:
        if self._library is not None:
            self._library.close()
        self._library = self._ranker = None


class IndexSession:
    """State of the indexing lane: the VGGish extractor (loaded on first use) and a write connection."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self._extractor: VGGishExtractor | None = None

    def index(self, folders: list[Path] | None, progress: ProgressCallback, cancel: CancelToken) -> "IndexReport":
        from emomv_desktop.engine.indexer import index_library
        from emomv_desktop.engine.jobs import report

        if self._extractor is None:
            report(progress, 0, None, "loading VGGish")
            self._extractor = self.backends.music_extractor(self.backends.resolve_device())
        with self.backends.library() as library:
            return index_library(library, self._extractor, folders=folders, progress=progress, cancel=cancel)

    def forget_extractor(self, *_job_args: object) -> None:
        """Drop the extractor so the next run loads the (new) weights."""
        self._extractor = None


@dataclasses.dataclass(frozen=True)
class LibrarySnapshot:
    """What the library panel shows: folders, counts and the files that failed."""

    folders: list[Path]
    stats: "LibraryStats"
    failures: list["Track"]


class LibraryReader:
    """State of the io lane's library work: one connection, opened on first use."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self._library: Library | None = None

    def _open(self) -> "Library":
        if self._library is None:
            self._library = self.backends.library()
        return self._library

    def snapshot(self, _progress: ProgressCallback, _cancel: CancelToken) -> LibrarySnapshot:
        library = self._open()
        return LibrarySnapshot(library.folders(), library.stats(), library.failures())

    def add_folder(self, folder: Path, progress: ProgressCallback, cancel: CancelToken) -> LibrarySnapshot:
        self._open().add_folder(folder)
        return self.snapshot(progress, cancel)

    def remove_folder(self, folder: Path, progress: ProgressCallback, cancel: CancelToken) -> LibrarySnapshot:
        self._open().remove_folder(folder)
        return self.snapshot(progress, cancel)

    def close(self, *_job_args: object) -> None:
        if self._library is not None:
            self._library.close()
            self._library = None


def job(fn: Callable[..., Any], *args: Any) -> Callable[[ProgressCallback, CancelToken], Any]:
    """``fn(*args, progress, cancel)`` as a job function for :class:`~emomv_desktop.ui.worker.Job`."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> Any:
        return fn(*args, progress, cancel)

    run.__name__ = getattr(fn, "__name__", "job")
    return run
