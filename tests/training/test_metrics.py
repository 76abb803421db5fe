"""Metrics and floors against hand-computed cases, naive references and the real EmoMV-C retrieval set."""

from __future__ import annotations

import itertools
import statistics

import numpy as np
import pytest

from training import floors, metrics, recipe
from training.data import load_retrieval
from training.experiments import OURS, Direction, Task, Variant, metric_key
from training.report import aggregate


def naive_retrieval(similarity, query_labels, item_labels):
    """Per-query loops over an explicitly sorted ranking, written from the paper's Eq. 4-6."""
    n_items = len(item_labels)
    aps, hits = [], {k: 0 for k in metrics.TOP_K}
    for q, label in enumerate(query_labels):
        ranking = sorted(range(n_items), key=lambda i: -similarity[q][i])  # sorted() is stable: ties keep order
        relevant_total = sum(1 for i in range(n_items) if item_labels[i] == label)
        found, precision_sum = 0, 0.0
        for position, item in enumerate(ranking, start=1):
            if item_labels[item] == label:
                found += 1
                precision_sum += found / position
        aps.append(precision_sum / relevant_total if relevant_total else 0.0)
        for k in metrics.TOP_K:
            hits[k] += any(item_labels[i] == label for i in ranking[:k])
    per_class = {}
    for ap, label in zip(aps, query_labels):
        per_class.setdefault(label, []).append(ap)
    result = {metrics.top_key(k): hits[k] / len(query_labels) for k in metrics.TOP_K}
    result[metrics.MAP] = sum(aps) / len(aps)
    result[metrics.CB_MAP] = sum(sum(v) / len(v) for v in per_class.values()) / len(per_class)
    return result


def test_retrieval_metrics_hand_computed():
    # items: labels 0, 1, 0; three queries labelled 0, 0, 1
    similarity = [[0.9, 0.8, 0.1],  # ranking 0(rel) 1 2(rel): AP = (1/1 + 2/3) / 2 = 5/6
                  [0.1, 0.9, 0.8],  # ranking 1 2(rel) 0(rel): AP = (1/2 + 2/3) / 2 = 7/12
                  [0.9, 0.8, 0.1]]  # ranking 0 1(rel) 2:       AP = 1/2
    result = metrics.retrieval_metrics(np.array(similarity), [0, 0, 1], [0, 1, 0])
    assert result[metrics.MAP] == pytest.approx((5 / 6 + 7 / 12 + 1 / 2) / 3)
    assert result[metrics.CB_MAP] == pytest.approx(((5 / 6 + 7 / 12) / 2 + 1 / 2) / 2)
    assert result["top1"] == pytest.approx(1 / 3)
    assert result["top3"] == result["top5"] == 1.0


def test_ties_keep_item_order_and_a_query_without_relevant_items_scores_zero():
    flat = np.full((2, 4), 0.5)
    result = metrics.retrieval_metrics(flat, [1, 7], [0, 1, 0, 1])
    # query 1: ranking 0 1(rel) 2 3(rel) -> AP = (1/2 + 2/4) / 2 = 0.5; query 7 has no relevant item -> AP 0
    assert result[metrics.MAP] == pytest.approx(0.25)
    assert result["top1"] == 0.0 and result["top3"] == 0.5


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_retrieval_equals_naive_reference(seed):
    rng = np.random.default_rng(seed)
    n_queries, n_items = rng.integers(5, 40, size=2)
    similarity = rng.normal(size=(n_queries, n_items))
    similarity[:, :: 3] = np.round(similarity[:, :: 3], 1)  # some ties
    queries, items = rng.integers(0, 5, n_queries), rng.integers(0, 5, n_items)
    fast = metrics.retrieval_metrics(similarity, queries, items)
    slow = naive_retrieval(similarity.tolist(), queries.tolist(), items.tolist())
    assert fast.keys() == slow.keys()
    for name in fast:
        assert fast[name] == pytest.approx(slow[name], abs=1e-12), name


