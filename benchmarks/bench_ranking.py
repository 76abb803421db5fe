"""Ranking latency, embedding-cache build time, index size and memory for a large synthetic library.

Synthetic tracks (random VGGish-like frame features, durations drawn like a real music library) go through
the real storage code (``Library.store_features``: window pooling, one transaction per track); the real
``Ranker`` then builds its embedding cache with the shipped retrieval model (or a random-init one) and ranks
random queries.

    python benchmarks/bench_ranking.py                      # 50k tracks, the shipped model (blended, 72-wide)
    python benchmarks/bench_ranking.py --random-model       # a random-init cosine model (64-d score vectors)
    python benchmarks/bench_ranking.py --tracks 5000 --dtype float32 --compare-layout
    python benchmarks/bench_ranking.py --keep /tmp/bench50k --threads 1   # reuse a built library
    python benchmarks/bench_ranking.py --random-model --agreement-weight 2   # random blended model
    python benchmarks/bench_ranking.py --keep /tmp/bench50k --cue-seconds 12,45,90,240   # sections of cue lengths

Every synthetic track also gets a beat grid (a random tempo of 70-170 BPM, downbeats every 4th beat), stored
like the indexer stores it, so the index size includes the beats.

Prints medians; the database is built in a child process so its memory does not count for ranking. The first
query after a restart is timed in fresh child processes (``--restarts`` of them): each opens the library and
ranks once, so its cache comes from the file saved beside the database (memory-mapped), compared with the
warm queries of this process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from emomv_desktop.engine import paths
from emomv_desktop.engine.beats import Beats
from emomv_desktop.engine.features import AudioInfo, TrackFeatures
from emomv_desktop.engine.library import GEOMETRY, Library
from emomv_desktop.engine.protocol import MUSIC_BACKBONE, MUSIC_FEATURE_DIM, VGGISH_FRAME_SECONDS

MEDIAN_SECONDS = 225.0  # typical popular-music track length
SHORT_FRACTION = 0.03  # jingles and stingers shorter than one window


def durations(count: int, rng: np.random.Generator) -> np.ndarray:
    """Log-normal around ~3:45 (most tracks 2-8 min, a long tail to ~20 min) plus a few stingers under 30 s."""
    d = rng.lognormal(np.log(MEDIAN_SECONDS), 0.35, count)
    short = rng.random(count) < SHORT_FRACTION
    d[short] = rng.uniform(3.0, 29.0, short.sum())
    return np.clip(d, 1.0, 1200.0)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build_library(db: Path, tracks: int, dtype: str, seed: int) -> None:
    """Child process: store ``tracks`` synthetic tracks, one transaction each, like the indexer."""
    rng = np.random.default_rng(seed)
    folder = db.parent / "music"
    started = time.perf_counter()
    with Library(db, feature_dtype=dtype) as library:
        library.add_folder(folder)
        for i, seconds in enumerate(durations(tracks, rng)):
            frames = max(1, int(seconds / VGGISH_FRAME_SECONDS))
            feats = rng.gamma(0.6, 0.2, size=(frames, MUSIC_FEATURE_DIM)).astype(np.float32)  # ReLU-like, >= 0
            path = folder / f"artist{i % 997}" / f"track{i:06d}.mp3"
            info = AudioInfo(path, float(seconds), 44100, 2, "mp3", f"Title {i}", f"Artist {i % 997}", f"Album {i % 4999}")
            tempo = rng.uniform(70, 170)
            grid = np.arange(rng.uniform(0, 60 / tempo), seconds, 60 / tempo)
            library.store_features(path, TrackFeatures(feats, float(seconds), info), MUSIC_BACKBONE,
                                   size=frames * 4000, mtime_ns=i, folder=folder, beats=Beats(tempo, grid, grid[::4]))
    print(f"stored {tracks} tracks in {time.perf_counter() - started:.1f} s "
          f"({tracks / (time.perf_counter() - started):.0f} tracks/s, peak RSS {peak_rss_mb():.0f} MB)")


def per_window_layout_load(db: Path, tracks: int) -> tuple[float, float]:
    """Load time of the windows (s): our one-row-per-track blobs vs a one-row-per-window table of the same data."""
    alt = db.with_name("per-window.sqlite3")
    with sqlite3.connect(db) as src, sqlite3.connect(alt) as dst:
        dst.execute("PRAGMA journal_mode=WAL")
        dst.execute("CREATE TABLE windows (id INTEGER PRIMARY KEY, track_id INTEGER, start REAL, end REAL, features BLOB)")
        dst.execute("CREATE INDEX windows_track ON windows(track_id)")
        rows = src.execute("SELECT track_id, count, starts, ends, features FROM windows")
        for track_id, count, starts, ends, features in rows:
            s = np.frombuffer(starts, np.float32)
            e = np.frombuffer(ends, np.float32)
            size = len(features) // count
            dst.executemany("INSERT INTO windows (track_id, start, end, features) VALUES (?, ?, ?, ?)",
                            [(track_id, float(s[k]), float(e[k]), features[k * size:(k + 1) * size]) for k in range(count)])
    with sqlite3.connect(db) as con:
        t = time.perf_counter()
        blobs = con.execute("SELECT count, starts, ends, features FROM windows ORDER BY track_id").fetchall()
        np.frombuffer(b"".join(r[3] for r in blobs), np.uint8)
        ours = time.perf_counter() - t
    with sqlite3.connect(alt) as con:
        t = time.perf_counter()
        rows = con.execute("SELECT track_id, start, end, features FROM windows ORDER BY track_id, start").fetchall()
        np.frombuffer(b"".join(r[3] for r in rows), np.uint8)
        theirs = time.perf_counter() - t
    print(f"layout: per-window table {alt.stat().st_size / 2**20:.0f} MiB vs ours {db.stat().st_size / 2**20:.0f} MiB")
    return ours, theirs


def bench(args: argparse.Namespace) -> None:
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench-ranking-"))
    db = tmp / "library.sqlite3"
    if not db.exists():
        tmp.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, __file__, "--child-build", str(db), "--tracks", str(args.tracks), "--dtype", args.dtype]
        subprocess.run(cmd, check=True)  # before torch is imported here: Linux carries the peak RSS across exec
    db_mb = sum(p.stat().st_size for p in tmp.glob("library.sqlite3*")) / 2**20

    from emomv_desktop.engine.emotions import Emotion
    from emomv_desktop.engine.ranking import EmbeddingCache, RankFilter, Ranker, cache_file, embed_query

    model = load_ranking_model(args)
    print(f"model: {'random-init' if args.random_model else args.model or paths.model_path().name}, "
          f"agreement weight {model.config.agreement_weight:g}")
    baseline = rss_mb()
    with Library(db) as library:
        stats = library.stats()
        ranker = Ranker(library, model, "bench-model", backbone_id=MUSIC_BACKBONE)
        builds = []
        for _ in range(args.builds):  # the build itself (what a first query cost before the cache was saved)
            t = time.perf_counter()
            cache = EmbeddingCache.build(library, model, MUSIC_BACKBONE)
            builds.append(time.perf_counter() - t)
            build_peak, after_cache, cache_mb = peak_rss_mb(), rss_mb(), cache.nbytes / 2**20
            del cache
        file = cache_file(library.path, "bench-model", MUSIC_BACKBONE)
        file.unlink(missing_ok=True)
        t = time.perf_counter()
        ranker.prepare()  # builds and saves beside the database
        build_and_save = time.perf_counter() - t
        rng = np.random.default_rng(1)
        queries = [embed_query(model, rng.gamma(0.5, 0.3, 2304).astype(np.float32)) for _ in range(args.queries)]
        timings = {}
        cases = {
            "top 10, no filter": RankFilter(),
            "top 10, min duration 180 s": RankFilter(min_duration=180.0),
            "top 10, emotion sad|relaxing": RankFilter(emotions=frozenset({Emotion.SAD, Emotion.RELAXING})),
            "top 10, text 'artist 42'": RankFilter(text="artist 42"),
        }
        cache = ranker.prepare()  # score vectors (W, 64), or (W, 69) zero-padded to 72 for a blended model
        floor = []
        for name, filters in cases.items():
            ranker.rank(queries[0], top=10, filters=filters)  # warm
            runs = []
            for q in queries:
                t = time.perf_counter()
                ranker.rank(q, top=10, filters=filters)
                runs.append(time.perf_counter() - t)
                t = time.perf_counter()
                cache.scores(q.score_vector)  # the memory-bound floor, interleaved so load hits both alike
                floor.append(time.perf_counter() - t)
            timings[name] = runs
        dim = cache.vectors.shape[1]
        del cache
        cue_timings = bench_cue_lengths(ranker, queries, args.cue_seconds) if args.cue_seconds else {}
        t = time.perf_counter()
        everything = ranker.rank(queries[0], top=None)
        full = time.perf_counter() - t
    firsts = []
    for _ in range(args.restarts):  # a fresh process each: what the app does on its first query after a start
        cmd = [sys.executable, __file__, "--child-first-query", str(db), "--threads", str(args.threads)]
        cmd += ["--random-model", "--agreement-weight", str(args.agreement_weight)] if args.random_model else []
        cmd += ["--model", str(args.model)] if args.model else []
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        firsts.append(json.loads(out.strip().splitlines()[-1]))
    print(f"library: {stats.indexed} tracks, {stats.windows} windows ({GEOMETRY.key}, {args.dtype}), "
          f"{stats.windows / stats.indexed:.1f} windows/track")
    print(f"index size on disk: {db_mb:.0f} MiB ({db_mb * 2**20 / stats.indexed / 1024:.1f} KiB/track)")
    print(f"embedding cache build: median {statistics.median(builds):.2f} s over {len(builds)} "
          f"(cache {cache_mb:.0f} MiB; process RSS {baseline:.0f} MiB after importing torch -> "
          f"{after_cache:.0f} MiB with the cache, peak during the build {build_peak:.0f} MiB); "
          f"build + save beside the database {build_and_save:.2f} s ({file.stat().st_size / 2**20:.0f} MiB file)")
    for name, runs in timings.items():
        ms = np.array(runs) * 1000
        print(f"rank {name}: median {np.median(ms):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms ({len(ms)} queries)")
    print(f"the score matrix-vector product S @ q alone ({stats.windows} x {dim}): "
          f"median {np.median(floor) * 1000:.1f} ms")
    print(f"rank all {len(everything)} tracks (no top): {full * 1000:.1f} ms")
    warm = np.median(timings["top 10, no filter"]) * 1000
    first = statistics.median(f["first_ms"] for f in firsts)
    each = ", ".join(f"{f['first_ms']:.0f}" for f in firsts)
    print(f"first query after a restart (fresh process, cache file mapped; page cache warm), top 10, no filter:"
          f" median {first:.1f} ms over {len(firsts)} restarts (each: {each}"
          f" ms; of which loading the cache {statistics.median(f['load_ms'] for f in firsts):.1f} ms); warm {warm:.1f} ms;"
          f" ratio {first / warm:.2f}x (target <= 2x); before the file: build {statistics.median(builds):.2f} s +"
          f" a warm query")
    for seconds, (first, runs) in cue_timings.items():
        ms = np.array(runs) * 1000
        print(f"rank top 10, section {seconds:g} s: first query of the length {first * 1000:.0f} ms; then median "
              f"{np.median(ms):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms ({len(ms)} queries)")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.compare_layout:
        ours, theirs = per_window_layout_load(db, stats.indexed)
        print(f"load all windows: one row per track {ours:.2f} s vs one row per window {theirs:.2f} s")


def load_ranking_model(args: argparse.Namespace):
    import torch

    from emomv_desktop.engine.model import ModelConfig, RetrievalModel, load_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.random_model:
        return RetrievalModel(ModelConfig(agreement_weight=args.agreement_weight)).eval()
    return load_model(args.model or paths.model_path())[0]


def first_query(db: Path, args: argparse.Namespace) -> None:
    """Child process: open the library and rank one query, as the app's first query after a start."""
    from emomv_desktop.engine.ranking import Ranker, embed_query

    model = load_ranking_model(args)
    q = embed_query(model, np.random.default_rng(5).gamma(0.5, 0.3, 2304).astype(np.float32))
    with Library(db) as library:
        ranker = Ranker(library, model, "bench-model", backbone_id=MUSIC_BACKBONE)
        t = time.perf_counter()
        ranker.prepare()
        loaded = time.perf_counter()
        ranker.rank(q, top=10)
        done = time.perf_counter()
    print(json.dumps({"first_ms": (done - t) * 1000, "load_ms": (loaded - t) * 1000}))


