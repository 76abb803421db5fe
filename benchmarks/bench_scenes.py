"""Shot detection and beat tracking cost, per minute of media.

    PYTHONPATH=. python benchmarks/bench_scenes.py [--seconds 60] [--size 1280x720] [--reps 3] [--clips]

Generates an H.264 cut (x264 defaults) of textured, panning shots with hard cuts every 3-6 s, then, interleaved
and repeated (medians), times:
* **ours, low-res**: :func:`engine.scenes.detect_shots` (the engine's PyAV decoder in a helper thread, frames
  scaled to 256 px wide by ``media.small_bgr`` in the detector's thread, PySceneDetect's ContentDetector);
* **ours, before**: the same with swscale's scaling in the decode thread (the detector's previous layout);
* **ours, decode only**: the same decode and scaling without the detector;
* **ours, full-res**: the same at the video's own size;
* **PySceneDetect's own pass**: ``scenedetect.detect(path, ContentDetector())`` (its OpenCV backend, full-size
  decode, then its auto-downscale to ~256 px);
* **the analysis decode** (``--clips``): reading and preprocessing the frames of the SlowFast clips planned inside
  the detected shots (what a shared decode could at most save), and the SlowFast forward of those clips
  (random-init weights; timing does not depend on their values).
* **the whole analysis** (``--analysis``): :func:`engine.scenes.analyse_scenes` end to end (shots, the clips inside
  them, the SlowFast forward, the merge into scenes), what the app runs on a dropped cut: today (fp32 fused,
  ``engine.fusion``; scaling in the detector's thread) vs the previous path (pytorchvideo's plain fp32 network,
  ``fuse=False``; swscale in the decode thread), and the plain network with today's detection; same weights,
  interleaved; with ``--analysis`` only this is timed.
Beats: :func:`engine.beats.track_beats` on a minute of generated 16 kHz music, the first call in a fresh process
(librosa compiles its numba kernels) and the median of later calls.
"""

from __future__ import annotations

import argparse
import contextlib
import fractions
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from emomv_desktop.engine import beats, media, scenes
from emomv_desktop.engine.prefetch import prefetched


def textured_cut(path: Path, seconds: float, width: int, height: int, fps: int = 30) -> tuple[Path, int]:
    """Shots of 3-6 s, each its own panning random texture and tint; returns the path and the number of cuts."""
    rng = np.random.default_rng(0)
    lengths, total = [], 0.0
    while total < seconds:
        lengths.append(min(float(rng.uniform(3, 6)), seconds - total))
        total += lengths[-1]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        index = 0
        for length in lengths:
            count = int(round(length * fps))
            # Big enough to pan across for the whole shot without wrapping (a wrap would be a real jump cut).
            coarse = rng.integers(0, 255, (height // 16 + count // 48 + 2, width // 16 + count // 8 + 2, 3), dtype=np.uint8)
            coarse = (coarse * rng.uniform(0.3, 1.0, 3)).astype(np.uint8)
            scene = np.kron(coarse, np.ones((16, 16, 1), np.uint8))
            for i in range(count):
                dx, dy = i * 2, i // 3
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(scene[dy : dy + height, dx : dx + width]), format="rgb24")
                frame.pts, frame.time_base = index, fractions.Fraction(1, fps)
                container.mux(stream.encode(frame))
                index += 1
        container.mux(stream.encode(None))
    return path, len(lengths) - 1


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def decode_only(path: Path) -> int:
    """The detector's decode and scaling without the detector (decode in a helper thread, scaling here)."""
    frames = prefetched(media.decode_video_frames(path), depth=4)
    return sum(1 for _, frame in frames if media.small_bgr(frame, scenes.DETECT_WIDTH) is not None)


def previous_low_res(path: Path) -> int:
    """``detect_shots`` with the detector's previous layout (:func:`previous_detection_layout`); cuts found."""
    with previous_detection_layout():
        return len(scenes.detect_shots(path)) - 1


def pyscenedetect_pass(path: Path) -> int:
    import scenedetect

    return len(scenedetect.detect(str(path), scenedetect.ContentDetector()))


def first_beats_call_seconds() -> float:
    """track_beats' first call in a fresh interpreter (librosa's numba compilation included)."""
    code = (
        "import time, numpy as np\n"
        "from emomv_desktop.engine import beats\n"
        "from tests.media_factory import music_signal\n"
        "y = music_signal(60, 16000, 1)[:, 0]\n"
        "t = time.perf_counter(); beats.track_beats(y); print(time.perf_counter() - t)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": "."})
    return float(out.stdout.strip().splitlines()[-1])


