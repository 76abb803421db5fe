"""The worker abstraction: signals, order, errors, cancel, pause, lanes and stale request ids."""

from __future__ import annotations

import threading
import time

import pytest

from emomv_desktop.engine.errors import Cancelled, DecodeError
from emomv_desktop.engine.jobs import Progress, report
from emomv_desktop.ui.worker import Job, Requests, WorkerLane, describe_error


@pytest.fixture
def lane(qtbot):
    lane = WorkerLane("test")
    yield lane
    assert lane.shutdown(10_000)


def _record(job: Job) -> list:
    events: list = []
    job.started.connect(lambda rid: events.append(("started", rid)))
    job.progressed.connect(lambda rid, p: events.append(("progressed", rid, p.done)))
    job.returned.connect(lambda rid, value: events.append(("returned", rid, value)))
    job.errored.connect(lambda rid, exc: events.append(("errored", rid, exc)))
    job.finished.connect(lambda rid: events.append(("finished", rid)))
    return events


def test_job_reports_progress_result_and_finishes_last_on_the_lane_thread(qtbot, lane):
    threads = []

    def work(progress, cancel):
        threads.append(threading.current_thread().name)
        report(progress, 1, 1, "one")  # final progress is never rate-limited away
        return 42

    job = Job(work, request_id=7)
    events = _record(job)
    with qtbot.waitSignal(job.finished, timeout=10_000):
        lane.submit(job)
    assert events == [("started", 7), ("progressed", 7, 1), ("returned", 7, 42), ("finished", 7)]
    assert threads and threads[0] != threading.main_thread().name


def test_engine_errors_arrive_through_errored(qtbot, lane):
    def fail(progress, cancel):
        raise DecodeError("/music/x.mp3", "not audio")

    job = Job(fail, request_id=3)
    events = _record(job)
    with qtbot.waitSignal(job.finished, timeout=10_000):
        lane.submit(job)
    kinds = [e[0] for e in events]
    assert kinds == ["started", "errored", "finished"]
    exc = events[1][2]
    assert isinstance(exc, DecodeError)
    assert describe_error(exc) == "/music/x.mp3: not audio"
    assert describe_error(ValueError("boom")).startswith("Unexpected error (ValueError: boom)")


def test_cancel_stops_a_running_job_cooperatively(qtbot, lane):
    running = threading.Event()

    def loop(progress, cancel):
        while True:
            running.set()
            cancel.check()
            time.sleep(0.01)  # stand-in for a batch of work

    job = Job(loop)
    events = _record(job)
    lane.submit(job)
    qtbot.waitUntil(running.is_set, timeout=10_000)
    with qtbot.waitSignal(job.finished, timeout=10_000):
        job.cancel()
    assert isinstance(events[1][2], Cancelled)


def test_a_result_that_arrives_after_cancel_counts_as_cancelled(qtbot, lane):
    def ignores_cancel(progress, cancel):
        cancel.cancel()  # the caller cancelled while the last step ran
        return "late"

    job = Job(ignores_cancel)
    events = _record(job)
    with qtbot.waitSignal(job.finished, timeout=10_000):
        lane.submit(job)
    assert [e[0] for e in events] == ["started", "errored", "finished"]
    assert isinstance(events[1][2], Cancelled)


def test_pause_holds_the_job_at_its_next_progress_report_until_resumed(qtbot, lane):
    passed = threading.Event()

    def work(progress, cancel):
        progress(Progress(0, 2, "first step"))
        passed.set()
        return "done"

    job = Job(work)
    job.pause()
    assert job.paused
    lane.submit(job)
    assert not passed.wait(0.5), "a paused job went on past its progress report"
    with qtbot.waitSignal(job.returned, timeout=10_000) as blocker:
        job.resume()
    assert blocker.args == [0, "done"]


def test_cancel_releases_a_paused_job(qtbot, lane):
    job = Job(lambda progress, cancel: progress(Progress(0, 1)))
    events = _record(job)
    job.pause()
    lane.submit(job)
    with qtbot.waitSignal(job.finished, timeout=10_000):
        job.cancel()
    assert isinstance(events[1][2], Cancelled)


def test_a_lane_runs_its_jobs_one_at_a_time_in_order(qtbot, lane):
    order: list[int] = []
    active = []

    def make(i):
        def work(progress, cancel):
            active.append(i)
            assert len(active) == 1, "two jobs of one lane ran at once"
            order.append(i)
            active.remove(i)
            return i

        return work

    jobs = [Job(make(i)) for i in range(5)]
    idle = []
    lane.idle_changed.connect(idle.append)
    with qtbot.waitSignal(jobs[-1].finished, timeout=10_000):
        for j in jobs:
            lane.submit(j)
    qtbot.waitUntil(lambda: lane.idle)
    assert order == list(range(5))
    assert idle[0] is False and idle[-1] is True
    assert lane.jobs() == []