def bench_cue_lengths(ranker, queries, lengths: list[float]) -> dict[float, tuple[float, list[float]]]:
    """Per cue length: the first query of that length (its section index built) and the seen-length timings;
    the lengths interleaved round by round so load hits them alike."""
    from emomv_desktop.engine import ranking

    ranking._SECTIONS.clear()
    first = {}
    for seconds in lengths:
        t = time.perf_counter()
        ranker.rank(queries[0], top=10, section_seconds=seconds)
        first[seconds] = time.perf_counter() - t
    runs: dict[float, list[float]] = {seconds: [] for seconds in lengths}
    for q in queries:
        for seconds in lengths:
            t = time.perf_counter()
            ranker.rank(q, top=10, section_seconds=seconds)
            runs[seconds].append(time.perf_counter() - t)
    return {seconds: (first[seconds], runs[seconds]) for seconds in lengths}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=50_000)
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--builds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", type=Path, help="retrieval model file (default: the shipped one)")
    parser.add_argument("--random-model", action="store_true", help="a random-init model instead of a model file")
    parser.add_argument("--agreement-weight", type=float, default=0.0,
                        help="with --random-model: lambda of the blended score (0: cosine, 64-d; > 0: 69-d)")
    parser.add_argument("--compare-layout", action="store_true")
    parser.add_argument("--cue-seconds", type=lambda text: [float(x) for x in text.split(",")], default=[],
                        help="comma-separated section lengths to rank with (Ranker.rank(section_seconds=...))")
    parser.add_argument("--keep", type=Path, help="build the library in this folder, or reuse the one there")
    parser.add_argument("--restarts", type=int, default=5, help="fresh processes timing their first query")
    parser.add_argument("--child-build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-first-query", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_build:
        build_library(args.child_build, args.tracks, args.dtype, seed=0)
    elif args.child_first_query:
        first_query(args.child_first_query, args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
