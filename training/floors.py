"""Floors every report shows beside the models: what a model that learned nothing scores.

* Random ranking: the exact *expected value* over uniformly random rankings (closed forms below), not a
  sample of permutations.
* Constant ranking: one fixed ranking for every query, majority class first (classes by descending item
  count, ties by class index; items keep file order within a class). It needs no model and shows how much
  of a mAP by emotion label only measures the class mix (45.2 on EmoMV-C, above the paper's models).
* Always matched: the classifier that answers "matched" for every pair (F1 0.667 on balanced splits; its
  constant score gives ROC-AUC 0.5).
"""

from __future__ import annotations

from math import comb

import numpy as np

from .metrics import (
    CB_MAP, MAP, TOP_K, ArrayLike, as_numpy, class_balanced_mean, classification_metrics, retrieval_metrics, top_key,
)

RANDOM, CONSTANT, ALWAYS_MATCHED = "random ranking", "constant ranking", "always matched"


def expected_average_precision(n_items: int, n_relevant: int) -> float:
    """E[AP] of a uniformly random ranking of ``n_items`` holding ``n_relevant`` relevant ones.

    With ``rel_k`` the relevance at rank k, ``E[rel_k * hits_k] = R/N + (k-1) R (R-1) / (N (N-1))``, so
    ``E[AP] = (1/N) * (H_N + (R-1)/(N-1) * (N - H_N))`` with ``H_N`` the N-th harmonic number.
    """
    if n_relevant == 0:
        return 0.0
    if n_items == 1:
        return 1.0
    harmonic = float(np.sum(1.0 / np.arange(1, n_items + 1)))
    return (harmonic + (n_relevant - 1) / (n_items - 1) * (n_items - harmonic)) / n_items


def expected_top_k(n_items: int, n_relevant: int, k: int) -> float:
    """P(at least one relevant item among the first k of a random ranking) = 1 - C(N-R, k) / C(N, k)."""
    k = min(k, n_items)
    return 1.0 - comb(n_items - n_relevant, k) / comb(n_items, k)


def random_ranking(query_labels: ArrayLike, item_labels: ArrayLike) -> dict[str, float]:
    """Expected retrieval metrics of a random ranking (same keys as :func:`retrieval_metrics`)."""
    queries, items = as_numpy(query_labels), as_numpy(item_labels)
    n = len(items)
    relevant = np.array([int(np.sum(items == label)) for label in queries])
    ap = np.array([expected_average_precision(n, r) for r in relevant])
    result = {top_key(k): float(np.mean([expected_top_k(n, r, k) for r in relevant])) for k in TOP_K}
    result[MAP] = float(ap.mean())
    result[CB_MAP] = class_balanced_mean(ap, queries)
    return result


def constant_similarity(n_queries: int, item_labels: ArrayLike) -> np.ndarray:
    """``(n_queries, N)`` scores giving every query the same ranking: majority class first, ties by class index,
    file order within a class (the metrics' stable sort keeps it)."""
    items = as_numpy(item_labels)
    classes, counts = np.unique(items, return_counts=True)
    order = sorted(range(len(classes)), key=lambda i: (-counts[i], classes[i]))
    class_rank = {classes[i]: rank for rank, i in enumerate(order)}
    score = -np.array([class_rank[c] for c in items], dtype=np.float64)
    return np.tile(score, (n_queries, 1))


def constant_ranking(query_labels: ArrayLike, item_labels: ArrayLike) -> dict[str, float]:
    """Retrieval metrics of ranking every query's items the same way, majority class first."""
    return retrieval_metrics(constant_similarity(len(query_labels), item_labels), query_labels, item_labels)


def retrieval_floors(query_labels: ArrayLike, item_labels: ArrayLike) -> dict[str, dict[str, float]]:
    return {RANDOM: random_ranking(query_labels, item_labels), CONSTANT: constant_ranking(query_labels, item_labels)}


def always_matched(match_labels: ArrayLike) -> dict[str, float]:
    """Classification metrics of predicting "matched" for every pair."""
    y = as_numpy(match_labels)
    return classification_metrics(y, np.ones(len(y)), np.ones(len(y), dtype=y.dtype))
