"""Library indexing end to end: throughput, what decoding ahead buys, overhead beyond the network, peak memory.

    PYTHONPATH=. python benchmarks/bench_index.py                     # 8 x 2-min tracks, a 30-min track
    PYTHONPATH=. python benchmarks/bench_index.py --tracks 4 --seconds 60 --long-minutes 10 --repeats 2
    PYTHONPATH=. python benchmarks/bench_index.py --tracks 4 --seconds 120 --repeats 3 --no-peak  # a few minutes

Generated tracks (44.1 kHz stereo, mp3/flac/ogg/m4a/wav) through the real random-init VGGish (timing does
not depend on the weights' values), side by side in one run, interleaved per repeat so load from other
processes hits every variant alike; figures are medians:

* **index**: ``engine.indexer.index_library`` (decode thread + inference loop, one transaction per track);
* **sequential**: the same work without overlap, per file: decode + frontend, the network on each batch, then
  beats and loudness on the decoded audio, then ``store_features``;
* **network only**: ``VGGishExtractor.embed`` on the same tracks' log-mel examples, computed beforehand;
* **loudness only**: ``engine.loudness.integrated_loudness`` on the same tracks' 16 kHz mono audio, decoded
  beforehand (the part of ``index`` that level matching adds), beside **loudness (pyloudnorm)**, pyloudnorm's
  own ``Meter.integrated_loudness`` on the same audio (the reference the engine's vectorised gating is
  tested against);
* **beats only**: ``engine.beats.track_beats`` on the same decoded audio (the part of ``index`` the beat grid
  adds). Its first call in a process (librosa's numba kernels compile: seconds) is made before the timed runs and
  printed on its own, so the medians are the steady state every later track of a session sees;
* **index (previous)** and **beats only (previous)**: the same with the beat tracker of before
  docs/indexing-speed.md (its dense mel product and one inverse FFT per tempogram frame, kept below as
  :func:`previous_mel_db` / :func:`previous_mean_tempogram`), so before and after are measured side by side under
  the same load (both give the same beats: asserted before the timed runs).

Peak memory: one child process per track length indexes a single file into a fresh library and reports its
``VmHWM`` (the high-water mark of its own resident memory), so a long track shows whether anything holds
the whole file. torchvggish's reference path is compared in ``bench_music_features.py`` (per track).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pyloudnorm
import soundfile as sf

from emomv_desktop.engine import beats, loudness, media
from emomv_desktop.engine.features import TrackFeatures
from emomv_desktop.engine.protocol import AUDIO_SAMPLE_RATE
from tests import media_factory

FORMATS = ("mp3", "flac", "ogg", "m4a", "wav")
SOURCE_RATE = 44_100


def vm_hwm_mb() -> float:
    """This process's peak resident memory (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


SOUNDFILE_FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"),
                     "mp3": ("MP3", "MPEG_LAYER_III")}


def write_in_blocks(path: Path, signal: np.ndarray, repeat: int = 1) -> Path:
    """Write ``signal`` (``repeat`` times) one second per call: libsndfile 1.2.2 crashed (segfault) encoding
    two minutes of Vorbis in one call, which is how the test-media factory writes."""
    container, subtype = SOUNDFILE_FORMATS[path.suffix.lstrip(".")]
    with sf.SoundFile(str(path), "w", samplerate=SOURCE_RATE, channels=signal.shape[1], format=container,
                      subtype=subtype) as out:
        for _ in range(repeat):
            for start in range(0, len(signal), SOURCE_RATE):
                out.write(signal[start : start + SOURCE_RATE])
    return path


def write_long_flac(path: Path, minutes: float) -> Path:
    """A long FLAC, alone in a new folder (the indexer takes folders): one minute of music repeated, so
    generating it stays small."""
    path.parent.mkdir(parents=True)
    return write_in_blocks(path, media_factory.music_signal(60.0, SOURCE_RATE, 2, seed=9), int(round(minutes)))


def child_peak(file: Path) -> None:
    """Child process: index one file into a fresh library; print seconds and peak memory."""
    from emomv_desktop.engine.backbones import VGGishExtractor
    from emomv_desktop.engine.indexer import index_library
    from emomv_desktop.engine.library import Library

    vggish = VGGishExtractor.build(None, "cpu")
    before = vm_hwm_mb()
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "lib.sqlite3") as library:
        started = time.perf_counter()
        report = index_library(library, vggish, folders=[file.parent])
        seconds = time.perf_counter() - started
    assert report.indexed == 1, report
    print(f"{report.audio_seconds:.0f} {seconds:.2f} {before:.0f} {vm_hwm_mb():.0f}")


