"""GUI responsiveness and hand-off speed, on generated media with random-init backbones.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=$PWD python benchmarks/bench_gui.py [--repeats 3]

Prints, side by side in one run:

* event-loop stalls of the GUI thread (gaps between ticks of a 5 ms timer; median / p95 / max) while idle,
  while a video is analysed and while a folder is indexed: the workers must keep the window responsive;
* drop-to-results latency (drop event to the ranked table; median of ``--repeats``), one SlowFast clip per
  analysis window;
* preview-MP4 export of the same picture as H.264 in MP4 (stream copy) and as FFV1 in MKV (re-encode), median.

Another process on the machine slows everything down: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICK_MS = 5


def _wait(app, condition, timeout: float = 900.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.001)


class StallMeter:
    """Records the gaps between ticks of a fast timer on the GUI thread (a blocked thread shows as a long gap)."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self._last) * 1000)
        self._last = now

    def start(self) -> None:
        self.gaps.clear()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> str:
        self._timer.stop()
        gaps = sorted(self.gaps) or [0.0]
        p95 = gaps[min(len(gaps) - 1, int(0.95 * len(gaps)))]
        return f"median {statistics.median(gaps):5.1f} ms  p95 {p95:6.1f} ms  max {gaps[-1]:6.1f} ms  ({len(gaps)} ticks)"


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tracks", type=int, default=6)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="bench-gui-"))
    for name in ("DATA", "CACHE", "CONFIG"):
        os.environ[f"EMOMV_{name}_DIR"] = str(tmp / name.lower())
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    from emomv_desktop.engine.export import export_preview
    from emomv_desktop.ui.compat import protect_singletons
    from emomv_desktop.ui.main_window import MainWindow
    from tests import media_factory
    from tests.ui.helpers import PrebuiltBackends, drop_files, index_and_make_model, random_extractors

    music, more_music = tmp / "music", tmp / "more-music"
    for folder, offset in ((music, 0), (more_music, 100)):
        folder.mkdir()
        for i in range(args.tracks):
            media_factory.write_audio(folder / f"track-{i}.flac", seconds=60, seed=offset + i)
    videos = [media_factory.write_video(tmp / f"cut-{i}.mp4", seconds=8, width=640, height=360, seed=i)
              for i in range(2)]
    extractors = random_extractors()
    db, model = tmp / "library.sqlite3", tmp / "model.pt"
    index_and_make_model(music, db, model, extractors[1], {"name": "bench"})

    protect_singletons()
    app = QApplication.instance() or QApplication([])
    window = MainWindow(PrebuiltBackends(device="cpu", allow_random=True, model_path=model, library_path=db,
                                         extractors=extractors))
    window.resize(1280, 800)
    window.show()
    window.start(rescan=False)
    _wait(app, lambda: window.analysis.ready)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
          f"{args.tracks} x 60 s tracks, 8 s 640x360 videos, 1 SlowFast clip per window")

    meter = StallMeter()
    meter.start()
    deadline = time.monotonic() + 2.0
    _wait(app, lambda: time.monotonic() > deadline)
    print(f"GUI stalls, idle:        {meter.stop()}")

    latencies = []
    meter.start()
    for i in range(args.repeats):
        before = window.analysis.analysis
        start = time.perf_counter()
        drop_files(window, videos[i % 2])
        _wait(app, lambda: window.analysis.analysis is not None and window.analysis.analysis is not before)
        latencies.append(time.perf_counter() - start)
    print(f"GUI stalls, analysing:   {meter.stop()}")
    print(f"drop to results: median {statistics.median(latencies):.2f} s over {args.repeats} "
          f"({', '.join(f'{t:.2f}' for t in latencies)})")

    panel = window.library_panel
    meter.start()
    start = time.perf_counter()
    panel.add_folder(more_music)
    _wait(app, lambda: panel.indexing)
    _wait(app, lambda: not panel.indexing)
    print(f"GUI stalls, indexing:    {meter.stop()}  ({args.tracks} tracks in {time.perf_counter() - start:.1f} s)")
    window.close()

    copyable = media_factory.write_video(tmp / "export.mp4", seconds=30, width=640, height=360)
    encoded = media_factory.write_video(tmp / "export.mkv", seconds=30, width=640, height=360, codec="ffv1")
    track = music / "track-0.flac"
    copy_s = _median_seconds(lambda: export_preview(copyable, track, 10.0, tmp / "out-copy.mp4"), args.repeats)
    encode_s = _median_seconds(lambda: export_preview(encoded, track, 10.0, tmp / "out-encode.mp4"), args.repeats)
    print(f"preview MP4 of 30 s 640x360: stream copy {copy_s:.2f} s, re-encode {encode_s:.2f} s "
          f"(x{encode_s / copy_s:.1f}), median of {args.repeats}; load average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
