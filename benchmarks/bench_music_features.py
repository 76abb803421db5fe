"""Music feature extraction: our pipeline vs torchvggish's own reference path, side by side in one run.

    PYTHONPATH=. python benchmarks/bench_music_features.py              # throughput (default)
    PYTHONPATH=. python benchmarks/bench_music_features.py --only-fast --reps 5  # the overhead, in minutes
    PYTHONPATH=. python benchmarks/bench_music_features.py --resamplers # resampler choice: log-mel deviation
    PYTHONPATH=. python benchmarks/bench_music_features.py --network    # VGGish forward variants on CPU

Throughput: the same generated tracks (44.1 kHz stereo, several formats) through
* **reference**: decode whole, ``torchvggish.vggish_input.waveform_to_examples`` (resampy kaiser_best + numpy
  log-mel), then the network on the whole track as one batch with autograd on (torchvggish's way);
* **ours**: ``VGGishExtractor.track_features`` (what the indexer runs per file: streamed decode, swresample,
  torch log-mel, inference mode, channels_last, full batches of 64) at both precisions, ``fast`` (the default:
  bf16 on a CPU with native bf16) and ``exact`` (fp32), with the time spent inside the network measured in the
  same run, so the overhead figure (decode + resample + log-mel) does not depend on the load of other processes.
Runs are interleaved (reference, ours exact, ours fast per track, repeated); figures are medians. Random-init
weights (the same for all three): timing does not depend on their values. ``--only-fast`` leaves out the
reference and ``exact`` (a run of a few minutes instead of half an hour on a loaded machine).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from emomv_desktop.engine import media
from emomv_desktop.engine import backbones
from emomv_desktop.engine.backbones import VGGishExtractor, build_vggish_module
from tests import fidelity
from tests import media_factory as mf

SOURCE_RATE = 44_100
RATE = 16_000


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def make_tracks(folder: Path, seconds: float, formats: list[str]) -> list[Path]:
    """Tracks of ``seconds`` (a generated 30 s phrase, varied and repeated: cheap to make, real to decode)."""
    phrase = mf.music_signal(30.0, SOURCE_RATE, 2, seed=1)
    repeats = int(np.ceil(seconds / 30.0))
    gains = np.linspace(0.7, 1.0, repeats)
    signal = np.concatenate([phrase * g for g in gains])[: int(seconds * SOURCE_RATE)]
    return [mf.write_audio(folder / f"track.{fmt if fmt != 'alac' else 'm4a'}", fmt, data=signal) for fmt in formats]


# ---------------------------------------------------------------------------------------------------- throughput
class Stopwatch:
    """Accumulates the time spent in named stages within one run."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    def run(self, stage: str, fn: Callable[[], object]) -> object:
        start = time.perf_counter()
        result = fn()
        self.stages[stage] = self.stages.get(stage, 0.0) + time.perf_counter() - start
        return result


def reference_run(path: Path, model: torch.nn.Module, watch: Stopwatch) -> torch.Tensor:
    """torchvggish's way: whole file in memory, resampy kaiser_best, numpy log-mel, one autograd forward."""
    import resampy
    from torchvggish import vggish_input

    rate = media.probe_audio(path).sample_rate
    native = watch.run("decode", lambda: np.concatenate(list(media.iter_audio(path, sample_rate=None))))
    audio = watch.run("resample", lambda: resampy.resample(native.astype(np.float64), rate, RATE))
    examples = watch.run("log-mel", lambda: vggish_input.waveform_to_examples(audio, RATE))
    return watch.run("network", lambda: model(examples))


def ours_run(path: Path, extractor: VGGishExtractor, watch: Stopwatch):
    """``track_features`` as the library calls it; the network share is timed inside it."""
    real_embed = extractor.embed
    extractor.embed = lambda x, **kw: watch.run("network", lambda: real_embed(x, **kw))  # type: ignore[method-assign]
    try:
        result = watch.run("total", lambda: extractor.track_features(path))
    finally:
        del extractor.embed
    watch.stages["decode+resample+log-mel"] = watch.stages["total"] - watch.stages["network"]
    return result


