"""Video analysis: today's default (fp32, fused) vs the previous default (fp32, pytorchvideo's plain network) and
bf16, side by side, and the overhead beyond the forward.

    PYTHONPATH=. python benchmarks/bench_video_features.py [--seconds 60] [--size 1280x720] [--reps 2]

Generates an H.264 video (x264 default preset and GOP, textured panning content so the decoder has real
work), then, interleaved and repeated:
* **analysis**: ``SlowFastExtractor.video_features`` (probe, plan, seek/decode, scale+RGB, crop/normalise,
  network) with the default clips per window, same weights, interleaved, three ways: ``Precision.EXACT`` as
  built by default (fp32, BatchNorm folded and ReLU/residual adds fused into oneDNN convolutions:
  ``engine.fusion``), ``Precision.EXACT`` with ``fuse=False`` (pytorchvideo's plain fp32 network: the default
  path before fusion, "today's path" of issue 12), and ``Precision.FAST`` (bf16 on a CPU with native bf16; not
  the default, see docs/engine-features.md); the header says which precision ``SlowFastExtractor.build`` uses
  by default;
* **network inside it**: the time spent in ``clip_features`` (the SlowFast forward) during that same call,
  so the overhead (decode, seeking, scaling, crop/normalise) is measured in the same run, under the same load.
Also reports decode+preprocessing alone with keyframe seeking vs a plain sequential decode, and how many
frames each decoded. Random-init weights (timing does not depend on their values). Medians.
"""

from __future__ import annotations

import argparse
import fractions
import inspect
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from emomv_desktop.engine import backbones, media


def textured_video(path: Path, seconds: float, width: int, height: int, fps: int = 30) -> Path:
    """A panning textured scene with moving shapes: compressible like footage, not like flat test cards."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 255, (height // 16 + 4, width // 16 + 8, 3), dtype=np.uint8)
    scene = np.kron(coarse, np.ones((16, 16, 1), np.uint8))
    scene = (scene.astype(np.int16) + rng.integers(-12, 12, scene.shape)).clip(0, 255).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(int(seconds * fps)):
            dx, dy = (i * 2) % 64, (i // 3) % 32
            img = np.ascontiguousarray(scene[dy : dy + height, dx : dx + width])
            x = int((np.sin(i / 20) * 0.4 + 0.5) * (width - 80))
            img[height // 3 : height // 3 + 80, x : x + 80] = (230, 60, 40)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, fractions.Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def clip_plan(extractor: backbones.SlowFastExtractor, info: media.VideoInfo) -> list[float]:
    starts, ends = backbones.plan_windows(info.duration, backbones.DEFAULT_WINDOW_SECONDS)
    return [s for w in range(len(starts)) for s in backbones.plan_clips(starts[w], ends[w], extractor.clips_per_window, info.duration)]


def decode_clips(path: Path, clip_starts: list[float], seek_gap: float) -> tuple[list[torch.Tensor], int]:
    with media.VideoReader(path, seek_gap=seek_gap) as reader:
        clips = [
            backbones.preprocess_clip(reader.frames_at(backbones.clip_times(s), short_side=backbones.SIDE)).unsqueeze(0)
            for s in clip_starts
        ]
        return clips, reader.decoded_frames


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def analysis_run(extractor: backbones.SlowFastExtractor, path: Path) -> tuple[float, float]:
    """(total, network) seconds of one ``video_features`` call; the network share is timed inside it."""
    network = 0.0
    real = extractor.clip_features

    def timed_forward(batch: torch.Tensor) -> torch.Tensor:
        nonlocal network
        elapsed, out = timed(lambda: real(batch))
        network += elapsed
        return out

    extractor.clip_features = timed_forward  # type: ignore[method-assign]
    try:
        total, _ = timed(lambda: extractor.video_features(path))
    finally:
        del extractor.clip_features
    return total, network


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    state = backbones.build_slowfast_module(with_head=True).state_dict()
    fused = backbones.SlowFastExtractor.build(state, "cpu", precision=backbones.Precision.EXACT)
    plain = backbones.SlowFastExtractor.build(state, "cpu", precision=backbones.Precision.EXACT, fuse=False)
    fast = backbones.SlowFastExtractor.build(state, "cpu", precision=backbones.Precision.FAST)
    default = inspect.signature(backbones.SlowFastExtractor.build).parameters["precision"].default
    names = {fused: f"fp32 fused{'' if fused.fused else ' (NOT fused: no oneDNN ops)'}", plain: "fp32 plain",
             fast: fast.precision}
    extractors = {f"analysis {names[e]}": e for e in (fused, plain, fast)}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        path = textured_video(Path(tmp) / "cut.mp4", args.seconds, width, height)
        info = media.probe_video(path)
        starts = clip_plan(plain, info)
        rows: dict[str, list[float]] = {}
        frames: dict[str, int] = {}
        for _ in range(args.reps):
            for name, extractor in extractors.items():
                total, network = analysis_run(extractor, path)
                rows.setdefault(name, []).append(total)
                rows.setdefault(f"  network inside it ({names[extractor]})", []).append(network)
            t, (_, frames["seek"]) = timed(lambda: decode_clips(path, starts, seek_gap=1.0))
            rows.setdefault("decode+prep (seek)", []).append(t)
            t, (_, frames["sequential"]) = timed(lambda: decode_clips(path, starts, seek_gap=float("inf")))
            rows.setdefault("decode+prep (sequential)", []).append(t)
            loads.append(os.getloadavg()[0])
    total_frames = int(round(info.duration * info.fps))
    print(f"{args.seconds:.0f} s {width}x{height} H.264 ({total_frames} frames), {len(starts)} clips"
          f" ({plain.clips_per_window} per {backbones.DEFAULT_WINDOW_SECONDS:.0f} s window), CPU,"
          f" {torch.get_num_threads()} threads, {args.reps} reps, medians; load average (1 min) during the run"
          f" {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs; default precision:"
          f" {backbones.Precision(default).value}")
    for label, values in rows.items():
        print(f"  {label:34s} {statistics.median(values):7.2f} s")
    fused_name, plain_name, fast_name = extractors
    for name in (fused_name, fast_name):
        ratios = [p / x for p, x in zip(rows[plain_name], rows[name])]
        print(f"  speed-up of {name.removeprefix('analysis ')} over fp32 plain (the previous default),"
              f" median of per-rep ratios: {statistics.median(ratios):.2f}x   (target >= 1.5x)")
    for name, extractor in extractors.items():
        network = rows[f"  network inside it ({names[extractor]})"]
        overheads = [(a - n) / n for a, n in zip(rows[name], network)]
        print(f"  {names[extractor]}: SlowFast forward per clip {statistics.median(network) / len(starts):.2f} s;"
              f" overhead beyond the forward (same run) {statistics.median(overheads):.0%}")
    print(f"  frames decoded: {frames['seek']} with keyframe seeking, {frames['sequential']} sequential, of {total_frames}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