def test_precision_recall_curve_ends_at_full_recall_and_class_share():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 30)
    precision, recall = metrics.precision_recall_curve(rng.normal(size=(30, 30)), labels, labels)
    assert recall[-1] == pytest.approx(1.0)
    assert precision[-1] == pytest.approx(np.mean([np.mean(labels == label) for label in labels]))
    assert np.all(np.diff(recall) >= 0)


def test_classification_metrics_against_pairwise_auc():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = np.round(rng.random(200) + 0.3 * labels, 1)  # many ties
    pairs = [(p, n) for p in scores[labels == 1] for n in scores[labels == 0]]
    pairwise = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    assert metrics.roc_auc(labels, scores) == pytest.approx(pairwise)
    figures = metrics.classification_metrics([1, 1, 0, 0, 1], [0.9, 0.4, 0.3, 0.6, 0.8], [1, 0, 0, 1, 1])
    assert figures[metrics.ACCURACY] == pytest.approx(3 / 5)
    assert figures[metrics.F1] == pytest.approx(2 * 2 / (3 + 3))  # tp 2, 3 true and 3 predicted positives
    assert figures[metrics.AUC] == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="both classes"):
        metrics.roc_auc([1, 1], [0.2, 0.3])


def test_seed_summary_is_the_sample_std_everywhere():
    values = [40.0, 41.5, 43.0, 39.0, 42.25]
    expected = {"mean": statistics.mean(values), "std": statistics.stdev(values), "min": 39.0, "max": 43.0}
    assert metrics.seed_summary(values) == pytest.approx(expected)
    assert metrics.seed_summary([3.5]) == {"mean": 3.5, "std": 0.0, "min": 3.5, "max": 3.5}
    # the clean-protocol summary (card, ``recipe``) and the reproduce report give the same ±
    assert recipe.summarise([{"x": v} for v in values])["x"] == pytest.approx(expected)
    key = metric_key(Task.RETRIEVAL, Variant.MULTI, OURS, Direction.V2M, metrics.MAP)
    (record,) = aggregate("C", [{key: v / 100} for v in values])  # fractions in, the paper's percent out
    assert (record.mean, record.std) == pytest.approx((expected["mean"], expected["std"]))


def test_expected_random_floor_equals_exhaustive_enumeration():
    items = np.array([0, 1, 0, 2, 1, 0])
    rankings = list(itertools.permutations(range(len(items))))
    exhaustive = {}
    for order in rankings:
        score = -np.argsort(order).astype(float)  # item at position p gets score -p
        for name, value in metrics.retrieval_metrics(np.tile(score, (len(items), 1)), items, items).items():
            exhaustive[name] = exhaustive.get(name, 0.0) + value / len(rankings)
    expected = floors.random_ranking(items, items)
    for name, value in expected.items():
        assert value == pytest.approx(exhaustive[name], abs=1e-12), name


def test_always_matched_floor():
    figures = floors.always_matched([1, 0, 1, 0])
    assert figures == pytest.approx({metrics.ACCURACY: 0.5, metrics.F1: 2 / 3, metrics.AUC: 0.5})


def test_floors_on_the_real_emomv_c_retrieval_set(emomv_data):
    labels = load_retrieval(emomv_data, "C", modalities=()).labels.numpy()
    constant = floors.constant_ranking(labels, labels)
    assert round(100 * constant[metrics.MAP], 1) == 45.2  # above the paper's retrieval mAP
    assert round(100 * constant[metrics.CB_MAP], 1) == 30.5
    random = floors.random_ranking(labels, labels)
    assert [round(100 * random[k], 1) for k in ("top1", "top3", "top5", metrics.MAP)] == [24.7, 55.9, 73.0, 27.9]
    assert round(100 * random[metrics.CB_MAP], 1) == 23.5
