"""The one worker abstraction of the GUI: engine calls run in background lanes and report through signals.

An engine call is a plain function ``fn(progress, cancel) -> result`` (see :mod:`emomv_desktop.engine.jobs`).
:class:`Job` wraps one such call and turns it into Qt signals, like superqt's ``GeneratorWorker``:
``started``, ``progressed``, ``returned``, ``errored``, ``finished`` (always last, exactly once). Every
signal carries the job's request id, so a receiver can drop the results of a request that a newer one has
superseded (:class:`Requests`).

A :class:`WorkerLane` is one named thread that runs its jobs one at a time, in submission order. Giving a
lane to each kind of work is how the window keeps models and SQLite connections confined to one thread
each (see ``MainWindow`` for the lanes and why there are that many).

Cancellation is cooperative: :meth:`Job.cancel` sets the engine's :class:`CancelToken`, which the engine
checks between batches; threads are never killed. Pausing works without any engine support: the progress
callback, which the engine calls between batches on the worker thread, blocks while the job is paused.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from emomv_desktop.engine import logs
from emomv_desktop.engine.errors import Cancelled, EngineError, WeightsError
from emomv_desktop.engine.jobs import CancelToken, Progress, ProgressCallback
from emomv_desktop.engine.text import error_line

JobFunction = Callable[[Callable[[Progress], None], CancelToken], Any]

# Progress signals are rate-limited: a fast engine loop must not flood the GUI thread's event queue.
PROGRESS_INTERVAL_S = 0.05


class Job(QObject):
    """One engine call on a worker lane. Create it in the GUI thread, connect, then ``lane.submit(job)``."""

    started = Signal(int)
    progressed = Signal(int, object)  # request id, engine.jobs.Progress
    returned = Signal(int, object)  # request id, the function's result
    errored = Signal(int, object)  # request id, the exception (Cancelled when cancelled)
    finished = Signal(int)

    def __init__(self, fn: JobFunction, *, request_id: int = 0, name: str = "", parent: QObject | None = None):
        super().__init__(parent)
        self.fn = fn
        self.request_id = request_id
        self.name = name or getattr(fn, "__name__", "job")
        self.token = CancelToken()
        self._resume = threading.Event()
        self._resume.set()
        self._last_emit = 0.0

    # ---- control, from any thread
    def cancel(self) -> None:
        """Ask the call to stop at its next check; also releases a paused job so it can notice."""
        self.token.cancel()
        self._resume.set()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    def pause(self) -> None:
        """Hold the call at its next progress report until :meth:`resume` (or :meth:`cancel`)."""
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    # ---- the worker-thread side
    def _progress(self, progress: Progress) -> None:
        """The callback handed to the engine: emits (rate-limited) and blocks while paused."""
        now = time.monotonic()
        final = progress.total is not None and progress.done >= progress.total
        if final or now - self._last_emit >= PROGRESS_INTERVAL_S:
            self._last_emit = now
            self.progressed.emit(self.request_id, progress)
        self._resume.wait()
        self.token.check()

    def run(self) -> None:
        """Run the call on the current thread and emit its outcome. Never raises."""
        self.started.emit(self.request_id)
        try:
            self.token.check()
            result = self.fn(self._progress, self.token)
        except BaseException as exc:  # noqa: BLE001 - every failure is reported through errored
            if not isinstance(exc, EngineError):  # a bug: its traceback goes to the log, in this one place
                logs.log_unexpected(f"job {self.name!r} failed", exc)
            self.errored.emit(self.request_id, exc)
        else:
            if self.token.cancelled:
                # A call that finished despite a cancel request still counts as cancelled: whoever
                # cancelled it no longer wants its result.
                self.errored.emit(self.request_id, Cancelled())
            else:
                self.returned.emit(self.request_id, result)
        finally:
            self.finished.emit(self.request_id)


class _LaneThread(QThread):
    """The thread behind a lane: takes jobs from a queue until it gets ``None``."""

    def __init__(self, jobs: "queue.Queue[Job | None]", name: str) -> None:
        super().__init__()
        self._jobs = jobs
        self.setObjectName(name)

    def run(self) -> None:
        while (job := self._jobs.get()) is not None:
            job.run()


class WorkerLane(QObject):
    """A named background thread that runs submitted jobs one at a time, in order.

    The thread starts on the first :meth:`submit` (constructing a lane starts nothing). A submitted job
    starts no earlier than the next turn of the GUI event loop, so the caller may still connect to its
    signals after ``submit`` returns without missing any (a fast job could otherwise finish before the
    connection exists, and Qt delivers a queued signal only to the receivers connected when it was
    emitted). The lane keeps a reference to each job until its ``finished`` signal has been delivered, so
    queued signals always reach their receivers.
    """

    idle_changed = Signal(bool)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread: _LaneThread | None = None
        self._pending: list[Job] = []
        self._unposted: list[Job] = []  # submitted, handed to the thread at the next event-loop turn

    def submit(self, job: Job) -> Job:
        """Queue ``job``; it runs after the jobs submitted before it."""
        if self._thread is None:
            self._thread = _LaneThread(self._queue, f"emomv-{self.name}")
            self._thread.start()
        was_idle = not self._pending
        self._pending.append(job)
        job.finished.connect(lambda _id, j=job: self._forget(j))
        self._unposted.append(job)
        QTimer.singleShot(0, self, self._post)
        if was_idle:
            self.idle_changed.emit(False)
        return job

    def _post(self) -> None:
        while self._unposted:
            self._queue.put(self._unposted.pop(0))

    def _forget(self, job: Job) -> None:
        if job in self._pending:
            self._pending.remove(job)
        if not self._pending:
            self.idle_changed.emit(True)

    @property
    def idle(self) -> bool:
        return not self._pending

    def jobs(self) -> list[Job]:
        """The jobs submitted and not yet finished (running first)."""
        return list(self._pending)

    def cancel_all(self) -> None:
        for job in self._pending:
            job.cancel()

    def shutdown(self, timeout_ms: int = 30_000, *, cancel: bool = True) -> bool:
        """Stop the thread after the queued jobs and wait for it; True when it stopped in time.

        With ``cancel`` every queued job is cancelled first (it only reports so); without, cleanup jobs
        submitted just before still run. A thread that did not stop in time stays the lane's, so a later call
        can wait again (a QThread destroyed while it runs aborts the process).
        """
        if cancel:
            self.cancel_all()
        if self._thread is None:
            return True
        self._post()
        self._queue.put(None)
        stopped = self._thread.wait(timeout_ms)
        if stopped:
            self._thread = None
        return stopped


class Requests:
    """Request ids for one kind of request: only the latest issued id is current.

    A result whose id is not current belongs to a superseded request and is dropped by its receiver.
    """

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.latest = 0

    def issue(self) -> int:
        self.latest = next(self._ids)
        return self.latest

    def is_current(self, request_id: int) -> bool:
        return request_id == self.latest

    def invalidate(self) -> None:
        """Make every issued id stale (e.g. the user cleared the query)."""
        self.latest = next(self._ids)


def describe_error(exc: BaseException) -> str:
    """The message a user sees for a failed job (engine errors say it themselves; bugs say they are bugs)."""
    if isinstance(exc, WeightsError):
        return " ".join(exc.plain.split())  # a window's words: no command lines
    if isinstance(exc, EngineError):
        return error_line(exc)
    return (f"Unexpected error ({type(exc).__name__}: {exc}). Please report it; the details are in "
            f"{logs.log_file()}.")


def job(fn: Callable[..., Any], *args: Any) -> JobFunction:
    """``fn(*args, progress, cancel)`` as a job function for :class:`Job`."""

    def run(progress: ProgressCallback, cancel: CancelToken) -> Any:
        return fn(*args, progress, cancel)

    run.__name__ = getattr(fn, "__name__", "job")
    return run
