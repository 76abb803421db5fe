"""Wall time of the full EmoMV-C reproduction (every table, ours + baseline, N seeds) per protocol.

    PYTHONPATH=$PWD python benchmarks/bench_reproduce.py [--seeds 10] [--protocols paper,clean] [--jobs 1]

Prints one line per protocol: wall time, runs, median epochs, the load average around the run (other
processes on the machine slow it down), and the headline figures; then one markdown table of every figure,
paper beside each protocol (the table in docs/training.md). The full outputs stay in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from emomv_desktop.engine.paths import dataset_dir
from training.experiments import Protocol
from training.report import Record, comparison_markdown, format_figure
from training.reproduce import RESULTS_FILE, ReproduceConfig, reproduce

HEADLINE = [("8", "ours", None, "accuracy"), ("10", "ours", "v2m", "mAP"), ("11", "ours", "m2v", "mAP"),
            ("10", "ours", "v2m", "cb_mAP"), ("11", "ours", "m2v", "cb_mAP")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=dataset_dir())
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--protocols", default="paper,clean")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="bench-reproduce-")))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"EmoMV-C, {args.seeds} seeds, jobs {args.jobs} x {args.threads} thread(s), {os.cpu_count()} CPUs; "
          f"outputs in {args.out}")
    by_protocol: dict[str, list[Record]] = {}
    for protocol in args.protocols.split(","):
        config = ReproduceConfig(datasets=("C",), seeds=args.seeds, protocol=Protocol(protocol), jobs=args.jobs)
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        result = reproduce(args.data, args.out / protocol, config, command=" ".join(sys.argv))
        wall = time.perf_counter() - start
        outputs = result.runs["C"].outputs
        epochs = statistics.median(o.training.epochs for o in outputs)
        print(f"{protocol:6} wall {wall:6.1f} s  runs {len(outputs)}  median epochs {epochs:.0f}  "
              f"load avg {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
        records = [Record(**r) for r in json.loads((args.out / protocol / RESULTS_FILE).read_text())]
        by_protocol[protocol] = records
        for table, model, direction, metric in HEADLINE:
            r = next(r for r in records if (r.table, r.model, r.direction, r.metric) == (table, model, direction, metric))
            print(f"    table {table:>2} {model} {direction or '':3} {metric:8} {format_figure(r)}  paper {r.paper}")
    print()
    print("\n".join(comparison_markdown(by_protocol)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