def threshold_data(data: str, model_path: str) -> None:
    """How the merge threshold separates neighbours from strangers: cosines of the model's video embeddings of
    adjacent 30 s segments of one EmoMV-C music video (``<video>_<n>`` and ``_<n+1>``) vs segments of different
    videos (50k random pairs)."""
    import torch

    from emomv_desktop.engine.model import load_model
    from training.data import Modality, load_pairs, split_pair_id

    model, _ = load_model(model_path)
    model.eval()
    pairs = load_pairs(data, "C", "train", (Modality.VIDEO,))
    first: dict[str, int] = {}
    for k, pair in enumerate(pairs.ids):
        first.setdefault(split_pair_id(pair)[0], k)
    segments = list(first)
    with torch.no_grad():
        emb = model.embed_video(pairs.video[[first[s] for s in segments]].float()).embedding.numpy()
    source = ["_".join(s.split("_")[:-1]) for s in segments]
    number = [int(s.rsplit("_", 1)[-1]) if s.rsplit("_", 1)[-1].isdigit() else -1 for s in segments]
    where = {(a, n): k for k, (a, n) in enumerate(zip(source, number))}
    adjacent = np.array([emb[k] @ emb[where[(a, n + 1)]] for k, (a, n) in enumerate(zip(source, number)) if (a, n + 1) in where])
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(segments), 50_000), rng.integers(0, len(segments), 50_000)
    keep = np.array([source[x] != source[y] for x, y in zip(a, b)])
    strangers = (emb[a[keep]] * emb[b[keep]]).sum(1)
    print(f"\nEmoMV-C train: {len(segments)} segments, {len(adjacent)} adjacent pairs; median cosine adjacent "
          f"{np.median(adjacent):.3f}, different videos {np.median(strangers):.3f}")
    for t in (0.7, 0.8, 0.85, 0.9, 0.95):
        print(f"  threshold {t:.2f}: adjacent merged {np.mean(adjacent >= t):.2f}, different videos merged {np.mean(strangers >= t):.3f}")


@contextlib.contextmanager
def previous_detection_layout():
    """``detect_shots`` as it was before scaling moved out of the decode thread: the helper thread decodes and
    scales with swscale (bgr24, AREA), the detector's thread only compares."""
    decode, small = media.decode_video_frames, media.small_bgr

    def decode_and_scale(path, cancel=None):
        for time, frame in decode(path, cancel):
            size = media._small_size(frame.width, frame.height, scenes.DETECT_WIDTH)
            yield time, frame.to_ndarray(format="bgr24", width=size[0], height=size[1], interpolation="AREA")

    media.decode_video_frames, media.small_bgr = decode_and_scale, lambda image, width: image
    try:
        yield
    finally:
        media.decode_video_frames, media.small_bgr = decode, small


