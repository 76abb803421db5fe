"""Music feature extraction: our pipeline vs torchvggish's own reference path, side by side in one run.

    PYTHONPATH=. python benchmarks/bench_music_features.py              # throughput (default)
    PYTHONPATH=. python benchmarks/bench_music_features.py --resamplers # resampler choice: log-mel deviation
    PYTHONPATH=. python benchmarks/bench_music_features.py --network    # VGGish forward variants on CPU

Throughput: the same generated tracks (44.1 kHz stereo, several formats) through
* **reference**: decode whole, ``torchvggish.vggish_input.waveform_to_examples`` (resampy kaiser_best + numpy
  log-mel), then the network on the whole track as one batch with autograd on (torchvggish's way);
* **ours**: ``VGGishExtractor.track_features`` (streamed decode, swresample, torch log-mel, inference mode,
  channels_last, batches of 64);
* **network only**: our ``embed`` of the same track's examples, to split our time into network + overhead.
Runs are interleaved (reference, ours, network per track, repeated) so load from other processes hits all three
alike; figures are medians. Random-init weights: timing does not depend on their values.
"""

from __future__ import annotations

import argparse
import copy
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
from emomv_desktop.engine.backbones import VGGishExtractor, build_vggish_module
from tests import media_factory as mf

SOURCE_RATE = 44_100
RATE = 16_000


def median_time(fn: Callable[[], object]) -> tuple[float, object]:
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
def reference_features(path: Path, model: torch.nn.Module) -> torch.Tensor:
    """torchvggish's way: whole file in memory, resampy + numpy frontend, one autograd forward."""
    from torchvggish import vggish_input

    native = np.concatenate(list(media.iter_audio(path, sample_rate=None)))  # same decoders, native rate, mono
    examples = vggish_input.waveform_to_examples(native.astype(np.float64), media.probe_audio(path).sample_rate)
    return model(examples)


def throughput(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    ours = VGGishExtractor.build(None, "cpu")
    reference_model = build_vggish_module().eval()
    reference_model.load_state_dict(ours.model.state_dict())
    with tempfile.TemporaryDirectory() as tmp:
        tracks = make_tracks(Path(tmp), args.seconds, args.formats)
        examples = {p: ours.log_mel(media.load_audio(p)) for p in tracks}
        times: dict[str, dict[Path, list[float]]] = {k: {p: [] for p in tracks} for k in ("ref", "ours", "net")}
        for rep in range(args.reps):
            for path in tracks:
                t_ref, ref_out = median_time(lambda: reference_features(path, reference_model))
                t_ours, our_out = median_time(lambda: ours.track_features(path))
                t_net, _ = median_time(lambda: ours.embed(examples[path]))
                times["ref"][path].append(t_ref)
                times["ours"][path].append(t_ours)
                times["net"][path].append(t_net)
                if rep == 0:
                    n = min(len(ref_out), len(our_out.frame_features))
                    cos = torch.nn.functional.cosine_similarity(
                        ref_out[:n].detach(), torch.from_numpy(our_out.frame_features[:n]), dim=1
                    )
                    print(f"  {path.suffix:5s} features ours vs reference: min cosine {cos.min():.5f} (random weights)")
        print(f"\n{len(tracks)} tracks of {args.seconds:.0f} s (44.1 kHz stereo), {args.reps} interleaved reps, medians;"
              f" torch threads {torch.get_num_threads()}")
        header = f"{'file':6s} {'reference s':>12s} {'ours s':>8s} {'network s':>10s} {'speed-up':>9s} {'overhead':>9s}"
        print(header)
        all_ref, all_ours, all_net, ratios, overheads = [], [], [], [], []
        for path in tracks:
            ref, our, net = (statistics.median(times[k][path]) for k in ("ref", "ours", "net"))
            ratio = statistics.median(r / o for r, o in zip(times["ref"][path], times["ours"][path]))
            over = statistics.median((o - n) / n for o, n in zip(times["ours"][path], times["net"][path]))
            all_ref.append(ref), all_ours.append(our), all_net.append(net), ratios.append(ratio), overheads.append(over)
            print(f"{path.name:6s} {ref:12.2f} {our:8.2f} {net:10.2f} {ratio:8.2f}x {over:8.0%}")
        total_ref, total_ours = sum(all_ref), sum(all_ours)
        audio = args.seconds * len(tracks)
        print(f"reference: {60 * len(tracks) / total_ref:.1f} tracks/min, {audio / total_ref:.1f} audio-s per wall-s")
        print(f"ours:      {60 * len(tracks) / total_ours:.1f} tracks/min, {audio / total_ours:.1f} audio-s per wall-s")
        print(f"speed-up (median of per-run ratios): {statistics.median(ratios):.2f}x   (target >= 5x)")
        print(f"our overhead beyond the network: {statistics.median(overheads):.0%}   (target <= 30%)")


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
            runs = [median_time(lambda: fn(signal)) for _ in range(3)]
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
    torch.manual_seed(0)
    extractor = VGGishExtractor.build(None, "cpu")
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
    }
    reference = _inference(model, examples)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.reps):
        for label, fn in variants.items():
            times[label].append(median_time(lambda: fn(examples))[0])
    base = statistics.median(times["autograd, NCHW (torchvggish)"])
    print(f"VGGish forward of 64 examples (61 s of audio), CPU, {torch.get_num_threads()} threads,"
          f" {args.reps} interleaved reps, medians; deviation vs fp32 on held-out music (random weights)")
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
            batch_times[b].append(median_time(lambda: [_inference(nhwc, last(c)) for c in many.split(b)])[0])
    for b in sizes:
        print(f"  batch {b:4d}: {128 / statistics.median(batch_times[b]):6.1f} examples/s")


def _inference(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(x)


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