def peak_memory(files: list[Path]) -> None:
    """Index each file in its own child process (a fresh high-water mark each) and print its peak memory."""
    for file in files:
        out = subprocess.run([sys.executable, __file__, "--child-peak", str(file)], check=True, capture_output=True,
                             text=True).stdout.split()
        audio, seconds, before, peak = (float(x) for x in out)
        print(f"peak RSS indexing one {audio / 60:.0f}-min track: {peak:.0f} MiB (after building VGGish: "
              f"{before:.0f} MiB; +{peak - before:.0f} MiB while indexing; {audio / seconds:.1f} s of audio per s)")


def previous_mel_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``beats._mel_db`` before docs/indexing-speed.md: the dense mel product (numpy hands it to OpenBLAS)."""
    import librosa
    import scipy.fft

    padded = np.pad(audio.astype(np.float32), beats.N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, beats.N_FFT)[:: beats.HOP]
    taper = librosa.filters.get_window("hann", beats.N_FFT, fftbins=True).astype(np.float32)
    basis = librosa.filters.mel(sr=sample_rate, n_fft=beats.N_FFT, n_mels=beats.MEL_BANDS, fmax=sample_rate / 2)
    power = np.empty((beats.MEL_BANDS, len(frames)), np.float32)
    for start in range(0, len(frames), beats.BLOCK_FRAMES):
        spectrum = scipy.fft.rfft(frames[start : start + beats.BLOCK_FRAMES] * taper, axis=1)
        power[:, start : start + beats.BLOCK_FRAMES] = basis @ (spectrum.real**2 + spectrum.imag**2).T
    return librosa.power_to_db(power)


def previous_mean_tempogram(envelope: np.ndarray, sample_rate: int) -> np.ndarray:
    """``beats._mean_tempogram`` before docs/indexing-speed.md: one inverse FFT and max per frame."""
    import librosa
    import scipy.fft

    window = int(librosa.time_to_frames(beats.TEMPO_WINDOW_SECONDS, sr=sample_rate, hop_length=beats.HOP))
    padded = np.pad(envelope.astype(np.float32), window // 2, mode="linear_ramp", end_values=(0, 0))
    rows = np.lib.stride_tricks.sliding_window_view(padded, window)[: envelope.size : beats.TEMPO_STRIDE]
    taper = librosa.filters.get_window("hann", window, fftbins=True).astype(np.float32)
    size = 2 * window
    total = np.zeros(window)
    for start in range(0, len(rows), beats.TEMPO_BLOCK_ROWS):
        spectrum = scipy.fft.rfft(rows[start : start + beats.TEMPO_BLOCK_ROWS] * taper, n=size, axis=1)
        ac = scipy.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=size, axis=1)[:, :window]
        peak = np.abs(ac).max(axis=1, keepdims=True)
        total += (ac / np.where(peak > np.finfo(np.float32).tiny, peak, 1.0)).sum(axis=0)
    return (total / len(rows))[:, None]


@contextlib.contextmanager
def previous_indexing():
    """Within: the beat tracker of before docs/indexing-speed.md."""
    saved = beats._mel_db, beats._mean_tempogram
    beats._mel_db, beats._mean_tempogram = previous_mel_db, previous_mean_tempogram
    try:
        yield
    finally:
        beats._mel_db, beats._mean_tempogram = saved


def previous(run: Callable[[Path], float]) -> Callable[[Path], float]:
    def run_previous(db: Path) -> float:
        with previous_indexing():
            return run(db)

    return run_previous


def make_tracks(folder: Path, count: int, seconds: float) -> list[Path]:
    """``count`` generated tracks cycling through the formats the indexer decodes (soundfile and PyAV paths)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(count):
        fmt = FORMATS[i % len(FORMATS)]
        signal = media_factory.music_signal(seconds, SOURCE_RATE, 2, seed=i)
        path = folder / f"track{i:02d}.{fmt}"
        if fmt in SOUNDFILE_FORMATS:
            files.append(write_in_blocks(path, signal))
        else:
            files.append(media_factory.write_audio(path, fmt, sample_rate=SOURCE_RATE, data=signal))
    return files


