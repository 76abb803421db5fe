"""``kill -9`` in the middle of indexing: no corruption, no half-written track, the next run resumes.

A child process indexes real generated files with the real (random-init) VGGish. A hook stalls it inside
the third track's transaction, after that track's row and windows were written but before the commit,
the worst moment for a crash; the test then kills it with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from emomv_desktop.engine.indexer import index_library
from emomv_desktop.engine.library import Library, TrackStatus

from .. import media_factory

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STALL_AT_TRACK = 3
TRACKS = 5

CHILD = textwrap.dedent(
    """
    import sys, time
    from emomv_desktop.engine.backbones import VGGishExtractor
    from emomv_desktop.engine.indexer import index_library
    from emomv_desktop.engine.library import Library

    db, folder, stall_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    real_write = Library._write_windows
    written = []

    def write_then_stall(self, conn, track_id, *args):
        real_write(self, conn, track_id, *args)
        written.append(track_id)
        if len(written) == stall_at:
            print("IN_TRANSACTION", track_id, flush=True)
            time.sleep(600)

    Library._write_windows = write_then_stall
    with Library(db) as library:
        index_library(library, VGGishExtractor.build(None, "cpu"), folders=[folder])
    print("FINISHED", flush=True)
    """
)


def wait_for_line(process: subprocess.Popen, prefix: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(prefix):
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"child never printed {prefix!r}: {process.stderr.read()}")


def test_kill_9_mid_transaction_loses_only_the_track_in_flight(tmp_path, vggish):
    music = tmp_path / "music"
    music.mkdir()
    for i in range(TRACKS):
        media_factory.write_audio(music / f"track{i}.wav", seconds=2.0 + i, seed=i)
    db = tmp_path / "lib.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(music), str(STALL_AT_TRACK)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        in_flight_id = int(wait_for_line(child, "IN_TRANSACTION", timeout=240).split()[1])
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
        child.stderr.close()

    with sqlite3.connect(db) as raw:  # a plain connection, as any tool would open it
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = raw.execute("SELECT t.id, t.status, w.count FROM tracks t LEFT JOIN windows w ON w.track_id = t.id").fetchall()
    assert len(rows) == STALL_AT_TRACK - 1
    assert all(status == TrackStatus.INDEXED.value and count for _, status, count in rows)
    assert in_flight_id not in [r[0] for r in rows]

    with Library(db) as library:
        report = index_library(library, vggish)
        tracks = library.tracks()
        windows = library.window_features(vggish.backbone_id)
    assert (report.unchanged, report.indexed, report.failed) == (STALL_AT_TRACK - 1, TRACKS - STALL_AT_TRACK + 1, 0)
    assert sorted(t.path.name for t in tracks) == [f"track{i}.wav" for i in range(TRACKS)]
    assert set(windows.track_ids.tolist()) == {t.id for t in tracks}
