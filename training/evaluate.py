"""``emomv-train evaluate``: a saved retrieval model's retrieval figures (and the floors) on any split.

On a retrieval set, query and item share the segment's label. On a pair split every row has a video emotion
and a music emotion: video queries are labelled with their video emotion, music items with their music
emotion (and the mirror for music -> video); a pair split also gets the ROC-AUC of the model's score for
matched vs mismatched rows and, for a multi-task model, the emotion heads' accuracy and expected calibration
error (raw softmax and the card's temperatures). Retrieval figures are in percent, as in the paper and
``results.json``; ROC-AUC and ECE are fractions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from emomv_desktop.engine.model import load_model

from .data import BOTH, RETRIEVAL, dataset_spec, load_pairs, load_retrieval
from .experiments import Direction, retrieval_similarity
from .floors import retrieval_floors
from .metrics import retrieval_metrics
from .paper import to_paper_units
from .recipe import pair_figures


def _percent(figures: dict[str, float]) -> dict[str, float]:
    return {name: to_paper_units(name, value) for name, value in figures.items()}


def evaluate_model(model_path: Path | str, data: Path | str, dataset: str, split: str) -> dict[str, Any]:
    """Retrieval figures of a model saved with ``engine.model.save_model`` on ``split`` (or ``"retrieval"``)."""
    model, card = load_model(model_path)
    spec = dataset_spec(dataset)
    if split == RETRIEVAL:
        items = load_retrieval(data, spec, BOTH)
        video_labels = music_labels = items.labels
        labelling = "the segment's emotion"
    else:
        items = load_pairs(data, spec, split, BOTH)
        video_labels, music_labels = items.video_emotion, items.music_emotion
        labelling = "each side's own emotion"
    similarity = retrieval_similarity(model, items)
    sides: dict[Direction, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {
        Direction.V2M: (similarity, video_labels, music_labels),
        Direction.M2V: (similarity.T, music_labels, video_labels),
    }
    result: dict[str, Any] = {
        "model": str(model_path),
        "model_card_dataset": card.get("dataset"),
        "dataset": spec.key,
        "split": split,
        "items": len(items),
        "labels": labelling,
        "units": "percent",
        "directions": {d.value: _percent(retrieval_metrics(*args)) for d, args in sides.items()},
        "floors": {
            d.value: {name: _percent(f) for name, f in retrieval_floors(q, i).items()}
            for d, (_, q, i) in sides.items()
        },
    }
    if split != RETRIEVAL:  # beyond retrieval: the score's matched-vs-mismatched ROC-AUC (+ emotion heads)
        result["pairs"] = {k: v for k, v in pair_figures(model, items).items() if not isinstance(v, dict)}
    return result


def format_evaluation(result: dict[str, Any]) -> str:
    """A plain-text table of :func:`evaluate_model`'s result."""
    lines = [f"{result['model']} on EmoMV-{result['dataset']} {result['split']} ({result['items']} items, "
             f"relevance by {result['labels']}; %)"]
    names = list(next(iter(result["directions"].values())))
    lines.append(f"{'':28}" + "".join(f"{n:>9}" for n in names))
    for direction, figures in result["directions"].items():
        rows = [("model", figures)] + list(result["floors"][direction].items())
        for label, values in rows:
            lines.append(f"{direction + ' ' + label:28}" + "".join(f"{values[n]:9.2f}" for n in names))
    for name, value in result.get("pairs", {}).items():
        lines.append(f"{name:28}{value:9.3f}")
    return "\n".join(lines)
