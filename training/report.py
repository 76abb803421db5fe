"""Seed statistics beside the paper's figures and the floors: ``results.json`` and ``report.md``.

Every figure is in the paper's units (accuracy, top-K, mAP in %; F1, AUC as fractions) as mean ± std [min, max]
over seeds (:func:`training.metrics.seed_summary`: the sample std, ddof=1). Where the paper gives the figure, the
report says whether it lies inside, above or below our seed range (allowing for the paper's rounding).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .experiments import BASELINE, MUSIC_EMOTION, OURS, TABLES, VIDEO_EMOTION, Direction, MetricKey, Task, Variant, metric_key
from .floors import ALWAYS_MATCHED, CONSTANT, RANDOM, always_matched, retrieval_floors
from .metrics import CLASSIFICATION_METRICS, RETRIEVAL_METRICS, ArrayLike, seed_summary
from .paper import PERCENT_METRICS, ROUNDING, paper_figure, to_paper_units

INSIDE, ABOVE, BELOW = "inside", "above", "below"


@dataclasses.dataclass(frozen=True)
class Record:
    """One row of results.json: a figure's statistics over seeds, beside the paper's figure."""

    dataset: str
    table: str
    task: str
    variant: str | None
    model: str
    direction: str | None
    metric: str
    mean: float
    std: float
    min: float
    max: float
    seeds: int | None  # None for floors (not seed-dependent)
    paper: float | None

    @property
    def paper_position(self) -> str | None:
        """Where the paper's figure lies relative to our seed range (``None`` without a paper figure)."""
        if self.paper is None:
            return None
        if self.paper > self.max + ROUNDING:
            return ABOVE
        if self.paper < self.min - ROUNDING:
            return BELOW
        return INSIDE


def _record(dataset: str, key: MetricKey, values: Sequence[float], seeds: int | None) -> Record:
    summary = seed_summary([to_paper_units(key.metric, x) for x in values])
    return Record(
        dataset, key.table, key.task.value, key.variant.value, key.model,
        key.direction.value if key.direction else None, key.metric, **summary, seeds=seeds,
        paper=paper_figure(dataset, key.task, key.variant, key.model, key.direction, key.metric),
    )


def aggregate(dataset: str, per_seed: Iterable[dict[MetricKey, float]]) -> list[Record]:
    """Statistics over seeds of every figure (one dict of figures per seed and model)."""
    values: dict[MetricKey, list[float]] = {}
    for figures in per_seed:
        for key, value in figures.items():
            values.setdefault(key, []).append(value)
    return [_record(dataset, key, v, len(v)) for key, v in values.items()]


def floor_records(dataset: str, match_labels: ArrayLike, retrieval_labels: ArrayLike,
                  variants: Iterable[Variant]) -> list[Record]:
    """The floors as records, repeated in every table they belong beside (seeds = None)."""
    figures: dict[MetricKey, float] = {}
    classification = always_matched(match_labels)
    retrieval = retrieval_floors(retrieval_labels, retrieval_labels)
    for variant in variants:
        for metric, value in classification.items():
            figures[metric_key(Task.CLASSIFICATION, variant, ALWAYS_MATCHED, None, metric)] = value
        for direction in Direction:
            for model, values in retrieval.items():
                for metric, value in values.items():
                    figures[metric_key(Task.RETRIEVAL, variant, model, direction, metric)] = value
    return [_record(dataset, key, [value], None) for key, value in figures.items()]


def sort_records(records: Iterable[Record]) -> list[Record]:
    """Paper order: dataset, table, models before floors, task, direction, metric."""
    return sorted(records, key=lambda r: (r.dataset, int(r.table), _model_order(r.model), r.task, r.direction or "",
                                          _metric_order(r.metric)))


_MODEL_ORDER = (OURS, BASELINE, ALWAYS_MATCHED, RANDOM, CONSTANT)


def _model_order(model: str) -> int:
    return _MODEL_ORDER.index(model) if model in _MODEL_ORDER else len(_MODEL_ORDER)