def throughput(args: argparse.Namespace) -> None:
    fast, exact = fidelity.vggish_pair(seed=0)
    reference_model = build_vggish_module().eval()
    reference_model.load_state_dict(exact.model.state_dict())
    ours = {f"ours {fast.precision}": fast}
    if not args.only_fast:
        ours[f"ours {exact.precision}"] = exact
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        tracks = make_tracks(Path(tmp), args.seconds, args.formats)
        runs: dict[str, list[Stopwatch]] = {name: [] for name in ["reference"][: not args.only_fast] + list(ours)}
        for rep in range(args.reps):
            for path in tracks:
                if not args.only_fast:
                    ref_watch = Stopwatch()
                    ref_out = reference_run(path, reference_model, ref_watch)
                    runs["reference"].append(ref_watch)
                for name, extractor in ours.items():
                    watch = Stopwatch()
                    out = ours_run(path, extractor, watch)
                    runs[name].append(watch)
                    if rep == 0 and not args.only_fast:
                        n = min(len(ref_out), len(out.frame_features))
                        cos = torch.nn.functional.cosine_similarity(
                            ref_out[:n].detach(), torch.from_numpy(out.frame_features[:n]), dim=1
                        )
                        print(f"  {path.suffix:5s} {name} vs reference: min cosine {cos.min():.6f} (random weights)")
                loads.append(os.getloadavg()[0])
    print(f"\n{len(tracks)} tracks ({', '.join(args.formats)}) of {args.seconds:.0f} s, 44.1 kHz stereo;"
          f" {args.reps} interleaved reps; median seconds per track; torch threads {torch.get_num_threads()};"
          f" CPU native bf16: {backbones.cpu_has_native_bf16()}; load average (1 min) during the run"
          f" {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs")
    for name, watches in runs.items():
        stages = {k: statistics.median(w.stages[k] for w in watches) for k in watches[0].stages}
        print(f"  {name:11s} " + "  ".join(f"{k} {v:.2f}" for k, v in stages.items()))
    ref_totals = [sum(w.stages.values()) for w in runs.get("reference", [])]
    for name, watches in runs.items():
        t = statistics.median(ref_totals if name == "reference" else [w.stages["total"] for w in watches])
        print(f"  {name:11s} {60 / t:.1f} tracks/min, {args.seconds / t:.1f} audio-s per wall-s")
    for name in ours:
        totals = [w.stages["total"] for w in runs[name]]
        overheads = [w.stages["decode+resample+log-mel"] / w.stages["network"] for w in runs[name]]
        beyond = statistics.median(w.stages["decode+resample+log-mel"] for w in runs[name])
        versus = ""
        if ref_totals:
            ratios = [r / o for r, o in zip(ref_totals, totals)]
            network_ratio = [r.stages["network"] / o.stages["network"] for r, o in zip(runs["reference"], runs[name])]
            versus = (f"speed-up vs reference, median of per-track ratios {statistics.median(ratios):.2f}x"
                      f" (target >= 6x); network alone {statistics.median(network_ratio):.2f}x; ")
        print(f"  {name}: {versus}overhead beyond the network (same run) {statistics.median(overheads):.0%}"
              f" (target <= 15%), {beyond:.3f} s per track")


# ---------------------------------------------------------------------------------------------------- resamplers
def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))
    return np.fft.irfft(spectrum, n)


def _log_mel(audio: np.ndarray) -> np.ndarray:
    from torchvggish import mel_features

    return mel_features.log_mel_spectrogram(
        audio, audio_sample_rate=RATE, log_offset=0.01, window_length_secs=0.025, hop_length_secs=0.010,
        num_mel_bins=64, lower_edge_hertz=125, upper_edge_hertz=7500,
    )


def _swresample(audio: np.ndarray) -> np.ndarray:
    resampler = media.MonoResampler(SOURCE_RATE, RATE)
    blocks = [resampler.push(audio[i : i + 65_536]) for i in range(0, audio.size, 65_536)]
    return np.concatenate([*blocks, resampler.flush()])


