"""Milliseconds per training epoch of each EmoMV-C model, with 1 and 2 torch threads side by side.

    PYTHONPATH=$PWD python benchmarks/bench_train.py [--epochs 40] [--repeats 5]

Each configuration trains every model (classifier, retrieval, baseline; multi-task) for a fixed number of
epochs (no early stop), alternating thread counts within each repeat so both see the same machine load;
prints the median ms/epoch per model and thread count and their ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys

import torch

from emomv_desktop.engine.paths import dataset_dir
from training.data import dataset_spec
from training.experiments import RUNNERS, Protocol, RunSpec, Variant, load_bundle
from training.loop import TrainConfig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    bundle = load_bundle(dataset_dir(), dataset_spec("C"))
    config = dataclasses.replace(TrainConfig(), max_epochs=args.epochs, patience=args.epochs + 1)
    threads = (1, 2)
    times: dict[tuple[str, int], list[float]] = {}
    print(f"load average before: {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    for _ in range(args.repeats):
        for n in threads:
            torch.set_num_threads(n)
            for runner in RUNNERS:
                out = runner(bundle, RunSpec(Variant.MULTI, 1, Protocol.PAPER, config))
                times.setdefault((out.name, n), []).append(1000 * out.training.seconds / out.training.epochs)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"{'model':12}" + "".join(f"{f'{n} thread(s)':>14}" for n in threads) + f"{'ratio 2/1':>12}")
    for runner_out in dict.fromkeys(name for name, _ in times):
        medians = [statistics.median(times[runner_out, n]) for n in threads]
        print(f"{runner_out:12}" + "".join(f"{m:11.1f} ms" for m in medians) + f"{medians[1] / medians[0]:12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