def test_requests_make_older_ids_stale():
    requests = Requests()
    first = requests.issue()
    second = requests.issue()
    assert not requests.is_current(first)
    assert requests.is_current(second)
    requests.invalidate()
    assert not requests.is_current(second)


def test_shutdown_cancels_what_is_queued_and_stops_the_thread(qtbot):
    lane = WorkerLane("shutdown")
    started = threading.Event()

    def slow(progress, cancel):
        started.set()
        while not cancel.cancelled:
            time.sleep(0.01)  # stand-in for a batch of work
        cancel.check()

    first, second = Job(slow), Job(slow)
    events = _record(second)
    lane.submit(first)
    lane.submit(second)
    qtbot.waitUntil(started.is_set, timeout=10_000)
    assert lane.shutdown(10_000)
    assert first.cancelled and second.cancelled
    qtbot.waitUntil(lambda: bool(events) and events[-1][0] == "finished")
    assert [e[0] for e in events] == ["started", "errored", "finished"]  # reported, never run


def test_shutdown_without_cancel_still_runs_queued_cleanup(qtbot):
    lane = WorkerLane("cleanup")
    closed = threading.Event()
    lane.submit(Job(lambda progress, cancel: None))
    lane.submit(Job(lambda progress, cancel: closed.set()))
    assert lane.shutdown(10_000, cancel=False)
    assert closed.is_set()


def test_a_job_starts_only_after_the_event_loop_turns_so_late_connections_see_everything(qtbot, lane):
    ran = threading.Event()
    job = Job(lambda progress, cancel: ran.set() or "fast")
    lane.submit(job)
    assert not ran.wait(0.3), "the job ran before the caller got back to the event loop"
    with qtbot.waitSignal(job.returned, timeout=10_000) as returned:  # connected after submit
        pass
    assert returned.args == [0, "fast"]


def _log_text() -> str:
    import logging

    from emomv_desktop.engine import logs

    for name in (logs.LOGGER, "py.warnings"):
        for handler in logging.getLogger(name).handlers:
            handler.flush()
    return logs.log_file().read_text(encoding="utf-8") if logs.log_file().exists() else ""


def test_unexpected_errors_are_logged_with_their_traceback_and_the_message_says_where(qtbot, lane):
    from emomv_desktop.engine import logs

    def buggy(progress, cancel):
        return {}["missing key in a worker"]

    def bad_input(progress, cancel):
        raise DecodeError("/music/y.mp3", "not audio")

    for fn in (buggy, bad_input):
        job = Job(fn, name=fn.__name__)
        with qtbot.waitSignal(job.finished, timeout=10_000):
            lane.submit(job)
    text = _log_text()
    assert "job 'buggy' failed" in text and "Traceback" in text and "KeyError: 'missing key in a worker'" in text
    assert "not audio" not in text  # a user's bad file is no bug: shown, not logged
    assert str(logs.log_file()) in describe_error(KeyError("x"))


def test_warnings_raised_on_a_worker_thread_reach_the_log(qtbot, lane):
    import logging
    import warnings

    from emomv_desktop.engine import logs

    def noisy(progress, cancel):
        warnings.warn("a warning from the worker thread", RuntimeWarning)

    logs.capture_warnings()
    try:
        job = Job(noisy)
        with qtbot.waitSignal(job.finished, timeout=10_000):
            lane.submit(job)
    finally:
        logging.captureWarnings(False)
    assert "a warning from the worker thread" in _log_text()


def test_a_lane_that_does_not_stop_in_time_keeps_its_thread_for_a_later_wait(qtbot):
    """A QThread destroyed while it runs aborts the interpreter: a lane whose job outlasts the wait keeps it."""
    lane = WorkerLane("stubborn")
    started, release = threading.Event(), threading.Event()
    lane.submit(Job(lambda progress, cancel: started.set() or release.wait(30)))  # deaf to cancel
    qtbot.waitUntil(started.is_set, timeout=10_000)
    assert not lane.shutdown(50)
    assert not lane.idle  # still running, and still the lane's
    release.set()
    assert lane.shutdown(10_000)
    qtbot.waitUntil(lambda: lane.idle, timeout=10_000)