def resamplers(args: argparse.Namespace) -> None:
    import resampy
    from scipy.signal import chirp, resample_poly

    seconds = 60.0
    t = np.arange(int(seconds * SOURCE_RATE)) / SOURCE_RATE
    signals = {
        "music": mf.music_signal(seconds, SOURCE_RATE, 1, seed=1)[:, 0],
        "pink noise": _pink(t.size, np.random.default_rng(1)),
        "chirp 20 Hz-22 kHz": chirp(t, 20, t[-1], 22_000),
    }
    candidates: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "resampy kaiser_best": lambda x: resampy.resample(x, SOURCE_RATE, RATE, filter="kaiser_best"),
        "resampy kaiser_fast": lambda x: resampy.resample(x, SOURCE_RATE, RATE, filter="kaiser_fast"),
        "scipy resample_poly": lambda x: resample_poly(x, 160, 441),
        "swresample (chosen)": lambda x: _swresample(x.astype(np.float32)),
    }
    print(f"|log-mel difference| from resampy kaiser_best (torchvggish's reference), {seconds:.0f} s at 44.1 kHz;"
          " time scaled to a 4-minute track (median of 3)")
    print(f"{'signal':20s} {'resampler':22s} {'s / 4 min':>9s} {'mean':>7s} {'p99':>7s} {'max':>6s} {'top band':>9s}")
    for name, signal in signals.items():
        signal = (signal / np.abs(signal).max() * 0.8).astype(np.float64)
        reference = _log_mel(resampy.resample(signal, SOURCE_RATE, RATE, filter="kaiser_best"))
        for label, fn in candidates.items():
            runs = [timed(lambda: fn(signal)) for _ in range(3)]
            out = runs[0][1]
            mel = _log_mel(np.asarray(out, dtype=np.float64)[: int(seconds * RATE)])
            n = min(len(mel), len(reference))
            diff = np.abs(mel[:n] - reference[:n])
            per_4min = statistics.median(r[0] for r in runs) * 240 / seconds
            print(f"{name:20s} {label:22s} {per_4min:9.3f} {diff.mean():7.4f} {np.quantile(diff, 0.99):7.4f}"
                  f" {diff.max():6.2f} {diff[:, -1].mean():9.4f}")