def write_results(path: Path, records: Sequence[Record]) -> None:
    path.write_text(json.dumps([dataclasses.asdict(r) for r in records], indent=1) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------------ markdown

_TABLE_TITLES = {
    "8": "classification, multi-task", "9": "classification, single task",
    "10": "retrieval video → music, multi-task", "11": "retrieval music → video, multi-task",
    "12": "retrieval video → music, single task", "13": "retrieval music → video, single task",
}


def _number(metric: str, value: float) -> str:
    """Percent figures with two decimals, fractions (F1, AUC) with three."""
    return f"{value:.2f}" if metric in PERCENT_METRICS else f"{value:.3f}"


def format_figure(record: Record) -> str:
    """``mean ± std [min, max]`` (floors: the single value)."""
    n = lambda v: _number(record.metric, v)  # noqa: E731
    if record.seeds is None:
        return n(record.mean)
    return f"{n(record.mean)} ± {n(record.std)} [{n(record.min)}, {n(record.max)}]"


def _position(record: Record) -> str:
    if record.paper_position is None:
        return "—"
    gap = record.paper - record.mean
    return f"{record.paper_position} (paper {'+' if gap >= 0 else '−'}{_number(record.metric, abs(gap))} vs our mean)"


def _row(record: Record) -> str:
    metric = f"{record.metric} (%)" if record.metric in PERCENT_METRICS else record.metric
    task = " (emotion head)" if record.task == Task.EMOTION.value else ""
    paper = "—" if record.paper is None else f"{record.paper:.2f}"
    return f"| {record.model}{task} | {metric} | {format_figure(record)} | {paper} | {_position(record)} |"


def table_markdown(records: Sequence[Record], table: str) -> list[str]:
    """One paper table: rows ours, baseline, then the floors; within a model, the metrics in paper order."""
    rows = sort_records(r for r in records if r.table == table)
    head = ["| model | metric | ours: mean ± std [min, max] | paper | paper vs our seed range |",
            "| --- | --- | --- | --- | --- |"]
    return head + [_row(r) for r in rows]


_METRIC_ORDER = (*CLASSIFICATION_METRICS, *RETRIEVAL_METRICS, VIDEO_EMOTION, MUSIC_EMOTION)


def _metric_order(metric: str) -> int:
    return _METRIC_ORDER.index(metric) if metric in _METRIC_ORDER else len(_METRIC_ORDER)


def dataset_tables(records: Sequence[Record]) -> list[str]:
    """Markdown for every table present in ``records`` (in paper order)."""
    lines: list[str] = []
    present = {r.table for r in records}
    for table in sorted(set(TABLES.values()) & present, key=int):
        lines += ["", f"### Table {table}: {_TABLE_TITLES[table]}", ""] + table_markdown(records, table)
    return lines


def paper_position_summary(records: Sequence[Record]) -> str:
    """How many paper figures lie inside / above / below our seed ranges."""
    counts = {INSIDE: 0, ABOVE: 0, BELOW: 0}
    for r in records:
        if r.paper_position:
            counts[r.paper_position] += 1
    return (f"Of {sum(counts.values())} paper figures, {counts[INSIDE]} lie inside our seed range, "
            f"{counts[ABOVE]} above it and {counts[BELOW]} below it.")


# ------------------------------------------------------------------------------ protocols side by side

_MARKS = {INSIDE: "", ABOVE: " ▲", BELOW: " ▼"}
COMPARISON_LEGEND = ("Cells: mean ± std [min, max] over seeds (sample std, ddof=1); ▲ the paper's figure lies "
                     "above our seed range, ▼ below it, no mark: inside it.")


def comparison_markdown(by_protocol: dict[str, Sequence[Record]]) -> list[str]:
    """Every table with the paper's row, then one row per protocol, for each model; floors last.

    Metrics are columns; all protocols must hold the same records (the same datasets, tables and models).
    """
    protocols = list(by_protocol)
    lookup = {p: {(r.dataset, r.table, r.model, r.direction, r.metric): r for r in recs}
              for p, recs in by_protocol.items()}
    first = sort_records(by_protocol[protocols[0]])
    lines: list[str] = [COMPARISON_LEGEND]
    for dataset, table in dict.fromkeys((r.dataset, r.table) for r in first):
        rows = [r for r in first if (r.dataset, r.table) == (dataset, table)]
        metrics = sorted({r.metric for r in rows}, key=_metric_order)
        direction = rows[0].direction
        lines += ["", f"#### EmoMV-{dataset}, table {table}: {_TABLE_TITLES[table]}", "",
                  "| | " + " | ".join(f"{m} (%)" if m in PERCENT_METRICS else m for m in metrics) + " |",
                  "| --- |" + " --- |" * len(metrics)]
        for model in dict.fromkeys(r.model for r in rows):
            key = lambda p, m: lookup[p].get((dataset, table, model, direction, m))  # noqa: E731
            if any(r.seeds is None for r in rows if r.model == model):  # a floor: one value
                lines.append(f"| {model} | " + " | ".join(_cell(key(protocols[0], m)) for m in metrics) + " |")
                continue
            paper = [key(protocols[0], m) for m in metrics]
            lines.append(f"| {model}: paper | " + " | ".join(
                "—" if r is None or r.paper is None else f"{r.paper:.2f}" for r in paper) + " |")
            for p in protocols:
                lines.append(f"| {model}: `{p}` protocol | " + " | ".join(_cell(key(p, m)) for m in metrics) + " |")
    return lines


def _cell(record: Record | None) -> str:
    if record is None:
        return "—"
    return format_figure(record) + (_MARKS[record.paper_position] if record.paper_position else "")
