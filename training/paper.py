"""The EmoMV paper's published figures (Tables 8-13 and the emotion accuracies of Sec. 5.3.2).

Units as printed in the paper: accuracy, top-K and mAP in %, F1 and AUC as fractions. Each figure is rounded
to two decimals, so a comparison allows half a unit of the last digit (:data:`ROUNDING`).
"""

from __future__ import annotations

from .experiments import BASELINE, MUSIC_EMOTION, OURS, VIDEO_EMOTION, Direction, Task, Variant
from .metrics import ACCURACY, AUC, CB_MAP, F1, MAP, TOP_K, top_key

ROUNDING = 0.005
PERCENT_METRICS = frozenset({ACCURACY, MAP, CB_MAP, VIDEO_EMOTION, MUSIC_EMOTION, *(top_key(k) for k in TOP_K)})

_CLASSIFICATION = (ACCURACY, F1, AUC)
_RETRIEVAL = (*(top_key(k) for k in TOP_K), MAP)

# (dataset, task, variant, model, direction) -> figures in the order of _CLASSIFICATION / _RETRIEVAL
_TABLES: dict[tuple[str, Task, Variant, str, Direction | None], tuple[float, ...]] = {
    # Table 8: classification, multi-task
    ("A", Task.CLASSIFICATION, Variant.MULTI, BASELINE, None): (75.00, 0.75, 0.82),
    ("A", Task.CLASSIFICATION, Variant.MULTI, OURS, None): (79.03, 0.80, 0.87),
    ("B", Task.CLASSIFICATION, Variant.MULTI, BASELINE, None): (65.00, 0.64, 0.75),
    ("B", Task.CLASSIFICATION, Variant.MULTI, OURS, None): (75.00, 0.76, 0.81),
    ("C", Task.CLASSIFICATION, Variant.MULTI, BASELINE, None): (67.71, 0.65, 0.73),
    ("C", Task.CLASSIFICATION, Variant.MULTI, OURS, None): (70.83, 0.68, 0.74),
    # Table 9: classification, single task
    ("A", Task.CLASSIFICATION, Variant.SINGLE, BASELINE, None): (62.10, 0.62, 0.70),
    ("A", Task.CLASSIFICATION, Variant.SINGLE, OURS, None): (80.65, 0.80, 0.87),
    ("B", Task.CLASSIFICATION, Variant.SINGLE, BASELINE, None): (58.33, 0.57, 0.53),
    ("B", Task.CLASSIFICATION, Variant.SINGLE, OURS, None): (75.83, 0.76, 0.85),
    ("C", Task.CLASSIFICATION, Variant.SINGLE, BASELINE, None): (59.38, 0.57, 0.61),
    ("C", Task.CLASSIFICATION, Variant.SINGLE, OURS, None): (67.71, 0.66, 0.77),
    # Table 10: video -> music, multi-task
    ("A", Task.RETRIEVAL, Variant.MULTI, BASELINE, Direction.V2M): (34.40, 60.80, 68.00, 39.59),
    ("A", Task.RETRIEVAL, Variant.MULTI, OURS, Direction.V2M): (56.00, 70.80, 75.20, 58.53),
    ("B", Task.RETRIEVAL, Variant.MULTI, BASELINE, Direction.V2M): (33.33, 45.83, 66.67, 40.79),
    ("B", Task.RETRIEVAL, Variant.MULTI, OURS, Direction.V2M): (43.33, 68.33, 80.00, 46.14),
    ("C", Task.RETRIEVAL, Variant.MULTI, BASELINE, Direction.V2M): (27.08, 53.13, 72.92, 38.82),
    ("C", Task.RETRIEVAL, Variant.MULTI, OURS, Direction.V2M): (33.33, 63.54, 75.00, 41.64),
    # Table 11: music -> video, multi-task
    ("A", Task.RETRIEVAL, Variant.MULTI, BASELINE, Direction.M2V): (25.20, 49.60, 76.80, 39.45),
    ("A", Task.RETRIEVAL, Variant.MULTI, OURS, Direction.M2V): (56.00, 83.60, 90.80, 52.31),
    ("B", Task.RETRIEVAL, Variant.MULTI, BASELINE, Direction.M2V): (43.17, 70.83, 75.83, 43.72),
    ("B", Task.RETRIEVAL, Variant.MULTI, OURS, Direction.M2V): (44.17, 77.50, 86.67, 46.83),
    ("C", Task.RETRIEVAL, Variant.MULTI, BASELINE, Direction.M2V): (39.58, 76.04, 85.42, 38.59),
    ("C", Task.RETRIEVAL, Variant.MULTI, OURS, Direction.M2V): (46.88, 75.00, 86.46, 41.98),
    # Table 12: video -> music, single task
    ("A", Task.RETRIEVAL, Variant.SINGLE, BASELINE, Direction.V2M): (20.00, 60.00, 80.00, 22.58),
    ("A", Task.RETRIEVAL, Variant.SINGLE, OURS, Direction.V2M): (56.80, 68.40, 77.20, 50.41),
    ("B", Task.RETRIEVAL, Variant.SINGLE, BASELINE, Direction.V2M): (10.00, 43.33, 43.33, 25.73),
    ("B", Task.RETRIEVAL, Variant.SINGLE, OURS, Direction.V2M): (40.83, 70.00, 81.67, 43.50),
    ("C", Task.RETRIEVAL, Variant.SINGLE, BASELINE, Direction.V2M): (7.29, 53.13, 100.00, 26.24),
    ("C", Task.RETRIEVAL, Variant.SINGLE, OURS, Direction.V2M): (35.42, 65.63, 77.08, 38.20),
    # Table 13: music -> video, single task
    ("A", Task.RETRIEVAL, Variant.SINGLE, BASELINE, Direction.M2V): (20.00, 20.00, 20.00, 31.28),
    ("A", Task.RETRIEVAL, Variant.SINGLE, OURS, Direction.M2V): (62.40, 88.80, 93.20, 49.81),
    ("B", Task.RETRIEVAL, Variant.SINGLE, BASELINE, Direction.M2V): (25.83, 55.83, 64.17, 27.21),
    ("B", Task.RETRIEVAL, Variant.SINGLE, OURS, Direction.M2V): (41.67, 73.33, 84.17, 42.63),
    ("C", Task.RETRIEVAL, Variant.SINGLE, BASELINE, Direction.M2V): (26.04, 54.17, 70.83, 30.01),
    ("C", Task.RETRIEVAL, Variant.SINGLE, OURS, Direction.M2V): (36.46, 72.92, 87.50, 39.42),
    # Sec. 5.3.2 text: emotion-head accuracy of the multi-task classifiers (video, music)
    ("A", Task.EMOTION, Variant.MULTI, OURS, None): (47.18, 65.32),
    ("A", Task.EMOTION, Variant.MULTI, BASELINE, None): (39.92, 83.87),
    ("B", Task.EMOTION, Variant.MULTI, OURS, None): (47.50, 41.67),
    ("B", Task.EMOTION, Variant.MULTI, BASELINE, None): (45.00, 65.00),
    ("C", Task.EMOTION, Variant.MULTI, OURS, None): (40.63, 50.00),
    ("C", Task.EMOTION, Variant.MULTI, BASELINE, None): (43.75, 58.33),
}

_METRICS = {Task.CLASSIFICATION: _CLASSIFICATION, Task.RETRIEVAL: _RETRIEVAL, Task.EMOTION: (VIDEO_EMOTION, MUSIC_EMOTION)}


def paper_figure(dataset: str, task: Task, variant: Variant, model: str, direction: Direction | None,
                 metric: str) -> float | None:
    """The paper's figure in its printed units, or ``None`` where the paper gives none (e.g. class-balanced mAP)."""
    figures = _TABLES.get((dataset, task, variant, model, direction))
    names = _METRICS[task]
    return figures[names.index(metric)] if figures is not None and metric in names else None


def to_paper_units(metric: str, value: float) -> float:
    """A fraction from :mod:`training.metrics` in the unit the paper prints (percent or fraction)."""
    return value * 100.0 if metric in PERCENT_METRICS else value