# ---------------------------------------------------------------------------------------------------- network
def _static_int8(model: torch.nn.Module, calibration: torch.Tensor) -> torch.nn.Module:
    """Post-training static int8 (x86 backend) of the conv stack and the FC layers, calibrated on music."""
    from torch.ao import quantization as tq

    class Quantised(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.quant, self.inner, self.dequant = tq.QuantStub(), inner, tq.DeQuantStub()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.inner.features(self.quant(x))
            x = x.permute(0, 2, 3, 1).reshape(x.size(0), -1)  # torchvggish's transpose before the FC layers
            return self.dequant(self.inner.embeddings(x))

    wrapped = Quantised(copy.deepcopy(model)).eval()
    wrapped.qconfig = tq.get_default_qconfig("x86")
    tq.prepare(wrapped, inplace=True)
    with torch.inference_mode():
        wrapped(calibration)
    return tq.convert(wrapped, inplace=False)


def network(args: argparse.Namespace) -> None:
    warnings.filterwarnings("ignore")
    fast, extractor = fidelity.vggish_pair(seed=0)
    model = build_vggish_module().eval()
    model.load_state_dict(extractor.model.state_dict())
    examples = extractor.log_mel(mf.music_signal(62.0, RATE, 1, seed=2)[:, 0])[:64].unsqueeze(1)
    calibration = extractor.log_mel(mf.music_signal(40.0, RATE, 1, seed=3)[:, 0]).unsqueeze(1)
    nhwc = copy.deepcopy(model).to(memory_format=torch.channels_last)
    with torch.no_grad():
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(copy.deepcopy(nhwc), examples[:8])))
    dynamic = torch.ao.quantization.quantize_dynamic(copy.deepcopy(nhwc), {torch.nn.Linear}, dtype=torch.qint8)
    static = _static_int8(model, calibration)

    def last(x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last)

    variants: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "autograd, NCHW (torchvggish)": lambda x: model(x),
        "no_grad, NCHW": lambda x: _no_grad(model, x),
        "inference_mode, NCHW": lambda x: _inference(model, x),
        "inference_mode, channels_last (ours)": lambda x: _inference(nhwc, last(x)),
        "jit freeze+optimize, channels_last": lambda x: _inference(frozen, last(x)),
        "int8 dynamic (Linear), channels_last": lambda x: _inference(dynamic, last(x)),
        "int8 static (conv+FC, x86)": lambda x: _inference(static, x),
        f"autocast {fast.precision} only, channels_last": lambda x: _autocast(nhwc, last(x), fast.compute_dtype),
        f"{fast.precision}, FC weights {fast.precision} (ours fast)": lambda x: fast.embed(x[:, 0]),
    }
    if args.compile:  # inductor: compiles C++ kernels on first call (minutes on a busy 2-core machine)
        compiled = torch.compile(copy.deepcopy(nhwc))
        compiled_fast = torch.compile(fast.model)
        variants["torch.compile, fp32 channels_last"] = lambda x: _inference(compiled, last(x))
        variants[f"torch.compile, {fast.precision} (ours fast)"] = lambda x: _autocast(
            compiled_fast, last(x), fast.compute_dtype)
        for fn in (variants["torch.compile, fp32 channels_last"], variants[f"torch.compile, {fast.precision} (ours fast)"]):
            fn(examples)  # compile outside the timing
    reference = _inference(model, examples)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.reps):
        for label, fn in variants.items():
            times[label].append(timed(lambda: fn(examples))[0])
    base = statistics.median(times["autograd, NCHW (torchvggish)"])
    print(f"VGGish forward of 64 examples (61 s of audio), CPU, {torch.get_num_threads()} threads,"
          f" {args.reps} interleaved reps, medians; deviation vs fp32 on held-out music (random weights);"
          f" load average {os.getloadavg()[0]:.1f}")
    print(f"{'variant':40s} {'s':>6s} {'ex/s':>6s} {'vs torchvggish':>14s} {'max rel err':>11s} {'min cos':>8s}")
    for label, fn in variants.items():
        t = statistics.median(times[label])
        out = fn(examples).detach()
        rel = ((out - reference).norm(dim=1) / reference.norm(dim=1)).max().item()
        cos = torch.nn.functional.cosine_similarity(out, reference, dim=1).min().item()
        print(f"{label:40s} {t:6.2f} {64 / t:6.1f} {base / t:13.2f}x {rel:11.2e} {cos:8.5f}")
    print("\nbatch size (ours):")
    sizes = (8, 16, 32, 64, 128)
    batch_times: dict[int, list[float]] = {b: [] for b in sizes}
    many = examples.repeat(2, 1, 1, 1)[:128]
    for _ in range(args.reps):
        for b in sizes:
            batch_times[b].append(timed(lambda: [_inference(nhwc, last(c)) for c in many.split(b)])[0])
    for b in sizes:
        print(f"  batch {b:4d}: {128 / statistics.median(batch_times[b]):6.1f} examples/s")
    print(f"batch size (ours fast, {fast.precision}):")
    fast_times: dict[int, list[float]] = {b: [] for b in sizes}
    for _ in range(args.reps):
        for b in sizes:
            fast_times[b].append(timed(lambda: [fast.embed(c[:, 0]) for c in many.split(b)])[0])
    for b in sizes:
        print(f"  batch {b:4d}: {128 / statistics.median(fast_times[b]):6.1f} examples/s")


def _inference(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(x)


def _autocast(model: torch.nn.Module, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype):
        return model(x).float()


def _no_grad(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resamplers", action="store_true", help="measure the resampler choice")
    parser.add_argument("--network", action="store_true", help="measure VGGish forward variants")
    parser.add_argument("--seconds", type=float, default=210.0, help="track length for the throughput run")
    parser.add_argument("--formats", type=lambda s: s.split(","), default=["mp3", "flac", "m4a"])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="with --network: also torch.compile (slow to build)")
    parser.add_argument("--only-fast", action="store_true", help="throughput: no reference, no exact")
    args = parser.parse_args(argv)
    if args.resamplers:
        resamplers(args)
    elif args.network:
        network(args)
    else:
        throughput(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
