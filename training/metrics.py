"""Evaluation metrics, vectorised, defined as below (mAP as the paper's Eq. 4-6). Every value is a fraction in [0, 1];
reports multiply accuracies, top-K and mAP by 100 to print them in the paper's units.

Retrieval: each query ranks *all* items (its own partner included) by descending similarity; ties keep item
order (a stable sort), so results are deterministic. An item is relevant when its label equals the query's.
AP = sum over relevant ranks r of (relevant items up to r) / r, divided by the number of relevant items
(0 when there is none); mAP = mean AP over queries; top-K = share of queries with a relevant item in the
first K. Class-balanced mAP = mean over the classes present among the queries of the mean AP of that class's
queries: a constant ranking that puts the majority class first cannot game it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

ArrayLike = np.ndarray | torch.Tensor | Sequence[float]
TOP_K = (1, 3, 5)

# metric keys, shared by reports and tests
ACCURACY, F1, AUC = "accuracy", "f1", "auc"
MAP, CB_MAP = "mAP", "cb_mAP"


def top_key(k: int) -> str:
    return f"top{k}"


RETRIEVAL_METRICS = tuple(top_key(k) for k in TOP_K) + (MAP, CB_MAP)
CLASSIFICATION_METRICS = (ACCURACY, F1, AUC)


SEED_STD = "std = sample standard deviation over seeds (ddof=1; 0 for one seed)"
"""What every ``± std`` of the reports and the model card means (said beside the figures)."""


def seed_summary(values: ArrayLike) -> dict[str, float]:
    """``{"mean", "std", "min", "max"}`` of one figure over seeds (std: :data:`SEED_STD`).

    The sample std (ddof=1) estimates the spread of a new seed's figure, which is what the ± promises; the
    population std would understate it by sqrt((n-1)/n) (11 % for 5 seeds).
    """
    v = as_numpy(values).astype(np.float64)
    std = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return {"mean": float(v.mean()), "std": std, "min": float(v.min()), "max": float(v.max())}


def as_numpy(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


# ------------------------------------------------------------------------------------ classification


def binary_f1(labels: ArrayLike, predicted: ArrayLike) -> float:
    """F1 of the positive class 1 ("matched"); 0 when there is no true or predicted positive."""
    y, p = as_numpy(labels).astype(bool), as_numpy(predicted).astype(bool)
    tp = np.sum(y & p)
    denominator = y.sum() + p.sum()
    return float(2 * tp / denominator) if denominator else 0.0


def roc_auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """ROC-AUC (scikit-learn's; tied scores count one half). ``ValueError`` with one class."""
    y = as_numpy(labels).astype(bool)
    if y.all() or not y.any():
        raise ValueError("ROC-AUC needs both classes among the labels")
    return float(roc_auc_score(y, as_numpy(scores).astype(np.float64)))


def classification_metrics(labels: ArrayLike, matched_probability: ArrayLike, predicted: ArrayLike) -> dict[str, float]:
    """Accuracy, binary F1 (positive = matched) and ROC-AUC of the matched-class probability."""
    y, p = as_numpy(labels), as_numpy(predicted)
    return {ACCURACY: float(np.mean(y == p)), F1: binary_f1(y, p), AUC: roc_auc(y, matched_probability)}


# ------------------------------------------------------------------------------------------ retrieval


def relevance_matrix(similarity: ArrayLike, query_labels: ArrayLike, item_labels: ArrayLike) -> np.ndarray:
    """``rel[q, r]``: whether the item at rank ``r`` (0-based) for query ``q`` is relevant."""
    sim = as_numpy(similarity).astype(np.float64)
    q, items = as_numpy(query_labels), as_numpy(item_labels)
    if sim.shape != (len(q), len(items)):
        raise ValueError(f"similarity is {sim.shape}, expected ({len(q)}, {len(items)})")
    order = np.argsort(-sim, axis=1, kind="stable")
    return items[order] == q[:, None]


def average_precisions(relevant: np.ndarray) -> np.ndarray:
    """AP of every query from its ranked relevance row (0 for a query without relevant items)."""
    hits = np.cumsum(relevant, axis=1)
    precision_at = hits / np.arange(1, relevant.shape[1] + 1)
    n_relevant = relevant.sum(axis=1)
    total = np.where(relevant, precision_at, 0.0).sum(axis=1)
    return np.divide(total, n_relevant, out=np.zeros(len(relevant)), where=n_relevant > 0)


def class_balanced_mean(values: np.ndarray, labels: ArrayLike) -> float:
    """Mean over the classes present in ``labels`` of the mean of ``values`` over that class."""
    labels = as_numpy(labels)
    return float(np.mean([values[labels == c].mean() for c in np.unique(labels)]))


def retrieval_metrics(similarity: ArrayLike, query_labels: ArrayLike, item_labels: ArrayLike) -> dict[str, float]:
    """Top-1/3/5 accuracy, mAP and class-balanced mAP of ranking items by ``similarity[query, item]``."""
    relevant = relevance_matrix(similarity, query_labels, item_labels)
    ap = average_precisions(relevant)
    result = {top_key(k): float(relevant[:, :k].any(axis=1).mean()) for k in TOP_K}
    result[MAP] = float(ap.mean())
    result[CB_MAP] = class_balanced_mean(ap, query_labels)
    return result


def precision_recall_curve(
    similarity: ArrayLike, query_labels: ArrayLike, item_labels: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Mean precision@k and mean recall@k over queries for k = 1..N (the authors' retrieval PR curve)."""
    relevant = relevance_matrix(similarity, query_labels, item_labels)
    hits = np.cumsum(relevant, axis=1)
    n_relevant = np.maximum(relevant.sum(axis=1, keepdims=True), 1)
    precision = (hits / np.arange(1, relevant.shape[1] + 1)).mean(axis=0)
    return precision, (hits / n_relevant).mean(axis=0)


def accuracy(labels: ArrayLike, logits: ArrayLike) -> float:
    """Share of rows whose argmax equals the label (emotion heads)."""
    return float(np.mean(as_numpy(logits).argmax(axis=1) == as_numpy(labels)))
