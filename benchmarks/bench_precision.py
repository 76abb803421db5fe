"""Fidelity of the backbones' fast precision (bf16 on CPU) against fp32, and whether the retrieval can tell.

    PYTHONPATH=. python benchmarks/bench_precision.py [--seconds 20] [--trials 5] [--data DIR]

1. Per-frame (VGGish) and per-clip (SlowFast) cosine and relative error of ``Precision.FAST`` against
   ``Precision.EXACT``, same random-init weights (pretrained weights cannot be downloaded here), on varied
   inputs: music-like signals, white/pink noise, silence, near-silence, speech-like; a textured pan, noise,
   black, a moving gradient.
2. The released EmoMV retrieval sets (pretrained features) perturbed by the measured per-element error
   distribution (by the element's size within its row; and by the largest error of that size on every element),
   ranked by the shipped model: mAP both directions and the top-10 overlap.
See tests/fidelity.py for the method; docs/engine-features.md quotes the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np
import torch

from emomv_desktop.engine import backbones, paths
from emomv_desktop.engine.model import load_model
from tests import fidelity


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each audio signal")
    parser.add_argument("--trials", type=int, default=5, help="random perturbations per retrieval set")
    parser.add_argument("--data", default=None, help="EmoMV collection (default: the app's dataset folder)")
    parser.add_argument("--skip-video", action="store_true", help="VGGish only (SlowFast fp32 is slow on a CPU)")
    args = parser.parse_args(argv)
    from training.data import Modality, load_retrieval

    print(f"CPU native bf16: {backbones.cpu_has_native_bf16()}; fast precision on CPU computes in"
          f" {backbones.precision_label(backbones.compute_dtype('cpu'))}; torch threads {torch.get_num_threads()};"
          f" load average {os.getloadavg()[0]:.1f}")
    fast, exact = fidelity.vggish_pair()
    music = fidelity.vggish_fidelity(fast, exact, fidelity.audio_signals(args.seconds))
    print(f"\nVGGish, fast vs exact, per 0.96 s frame ({args.seconds:.0f} s per signal, random-init weights):")
    for name, fid in music.items():
        print(f"  {name:30s} {fid.summary()}")
    music_all = fidelity.Fidelity.concatenate(list(music.values()))
    print(f"  {'all':30s} {music_all.summary()}")
    video_all = None
    if not args.skip_video:
        fast_v, exact_v = fidelity.slowfast_pair()
        video = fidelity.slowfast_fidelity(fast_v, exact_v, fidelity.video_clips())
        print("\nSlowFast, fast vs exact, per clip (random-init weights):")
        for name, fid in video.items():
            print(f"  {name:30s} {fid.summary()}")
        video_all = fidelity.Fidelity.concatenate(list(video.values()))
        print(f"  {'all':30s} {video_all.summary()}")

    model, _ = load_model(paths.model_path())
    data = args.data or paths.dataset_dir()
    print(f"\nRetrieval with the shipped model on the released EmoMV features perturbed by the measured errors"
          f" ({args.trials} draws, and the worst case: the largest error of its size on every element), per side:")
    no_error = fidelity.Fidelity.of(torch.ones(1, 1), torch.ones(1, 1))
    sides = {"music only": (no_error, music_all), "video only": (video_all or no_error, no_error),
             "both": (video_all or no_error, music_all)}
    for key in ("B", "C"):
        items = load_retrieval(data, key, (Modality.VIDEO, Modality.MUSIC))
        for side, (video_errors, music_errors) in sides.items():
            for mode in ("drawn", "worst"):
                shifts = []
                for trial in range(args.trials if mode == "drawn" else 1):
                    rng = np.random.default_rng(trial)
                    v = fidelity.perturb(items.video, video_errors, rng, worst=mode == "worst")
                    m = fidelity.perturb(items.music, music_errors, rng, worst=mode == "worst")
                    shifts.append(fidelity.retrieval_shift(model, items.video, items.music, items.labels, v, m))
                overlaps = np.concatenate([s.top10_overlap for s in shifts])
                print(f"  EmoMV-{key} ({len(items.labels)} items) {side:10s} {mode:5s}: mAP v2m"
                      f" {shifts[0].map_v2m[0]:.2f} -> {statistics.median(s.map_v2m[1] for s in shifts):.2f},"
                      f" m2v {shifts[0].map_m2v[0]:.2f} -> {statistics.median(s.map_m2v[1] for s in shifts):.2f}"
                      f" (medians); max |change| {max(s.max_map_change for s in shifts):.2f} points; top-10 overlap"
                      f" mean {overlaps.mean():.3f} min {overlaps.min():.1f}")
    scaler = model.video_scaler.std
    print(f"\nThe shipped model standardises {(scaler < 1e-4).sum().item()} SlowFast dimensions whose spread over its"
          f" training data is below 1e-4 (smallest {scaler.min().item():.1e}); music: {(model.music_scaler.std < 1e-4).sum().item()}.")
    if video_all is not None:
        standardised_shifts(data, video_all)
    return 0


def standardised_shifts(data, errors: fidelity.Fidelity, floors=(0.0, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1)) -> None:
    """How far the measured bf16 errors move standardised SlowFast inputs, per floor of the spread (a fraction of
    the median spread, ``Standardizer.fit(floor=...)``): the scaler fitted on the shipped model's pair rows, the
    released B and C retrieval-set features perturbed (one draw, and the worst case)."""
    from emomv_desktop.engine.model import Standardizer
    from training.data import Modality, load_retrieval
    from training.recipe import build_pool

    train = torch.cat([p.video for p in build_pool(data).pairs])
    video = torch.cat([load_retrieval(data, key, (Modality.VIDEO,)).video for key in ("B", "C")]).double()
    moved = {mode: (fidelity.perturb(video.float(), errors, np.random.default_rng(0), worst=mode == "worst").double()
                    - video).abs() for mode in ("drawn", "worst")}
    plain = Standardizer(train.shape[1]).fit(train).std.double()
    healthy = plain >= plain.median()
    print(f"\nStandardised shift |delta x| / std of the released SlowFast features ({len(video)} rows) under the"
          f" measured errors, by the spread's floor (x median spread; dims lifted of {train.shape[1]}):")
    for floor in floors:
        std = Standardizer(train.shape[1]).fit(train, floor=floor).std.double()
        cells = []
        for mode, delta in moved.items():
            z = delta / std
            cells.append(f"{mode}: max {z.max():.3g}, p99.9 {z.quantile(0.999):.3g}, row RMS max"
                         f" {z.pow(2).mean(1).sqrt().max():.3g}")
        print(f"  floor {floor:<6g} ({int((std != plain).sum())} lifted)  " + "; ".join(cells))
    cells = [f"{mode}: max {(d[:, healthy] / plain[healthy]).max():.3g}" for mode, d in moved.items()]
    print("  for scale, the dimensions whose spread is at least the median: " + "; ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
