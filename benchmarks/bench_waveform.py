"""How long a track's waveform takes to read, at the file's own rate and resampled to lower ones; memory for an hour.

    PYTHONPATH=$PWD python benchmarks/bench_waveform.py [--repeats 3] [--minutes 10]

Prints, side by side in one run: ``engine.waveform.track_peaks`` (2000 buckets, cache cleared before each run) on
generated music of ``--minutes`` in FLAC, MP3 and AAC (m4a), read at the file's own rate (what the app does) and
resampled to 16, 8 and 4 kHz; median of ``--repeats``. Then an hour of 22.05 kHz noise (WAV): the time and the
memory Python allocates while reading it (tracemalloc's peak; the decoded hour as float32 would be 318 MB).
Another process on the machine slows everything down: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench_gui import _median_seconds  # this folder is on the path when a script here runs

ROOT = Path(__file__).resolve().parents[1]
RATES = (None, 16_000, 8_000, 4_000)


def _hour_of_noise(path: Path) -> Path:
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=22_050, channels=1, subtype="PCM_16") as f:
        for _ in range(360):
            f.write((0.2 * rng.standard_normal(22_050 * 10)).astype(np.float32))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from emomv_desktop.engine import waveform
    from tests import media_factory

    with tempfile.TemporaryDirectory(prefix="emomv-waveform-") as tmp:
        folder = Path(tmp)
        files = [media_factory.write_audio(folder / f"music{suffix}", seconds=args.minutes * 60, seed=3)
                 for suffix in (".flac", ".mp3", ".m4a")]
        print(f"load average before: {os.getloadavg()}")
        print(f"{'file':<12}" + "".join(f"{'own rate' if r is None else f'{r // 1000} kHz':>10}" for r in RATES))
        for path in files:
            cells = []
            for rate in RATES:
                def run(rate=rate, path=path):
                    waveform.clear_cache()
                    waveform.track_peaks(path, sample_rate=rate)
                cells.append(f"{_median_seconds(run, args.repeats):9.2f}s")
            print(f"{path.name:<12}" + " ".join(cells))
        hour = _hour_of_noise(folder / "hour.wav")
        waveform.clear_cache()
        tracemalloc.start()
        start = time.perf_counter()
        peaks = waveform.track_peaks(hour)
        seconds = time.perf_counter() - start
        _, peak_bytes = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"an hour ({peaks.duration / 60:.0f} min, {hour.stat().st_size / 1e6:.0f} MB WAV): {seconds:.2f} s, "
              f"traced peak {peak_bytes / 1e6:.1f} MB")
        print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
