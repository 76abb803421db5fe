"""The PNG figures of a reproduction: ROC curves, emotion-head confusion matrices, retrieval precision-recall.

matplotlib runs on its non-interactive Agg backend (selected per figure through ``Figure``/``FigureCanvasAgg``,
so importing this module changes no global state and needs no display).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from emomv_desktop.engine.emotions import EMOTION_LABELS, NUM_EMOTIONS

from .experiments import Direction, RunOutput
from .floors import CONSTANT, RANDOM, constant_similarity
from .metrics import precision_recall_curve

DIRECTION_TITLES = {Direction.V2M: "video → music", Direction.M2V: "music → video"}


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def plot_roc(path: Path, outputs: Sequence[RunOutput], title: str) -> Path:
    """ROC curves of every model and seed (one thin line each) with the chance diagonal."""
    fig = Figure(figsize=(5.2, 5))
    ax = fig.add_subplot()
    colours: dict[str, str] = {}
    for out in outputs:
        for model, (labels, scores) in out.roc.items():
            fpr, tpr, _ = roc_curve(labels, scores)
            colour = colours.setdefault(model, f"C{len(colours)}")
            first = sum(1 for _ in ax.get_lines() if _.get_label() == model) == 0
            ax.plot(fpr, tpr, color=colour, alpha=0.5, lw=1, label=model if first else None)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="chance / always matched")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="lower right")
    return _save(fig, path)


def confusion(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Counts ``[true, predicted]`` over the five emotions."""
    return np.bincount(labels * NUM_EMOTIONS + predicted, minlength=NUM_EMOTIONS ** 2).reshape(NUM_EMOTIONS, -1)


def plot_confusions(path: Path, outputs: Sequence[RunOutput], title: str) -> Path | None:
    """Row-normalised confusion matrices of every emotion head, counts summed over seeds."""
    totals: dict[str, np.ndarray] = {}
    for out in outputs:
        for head, (labels, predicted) in out.emotions.items():
            totals[head] = totals.get(head, 0) + confusion(labels, predicted)
    if not totals:
        return None
    fig = Figure(figsize=(4.2 * len(totals), 4.4))
    for i, (head, counts) in enumerate(sorted(totals.items())):
        ax = fig.add_subplot(1, len(totals), i + 1)
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(rates, vmin=0, vmax=1, cmap="Blues")
        for (t, p), n in np.ndenumerate(counts):
            ax.text(p, t, str(n), ha="center", va="center", color="white" if rates[t, p] > 0.5 else "black")
        ax.set_xticks(range(NUM_EMOTIONS), EMOTION_LABELS, rotation=45)
        ax.set_yticks(range(NUM_EMOTIONS), EMOTION_LABELS)
        ax.set(xlabel="predicted", ylabel="true", title=head)
    fig.suptitle(title)
    return _save(fig, path)


def plot_precision_recall(path: Path, outputs: Sequence[RunOutput], labels: np.ndarray, title: str,
                          floors: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """Mean precision@k against mean recall@k (averaged over seeds), both directions, with the floors."""
    fig = Figure(figsize=(10, 4.6))
    for i, direction in enumerate(Direction):
        ax = fig.add_subplot(1, 2, i + 1)
        curves: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for out in outputs:
            for model, sim in out.similarity.items():
                sim = sim if direction is Direction.V2M else sim.T
                curves.setdefault(model, []).append(precision_recall_curve(sim, labels, labels))
        for model, runs in curves.items():
            precision, recall = np.mean([p for p, _ in runs], axis=0), np.mean([r for _, r in runs], axis=0)
            ax.plot(recall, precision, label=f"{model} ({len(runs)} seeds)")
        for name, (precision, recall) in floors.items():
            ax.plot(recall, precision, "--", lw=1, label=name)
        ax.set(xlabel="recall", ylabel="precision", title=f"{title}: {DIRECTION_TITLES[direction]}", xlim=(0, 1),
               ylim=(0, 1.02))
        ax.legend(loc="upper right", fontsize="small")
    return _save(fig, path)


def floor_curves(labels: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Precision-recall of the floors: a random ranking's expected curve (precision = the mean share of relevant
    items at every k, recall = k / N) and the constant ranking's."""
    n = len(labels)
    relevant_share = np.mean([np.mean(labels == label) for label in labels])
    k = np.arange(1, n + 1)
    return {
        RANDOM: (np.full(n, relevant_share), k / n),
        CONSTANT: precision_recall_curve(constant_similarity(n, labels), labels, labels),
    }