def throughput(folder: Path, files: list[Path], repeats: int, threads: int) -> None:
    """Time the variants of the module docstring on ``files``, interleaved per repeat; print medians."""
    import torch

    from emomv_desktop.engine.backbones import VGGishExtractor
    from emomv_desktop.engine.indexer import index_library
    from emomv_desktop.engine.library import Library

    torch.set_num_threads(threads)
    vggish = VGGishExtractor.build(None, "cpu")
    examples = [torch.cat([e for e, _ in vggish.stream_examples(f)]) for f in files]
    audio = sum(len(e) for e in examples) * 0.96
    mono = [media.load_audio(f) for f in files]

    def index(db: Path) -> float:
        with Library(db) as library:
            started = time.perf_counter()
            report = index_library(library, vggish, folders=[folder])
            assert report.indexed == len(files), report
            return time.perf_counter() - started

    def sequential(db: Path) -> float:
        with Library(db) as library:
            root = library.add_folder(folder)
            started = time.perf_counter()
            for f in files:
                decoded: list[np.ndarray] = []
                rows, samples = [], 0
                for batch, samples in vggish.stream_examples(f, on_audio=decoded.append):
                    rows.append(vggish.embed(batch).numpy())
                features = TrackFeatures(np.concatenate(rows), samples / AUDIO_SAMPLE_RATE, media.probe_audio(f),
                                         vggish.precision)
                whole = np.concatenate(decoded)
                st = f.stat()
                library.store_features(f, features, vggish.backbone_id, size=st.st_size, mtime_ns=st.st_mtime_ns,
                                       folder=root, beats=beats.track_beats(whole),
                                       loudness=loudness.integrated_loudness(whole))
            return time.perf_counter() - started

    def network(_: Path) -> float:
        started = time.perf_counter()
        for e in examples:
            vggish.embed(e)
        return time.perf_counter() - started

    def measured(meter) -> Callable[[Path], float]:
        def run(_: Path) -> float:
            started = time.perf_counter()
            for samples in mono:
                meter(samples)
            return time.perf_counter() - started

        return run

    reference = pyloudnorm.Meter(AUDIO_SAMPLE_RATE)
    first_beats = time.perf_counter()
    beats.track_beats(mono[0][: 10 * AUDIO_SAMPLE_RATE])
    print(f"first beat-tracking call in this process (numba compiles librosa's kernels): "
          f"{time.perf_counter() - first_beats:.1f} s, before the timed runs")
    variants = {"index (decode ahead)": index, "index (previous)": previous(index), "sequential": sequential,
                "network only": network,
                "loudness only": measured(loudness.integrated_loudness),
                "loudness (pyloudnorm)": measured(lambda x: reference.integrated_loudness(x.astype(np.float64))),
                "beats only": measured(beats.track_beats),
                "beats only (previous)": previous(measured(beats.track_beats))}
    for samples in mono:  # the previous tracker gives the same beats (docs/indexing-speed.md)
        now = beats.track_beats(samples)
        with previous_indexing():
            before = beats.track_beats(samples)
        assert now.tempo == before.tempo and np.array_equal(now.beats, before.beats), "beats changed"
    times: dict[str, list[float]] = {name: [] for name in variants}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            for i, (name, run) in enumerate(variants.items()):
                times[name].append(run(Path(tmp) / f"variant{i}-{r}.sqlite3"))
            loads.append(os.getloadavg()[0])
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"{len(files)} tracks, {audio / 60:.1f} min of audio, torch threads {threads}, {repeats} repeats (medians);"
          f" load average (1 min) during the run {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs")
    for name, seconds in medians.items():
        print(f"  {name:22} {seconds:7.2f} s  {60 * len(files) / seconds:6.1f} tracks/min  "
              f"{audio / seconds:6.1f} s of audio per s")
    net = medians["network only"]
    for name in ("index (decode ahead)", "index (previous)", "sequential"):
        print(f"  overhead of {name} beyond the network: {100 * (medians[name] - net) / net:.0f}%")
    print(f"  decode ahead vs sequential: {medians['sequential'] / medians['index (decode ahead)']:.2f}x; "
          f"vs previous: {medians['index (previous)'] / medians['index (decode ahead)']:.2f}x")
    ours, theirs = medians["loudness only"], medians["loudness (pyloudnorm)"]
    print(f"  loudness: {1000 * ours / len(files):.0f} ms per track, "
          f"{100 * ours / medians['index (decode ahead)']:.1f}% of index, "
          f"{100 * ours / net:.1f}% of the network; pyloudnorm's meter {theirs / ours:.1f}x slower")
    tracked, before = medians["beats only"], medians["beats only (previous)"]
    print(f"  beats: {1000 * tracked / len(files):.0f} ms per track, {100 * tracked / net:.1f}% of the network; "
          f"previous {1000 * before / len(files):.0f} ms, {100 * before / net:.1f}% ({before / tracked:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--long-minutes", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-peak", action="store_true", help="skip the peak-memory runs (throughput only)")
    parser.add_argument("--child-peak", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_peak:
        child_peak(args.child_peak)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = make_tracks(root / "music", args.tracks, args.seconds)
        if not args.no_peak:
            short = write_long_flac(root / "short" / "one.flac", 1)
            long = write_long_flac(root / "long" / "long.flac", args.long_minutes)
            peak_memory([short, long])
        throughput(root / "music", files, args.repeats, args.threads)


if __name__ == "__main__":
    main()
