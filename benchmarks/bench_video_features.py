"""Video analysis time vs the SlowFast forward alone on the same clips (target: decode + preprocessing <= 50%).

    PYTHONPATH=. python benchmarks/bench_video_features.py [--seconds 60] [--size 1280x720] [--reps 2]

Generates an H.264 video (x264 default preset and GOP, textured panning content so the decoder has real
work), then, interleaved and repeated:
* **analysis**: ``SlowFastExtractor.video_features`` (probe, plan, seek/decode, scale+RGB, crop/normalise,
  network) with the default clips per window;
* **forward only**: ``clip_features`` on the very same preprocessed clips, prepared beforehand.
Also reports decode+preprocessing alone with keyframe seeking vs a plain sequential decode, and how many
frames each decoded. Random-init weights (timing does not depend on their values). Medians.
"""

from __future__ import annotations

import argparse
import fractions
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    extractor = backbones.SlowFastExtractor.build(None, "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        path = textured_video(Path(tmp) / "cut.mp4", args.seconds, width, height)
        info = media.probe_video(path)
        starts = clip_plan(extractor, info)
        clips, _ = decode_clips(path, starts, seek_gap=1.0)
        rows: dict[str, list[float]] = {"analysis": [], "forward": [], "decode+prep (seek)": [], "decode+prep (sequential)": []}
        frames: dict[str, int] = {}
        for _ in range(args.reps):
            rows["analysis"].append(timed(lambda: extractor.video_features(path))[0])
            rows["forward"].append(timed(lambda: [extractor.clip_features(c) for c in clips])[0])
            t, (_, frames["seek"]) = timed(lambda: decode_clips(path, starts, seek_gap=1.0))
            rows["decode+prep (seek)"].append(t)
            t, (_, frames["sequential"]) = timed(lambda: decode_clips(path, starts, seek_gap=float("inf")))
            rows["decode+prep (sequential)"].append(t)
    total = int(round(info.duration * info.fps))
    print(f"{args.seconds:.0f} s {width}x{height} H.264 ({total} frames), {len(starts)} clips"
          f" ({extractor.clips_per_window} per {backbones.DEFAULT_WINDOW_SECONDS:.0f} s window), CPU,"
          f" {torch.get_num_threads()} threads, {args.reps} interleaved reps, medians")
    for label, values in rows.items():
        print(f"  {label:26s} {statistics.median(values):7.2f} s")
    overheads = [(a - f) / f for a, f in zip(rows["analysis"], rows["forward"])]
    per_clip = statistics.median(rows["forward"]) / len(starts)
    print(f"  forward per clip           {per_clip:7.2f} s")
    print(f"  overhead of analysis beyond the forward: {statistics.median(overheads):.0%}   (target <= 50%)")
    print(f"  frames decoded: {frames['seek']} with keyframe seeking, {frames['sequential']} sequential, of {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
