"""The UI tests' teardown guard (``_no_worker_left_running`` in conftest.py): a test that fails while a worker
job runs fails cleanly, instead of the interpreter aborting on a QThread destroyed while it runs (rc 134)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

INNER = '''
import threading
from emomv_desktop.ui.worker import Job, WorkerLane

def test_fails_while_a_job_runs(qtbot):
    lane = WorkerLane("left running")
    started = threading.Event()
    lane.submit(Job(lambda progress, cancel: started.set() or threading.Event().wait(3)))  # deaf to cancel
    qtbot.waitUntil(started.is_set, timeout=10_000)
    assert False, "the inner test's own failure"
'''


def test_a_test_failing_while_a_job_runs_fails_cleanly(tmp_path):
    (tmp_path / "test_inner.py").write_text(INNER, encoding="utf-8")
    (tmp_path / "conftest.py").write_text("from tests.ui.conftest import _no_worker_left_running  # noqa: F401\n",
                                          encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inner.py"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    # without the guard: "QThread: Destroyed while thread ... is still running" and rc 134 (SIGABRT)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed" in run.stdout and "the inner test's own failure" in run.stdout
    assert "Destroyed while thread" not in run.stderr
