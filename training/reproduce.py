"""``emomv-train reproduce``: every table of the paper the data allows, over seeds, written to a folder.

Output folder: ``report.md`` (tables: ours and the baseline beside the paper and the floors),
``results.json`` (flat records, see :class:`training.report.Record`), ``params.json`` (the full
configuration, versions, timings, skipped datasets), PNG plots, and with ``save_models`` the trained
retrieval models (``models/<dataset>-retrieval-<variant>-seed<k>.pt`` + model card) for ``evaluate``.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch

from emomv_desktop.engine.errors import EngineError
from emomv_desktop.engine.jobs import CancelToken, ProgressCallback, report
from emomv_desktop.engine.model import ModelConfig, RetrievalModel, save_model

from . import plots
from .data import DATASETS, MissingDataError, dataset_spec
from .experiments import RUNNERS, DatasetBundle, Protocol, RunOutput, RunSpec, Variant, load_bundle
from .loop import TrainConfig, run_calls
from .paper import to_paper_units
from .models import BaselineConfig, ClassifierConfig
from .metrics import SEED_STD
from .report import Record, aggregate, sort_records, dataset_tables, floor_records, paper_position_summary, write_results

RESULTS_FILE, REPORT_FILE, PARAMS_FILE, MODELS_DIR = "results.json", "report.md", "params.json", "models"


class NothingToReproduce(EngineError):
    """None of the requested datasets has the files its tables need."""


@dataclasses.dataclass(frozen=True)
class ReproduceConfig:
    datasets: tuple[str, ...] = tuple(DATASETS)
    seeds: int = 10
    protocol: Protocol = Protocol.PAPER
    holdout: float = 0.2
    train: TrainConfig = TrainConfig()
    save_models: bool = False
    jobs: int = 1  # processes running seeds in parallel

    @property
    def seed_list(self) -> list[int]:
        """Seeds 1..N (the authors' default seed is 1)."""
        return list(range(1, self.seeds + 1))


@dataclasses.dataclass
class DatasetRuns:
    bundle: DatasetBundle
    outputs: list[RunOutput]
    seconds: float


@dataclasses.dataclass
class ReproduceResult:
    records: list[Record]
    runs: dict[str, DatasetRuns]
    skipped: dict[str, str]
    seconds: float
    files: list[Path]


def run_dataset(bundle: DatasetBundle, config: ReproduceConfig, *, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> DatasetRuns:
    """Every model, variant and seed on one dataset, in ``config.jobs`` processes.

    Each run seeds itself, so the figures do not depend on the number of jobs or the order runs finish in.
    """
    start = time.perf_counter()
    plan = [(runner, RunSpec(variant, seed, config.protocol, config.train, config.holdout))
            for seed in config.seed_list for variant in Variant for runner in RUNNERS]
    outputs: list[RunOutput | None] = [None] * len(plan)

    def finished(index: int, out: RunOutput) -> None:
        outputs[index] = out
        t = out.training
        done = sum(o is not None for o in outputs)
        report(progress, done, len(plan), f"{bundle.spec.name} seed {out.run.seed} {out.run.variant.value}-task "
               f"{out.name}: {t.epochs} epochs (best {t.best_epoch}), {t.seconds:.1f} s")

    run_calls([(runner, (bundle, run)) for runner, run in plan], config.jobs, finished, cancel)
    return DatasetRuns(bundle, [o for o in outputs if o is not None], time.perf_counter() - start)


def reproduce(data: Path | str, out_dir: Path | str, config: ReproduceConfig, *, command: str = "",
              progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> ReproduceResult:
    """Run every table the files in ``data`` allow and write the outputs into ``out_dir``."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    runs: dict[str, DatasetRuns] = {}
    skipped: dict[str, str] = {}
    for key in config.datasets:
        spec = dataset_spec(key)
        try:
            bundle = load_bundle(data, spec)
        except MissingDataError as exc:
            skipped[spec.key] = str(exc)
            continue
        runs[spec.key] = run_dataset(bundle, config, progress=progress, cancel=cancel)
    if not runs:
        raise NothingToReproduce("no requested dataset has the files its tables need: " + "; ".join(skipped.values()))
    records = sort_records(r for key, dataset_runs in runs.items() for r in _dataset_records(key, dataset_runs))
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / RESULTS_FILE]
    write_results(files[0], records)
    for key, dataset_runs in runs.items():
        files += _write_plots(out_dir, key, dataset_runs)
        if config.save_models:
            files += _save_models(out_dir / MODELS_DIR, key, dataset_runs, config)
    seconds = time.perf_counter() - start
    result = ReproduceResult(records, runs, skipped, seconds, files)
    files.append(_write_params(out_dir / PARAMS_FILE, data, config, result, command))
    files.append(_write_report(out_dir / REPORT_FILE, config, result, command))
    return result


def _dataset_records(key: str, dataset_runs: DatasetRuns) -> list[Record]:
    bundle = dataset_runs.bundle
    return aggregate(key, (out.values for out in dataset_runs.outputs)) + floor_records(
        key, bundle.report.match, bundle.retrieval.labels, Variant)


def _write_plots(out_dir: Path, key: str, dataset_runs: DatasetRuns) -> list[Path]:
    name = dataset_runs.bundle.spec.name
    labels = dataset_runs.bundle.retrieval.labels.numpy()
    floors = plots.floor_curves(labels)
    files: list[Path | None] = []
    for variant in Variant:
        outputs = [o for o in dataset_runs.outputs if o.run.variant is variant]
        files.append(plots.plot_roc(out_dir / f"roc_{key}_{variant.value}.png", outputs,
                                    f"{name} classification, {variant.value}-task"))
        files.append(plots.plot_precision_recall(out_dir / f"pr_{key}_{variant.value}.png", outputs, labels,
                                                 f"{name} {variant.value}-task", floors))
        files.append(plots.plot_confusions(out_dir / f"confusion_{key}_{variant.value}.png", outputs,
                                           f"{name} emotion heads ({variant.value}-task, summed over seeds)"))
    return [f for f in files if f is not None]


def _save_models(models_dir: Path, key: str, dataset_runs: DatasetRuns, config: ReproduceConfig) -> list[Path]:
    """Each trained retrieval model with a model card that records how it was trained and what it scored."""
    files = []
    for out in dataset_runs.outputs:
        if not isinstance(out.model, RetrievalModel):
            continue
        seed, variant = out.run.seed, out.run.variant
        path = models_dir / f"{key}-retrieval-{variant.value}-seed{seed}.pt"
        card = {
            "trained_by": "emomv-train reproduce",
            "dataset": dataset_runs.bundle.spec.name,
            "train_rows": len(dataset_runs.bundle.train),
            "protocol": config.protocol.value,
            "seed": seed,
            "variant": variant.value,
            "best_epoch": out.training.best_epoch,
            "metrics_percent": {f"{k.direction.value} {k.metric}": to_paper_units(k.metric, v)
                                for k, v in out.values.items() if k.direction},
        }
        save_model(path, out.model, card)
        files.append(path)
    return files


def _versions() -> dict[str, str]:
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "scikit-learn": sklearn.__version__, "platform": platform.platform()}


def _write_params(path: Path, data: Path | str, config: ReproduceConfig, result: ReproduceResult,
                  command: str) -> Path:
    params: dict[str, Any] = {
        "command": command,
        "data": str(data),
        "datasets": list(config.datasets),
        "seeds": config.seed_list,
        "protocol": config.protocol.value,
        "holdout_fraction": config.holdout if config.protocol is Protocol.CLEAN else None,
        "train": config.train.to_dict(),
        "models": {
            "classifier": dataclasses.asdict(ClassifierConfig()),
            "retrieval": ModelConfig().to_dict(),
            "baseline": dataclasses.asdict(BaselineConfig()),
        },
        "torch_threads": torch.get_num_threads(),
        "jobs": config.jobs,
        "versions": _versions(),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds_total": round(result.seconds, 1),
        "seconds_per_dataset": {k: round(r.seconds, 1) for k, r in result.runs.items()},
        "skipped": result.skipped,
    }
    path.write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")
    return path


_PROTOCOL_TEXT = {
    Protocol.PAPER: "early stopping on the val split, figures on the paper's splits (for EmoMV-B and EmoMV-C the "
                    "val split is both the early-stopping and the reporting set, as in the authors' code)",
    Protocol.CLEAN: "early stopping on a source-video-grouped hold-out of train ({holdout:.0%} of the train rows, "
                    "drawn per seed); figures on the paper's splits, which took no part in training",
}


def _write_report(path: Path, config: ReproduceConfig, result: ReproduceResult, command: str) -> Path:
    lines = [
        f"# EmoMV reproduction: protocol `{config.protocol.value}`",
        "",
        f"Command: `{command}`" if command else "",
        "",
        f"Protocol: {_PROTOCOL_TEXT[config.protocol].format(holdout=config.holdout)}.",
        f"Seeds: {config.seed_list[0]}..{config.seed_list[-1]} ({config.seeds}); every figure is mean ± std "
        f"[min, max] over seeds ({SEED_STD}). Units as in the paper: accuracy, top-K and mAP in %, F1 and AUC "
        "as fractions. "
        "`cb_mAP` is the class-balanced mAP (mean over emotion classes of the mean AP of that class's queries); "
        "the paper does not report it.",
        "Floors: `random ranking` is the exact expected value over random rankings; `constant ranking` ranks "
        "every query's items the same way, majority class first; `always matched` answers matched for every pair.",
        f"Wall time: {result.seconds:.0f} s ({', '.join(f'{k}: {r.seconds:.0f} s' for k, r in result.runs.items())}) "
        f"with {config.jobs} process(es) of {torch.get_num_threads()} torch thread(s).",
    ]
    for key, dataset_runs in result.runs.items():
        lines += _dataset_section(key, dataset_runs, [r for r in result.records if r.dataset == key])
    if result.skipped:
        lines += ["", "## Skipped", ""] + [f"- {dataset_spec(k).name}: {reason}" for k, reason in result.skipped.items()]
    plots_list = [f.name for f in result.files if f.suffix == ".png"]
    lines += ["", "## Plots", ""] + [f"- [{name}]({name})" for name in plots_list]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _dataset_section(key: str, dataset_runs: DatasetRuns, records: list[Record]) -> list[str]:
    b = dataset_runs.bundle
    mix = "/".join(str(int(n)) for n in torch.bincount(b.retrieval.labels, minlength=5))
    epochs = {}
    for out in dataset_runs.outputs:
        epochs.setdefault(out.name, []).append(out.training.best_epoch)
    epoch_text = ", ".join(f"{name} {int(np.median(e))}" for name, e in epochs.items())
    return [
        "", f"## {b.spec.name}", "",
        f"Data: {b.train.describe()}; {b.val.describe()}; classification reported on {b.spec.report_split.value} "
        f"({len(b.report)} pairs), retrieval on the retrieval set ({len(b.retrieval)} segments, label mix "
        f"exciting/fearful/tense/sad/relaxing {mix}).",
        f"Median best epoch: {epoch_text}. {paper_position_summary(records)}",
        *dataset_tables(records),
    ]


def main_command(argv: list[str] | None) -> str:
    """The command line as typed, for the report's provenance."""
    return " ".join(["emomv-train", *(sys.argv[1:] if argv is None else argv)])
