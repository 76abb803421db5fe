"""The query workflow: load the models, open a video, find its scenes, rank music for a cue, supersede, cancel.

Opening a video is three jobs sharing one request id: a quick probe on the io lane (a file that is no video
is reported without disturbing the analysis or the results on screen), the scene analysis on the inference
lane (shots, scenes, each scene's mood: ``scenesReady``), then the ranking for the whole video as the first
cue. Selecting another cue ranks for it (milliseconds: no decoding); editing the scenes (split/merge)
analyses only the scenes that need it. A newer request cancels the job of the older one and makes its id
stale, so whatever the older job still reports is dropped.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from typing import TYPE_CHECKING, Sequence

from emomv_desktop.engine import service
from emomv_desktop.engine.errors import Cancelled, WeightsError
from emomv_desktop.engine.service import Analysis, InferenceSession, ModelInfo, probe_video

if TYPE_CHECKING:
    from emomv_desktop.engine.scenes import Cue, Scene

from .worker import Job, Requests, WorkerLane, describe_error, job


class AnalysisController(QObject):
    """Owns the request ids and the jobs of the query workflow; the window shows what it signals."""

    loaded = Signal(object)  # ModelInfo: analysis is available
    unavailable = Signal(str, bool)  # message, True when pretrained weights are what is missing
    started = Signal(object)  # Path: analysis of this video began
    progressed = Signal(object)  # engine.jobs.Progress of the current analysis
    finished = Signal(object)  # Analysis of the current request (also after a re-rank)
    scenesReady = Signal(object)  # SceneAnalysis of the current video (again after a split/merge)
    failed = Signal(object, str)  # Path, message: the current request failed (or the file is no video)
    cancelled = Signal(object)  # Path
    busyChanged = Signal(bool)  # an analysis is running (the indexer should yield the device)

    def __init__(self, inference_lane: WorkerLane, io_lane: WorkerLane, session: InferenceSession,
                 top: int | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.inference_lane, self.io_lane = inference_lane, io_lane
        self.session = session
        self.top = top
        self.requests = Requests()
        self.info: ModelInfo | None = None
        self.problem: str | None = "the models are not loaded yet"
        self.analysis: Analysis | None = None
        self.scenes = None  # SceneAnalysis of the current video
        self.cue: Cue | None = None  # the cue the results are for
        self.current_path: Path | None = None
        self._job: Job | None = None
        self.loading = False  # between load() and its outcome

    # ------------------------------------------------------------------ model
    @property
    def ready(self) -> bool:
        return self.info is not None

    @property
    def busy(self) -> bool:
        return self._job is not None

    def load(self) -> Job:
        """(Re)load the models in the inference lane; ends in ``loaded`` or ``unavailable``."""
        self.info, self.loading = None, True
        loading = Job(self.session.load, name="load models")
        loading.returned.connect(lambda _id, info: self._loaded(info))
        loading.errored.connect(lambda _id, exc: self._load_failed(exc))
        return self.inference_lane.submit(loading)

    def _loaded(self, info: ModelInfo) -> None:
        self.info, self.problem, self.loading = info, None, False
        self.loaded.emit(info)

    def _load_failed(self, exc: BaseException) -> None:
        self.problem = describe_error(exc)  # an unexpected one is in the log already (see worker.Job)
        self.loading = False
        self.unavailable.emit(self.problem, isinstance(exc, WeightsError))

    # ------------------------------------------------------------------ queries
    def preflight(self, path: Path | str) -> Job:
        """Probe ``path`` now, while the models still load: a file that is no video is refused at once."""
        path = Path(path)
        probe = Job(job(probe_video, path), name="probe video")
        probe.errored.connect(lambda _id, exc: self.failed.emit(path, describe_error(exc)))
        return self.io_lane.submit(probe)

    def open(self, path: Path | str) -> int:
        """Start a query for ``path``; returns its request id. Every earlier request becomes stale."""
        path = Path(path)
        request = self.requests.issue()
        if not self.ready:
            self.failed.emit(path, f"Analysis is disabled: {self.problem}")
            return request
        probe = Job(job(probe_video, path), request_id=request, name="probe video")
        probe.returned.connect(lambda rid, _info: self._probed(rid, path))
        probe.errored.connect(lambda rid, exc: self._probe_failed(rid, path, exc))
        self.io_lane.submit(probe)
        return request

    def _probe_failed(self, request: int, path: Path, exc: BaseException) -> None:
        if self.requests.is_current(request):
            self.failed.emit(path, describe_error(exc))

    def _probed(self, request: int, path: Path) -> None:
        if not self.requests.is_current(request):
            return
        self.cancel()
        self.current_path = path
        self.analysis = self.scenes = self.cue = None
        analysis = Job(job(self.session.analyse_scenes, path), request_id=request, name="analyse scenes")
        self._track(analysis, path)
        self.started.emit(path)
        self.inference_lane.submit(analysis)

    def _scenes_found(self, request: int, found) -> None:
        """The scenes are known: show them, and rank for the whole video (the first cue)."""
        self.scenes = found
        self.scenesReady.emit(found)
        self._rank(request, found.whole)

    def _rank(self, request: int, cue: "Cue") -> Job:
        self.cue = cue
        ranking = Job(job(self.session.rank_cue, self.scenes, cue, self.top), request_id=request, name="rank cue")
        self._track(ranking, Path(self.scenes.path))
        return self.inference_lane.submit(ranking)

    def select_cue(self, cue: "Cue") -> Job | None:
        """Rank for ``cue`` (supersedes any running ranking); nothing to do before the scenes are known."""
        if self.scenes is None or not self.ready:
            return None
        self.cancel()
        return self._rank(self.requests.issue(), cue)

    def edit_scenes(self, scenes: "Sequence[Scene]") -> Job | None:
        """Replace the scenes by an edit of them (split/merge): the changed ones are analysed, then shown again
        (``scenesReady``) and the results follow the cue."""
        if self.scenes is None or not self.ready:
            return None
        self.cancel()
        request = self.requests.issue()
        edit = Job(job(service.edit_scenes, self.session, self.scenes, list(scenes)), request_id=request,
                   name="edit scenes")
        edit.returned.connect(self._edited)
        edit.errored.connect(lambda rid, exc: self._errored(rid, Path(self.scenes.path), exc))
        return self.inference_lane.submit(edit)

    def _edited(self, request: int, found) -> None:
        if self.requests.is_current(request):
            self.scenes = found
            self.scenesReady.emit(found)

    def rerank(self) -> Job | None:
        """Rank the current cue again (the library changed); nothing to do while an analysis runs."""
        if self.analysis is None or self.busy or not self.ready:
            return None
        request = self.requests.issue()
        if self.scenes is not None and self.cue is not None:
            return self._rank(request, self.cue)
        ranking = Job(job(self.session.rerank, self.analysis.query, self.top), request_id=request, name="rerank")
        self._track(ranking, Path(self.analysis.query.path))
        return self.inference_lane.submit(ranking)

    def cancel(self) -> None:
        """Stop the running analysis (it reports ``cancelled``); nothing happens when none runs."""
        if self._job is not None:
            self._job.cancel()

    def _track(self, running: Job, path: Path) -> None:
        running.progressed.connect(self._progressed)
        running.returned.connect(lambda rid, result: self._returned(rid, result))
        running.errored.connect(lambda rid, exc: self._errored(rid, path, exc))
        running.finished.connect(lambda _rid: self._finished(running))
        self._job = running
        self.busyChanged.emit(True)

    def _progressed(self, request: int, progress) -> None:
        if self.requests.is_current(request):
            self.progressed.emit(progress)

    def _returned(self, request: int, result) -> None:
        if not self.requests.is_current(request):
            return
        if isinstance(result, Analysis):
            self.analysis = result
            self.finished.emit(result)
        else:
            self._scenes_found(request, result)

    def _errored(self, request: int, path: Path, exc: BaseException) -> None:
        if not self.requests.is_current(request):
            return
        if isinstance(exc, Cancelled):
            self.cancelled.emit(path)
            return
        self.failed.emit(path, describe_error(exc))

    def _finished(self, finished_job: Job) -> None:
        if self._job is finished_job:
            self._job = None
            self.busyChanged.emit(False)