def whole_analysis(path: Path, reps: int, per_minute: float) -> None:
    """``analyse_scenes`` today (fused fp32, scaling in the detector's thread) vs the previous path (plain fp32,
    swscale in the decode thread), and the plain network with today's detection; interleaved; medians."""
    import torch

    from emomv_desktop.engine.backbones import Precision, SlowFastExtractor, build_slowfast_module
    from emomv_desktop.engine.model import ModelConfig, RetrievalModel

    torch.manual_seed(0)
    state = build_slowfast_module(with_head=True).state_dict()
    model = RetrievalModel(ModelConfig(multitask=True)).eval()
    fused = SlowFastExtractor.build(state, "cpu", precision=Precision.EXACT)
    plain = SlowFastExtractor.build(state, "cpu", precision=Precision.EXACT, fuse=False)
    variants = {
        "today (fp32 fused, the default)": (fused, contextlib.nullcontext),
        "previous (fp32 plain, swscale in the helper thread)": (plain, previous_detection_layout),
        "fp32 plain, today's detection": (plain, contextlib.nullcontext),
    }
    runs: dict[str, list[float]] = {}
    loads = [os.getloadavg()[0]]
    for _ in range(reps):
        for name, (extractor, layout) in variants.items():
            with layout():
                seconds, found = timed(lambda: scenes.analyse_scenes(path, extractor, model))
            runs.setdefault(name, []).append(seconds)
            loads.append(os.getloadavg()[0])
    print(f"\nthe whole analysis (analyse_scenes), median of {reps}, load average {min(loads):.1f}-{max(loads):.1f}"
          f" on {os.cpu_count()} CPUs, {len(found)} scenes:")
    for name, times in runs.items():
        print(f"  {name:<52} {statistics.median(times) * per_minute:7.2f} s per minute of video"
              f"  (each rep: {', '.join(f'{t * per_minute:.1f}' for t in times)})")
    today, previous, _ = runs.values()
    print(f"  speed-up of today over the previous path, median of per-rep ratios:"
          f" {statistics.median(p / t for p, t in zip(previous, today)):.2f}x   (target >= 1.5x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--clips", action="store_true", help="also time the SlowFast clips planned inside the shots")
    parser.add_argument("--analysis", action="store_true",
                        help="time only the whole analysis, fused (the default) vs plain fp32, side by side")
    parser.add_argument("--threshold-data", metavar="EMOMV", help="also measure the merge threshold on EmoMV-C")
    parser.add_argument("--model", default="resources/emomv-retrieval.pt", help="retrieval model for --threshold-data")
    args = parser.parse_args(argv)
    if args.threshold_data:
        threshold_data(args.threshold_data, args.model)
    width, height = map(int, args.size.split("x"))
    print(f"load average before: {os.getloadavg()}")
    per_minute = 60.0 / args.seconds
    with tempfile.TemporaryDirectory() as folder:
        path, true_cuts = textured_cut(Path(folder) / "cut.mp4", args.seconds, width, height)
        if args.analysis:
            whole_analysis(path, args.reps, per_minute)
            return 0
        runs: dict[str, list[float]] = {}
        found = {}
        variants = {
            "ours, low-res (256 px)": lambda: len(scenes.detect_shots(path)) - 1,
            "ours, before (swscale in the helper thread)": lambda: previous_low_res(path),
            "ours, decode+scale only": lambda: decode_only(path),
            "ours, full-res": lambda: len(scenes.detect_shots(path, width=10**6)) - 1,
            "PySceneDetect detect() (OpenCV, auto-downscale)": lambda: pyscenedetect_pass(path) - 1,
        }
        for _ in range(args.reps):
            for name, fn in variants.items():  # interleaved: each repetition sees the same load
                seconds, value = timed(fn)
                runs.setdefault(name, []).append(seconds)
                found[name] = value
        print(f"\n{args.seconds:.0f} s of {width}x{height} H.264 at 30 fps, {true_cuts} cuts; median of {args.reps}:")
        reference = statistics.median(runs["ours, low-res (256 px)"])
        for name, times in runs.items():
            median = statistics.median(times)
            what = "frames" if "decode" in name else "cuts"
            print(f"  {name:<50} {median * per_minute:6.2f} s per minute  ({median / reference:4.2f}x)  {found[name]} {what}")
        if args.clips:
            import torch

            from emomv_desktop.engine.backbones import SIDE, SlowFastExtractor, preprocess_clip

            shots = scenes.detect_shots(path)
            plans = [(s, shot) for shot in shots for s in scenes.plan_segment_clips(shot.start, shot.end)]

            def read_clips() -> int:
                with media.VideoReader(path) as reader:
                    for s, shot in plans:
                        preprocess_clip(reader.frames_at(scenes.segment_clip_frame_times(s, shot.start, shot.end), short_side=SIDE))
                return len(plans)

            decode = statistics.median(timed(read_clips)[0] for _ in range(args.reps))
            extractor = SlowFastExtractor.build(None, "cpu")
            batch = torch.zeros(1, 3, 32, 256, 256)
            extractor.clip_features(batch)  # warm-up
            forward = statistics.median(timed(lambda: extractor.clip_features(batch))[0] for _ in range(3))
            print(f"  SlowFast clips inside the shots: {len(plans)}; their decode+preprocess {decode * per_minute:.2f} s per "
                  f"minute ({decode / reference:.2f}x the low-res pass); forward {forward:.2f} s per clip "
                  f"= {forward * len(plans) * per_minute:.1f} s per minute")
    audio = np.ascontiguousarray(__import__("tests.media_factory", fromlist=["music_signal"]).music_signal(60, 16000, 1)[:, 0])
    beats.track_beats(audio)  # compiled in this process
    steady = statistics.median(timed(lambda: beats.track_beats(audio))[0] for _ in range(5))
    print(f"\nbeats: {steady:.2f} s per minute of 16 kHz audio (median of 5); first call in a fresh process "
          f"{first_beats_call_seconds():.1f} s (numba compilation)")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
