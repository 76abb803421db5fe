"""A match score on a scale a person reads: 0-100, the percentile of the score among real video-music pairings.

The model's raw score (the cosine of the embeddings plus, for a blended model, the weighted emotion agreement)
has no fixed meaning: the shipped model's range is about -1…5. The readable *match* is the share of the
pairings of every video with every music segment of the released EmoMV-B and EmoMV-C retrieval sets that
score lower: 90 means "better than 90% of those pairings". Those sets were part of the shipped model's
training pairs, so the scale describes the model's own score distribution, not a held-out probability.

The model card carries the calibration as ``score_scale``: the score at every whole percentile
(``knots``, 101 values, non-decreasing) and what they were computed on (``computed_on``). It is computed by
``scripts/calibrate_score.py``, which writes it into the card; a model without one shows raw scores only.
Between knots the scale is linear, outside them it clamps to 0 and 100, so it is monotone in the score.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["CARD_KEY", "ScoreScale"]

CARD_KEY = "score_scale"
KNOTS = 101  # the score at percentile 0, 1, …, 100


@dataclasses.dataclass(frozen=True)
class ScoreScale:
    """Raw score -> 0-100 by linear interpolation between the scores at each whole percentile."""

    knots: tuple[float, ...]
    computed_on: str = ""

    def __post_init__(self) -> None:
        knots = np.asarray(self.knots, dtype=np.float64)
        if knots.shape != (KNOTS,) or not np.all(np.isfinite(knots)) or np.any(np.diff(knots) < 0):
            raise ValueError(f"a score scale needs {KNOTS} finite non-decreasing knots")

    @classmethod
    def fit(cls, scores: Sequence[float] | np.ndarray, computed_on: str = "") -> "ScoreScale":
        """The scale of an empirical score distribution (its percentiles, rounded to 5 decimals)."""
        knots = np.percentile(np.asarray(scores, dtype=np.float64).ravel(), np.arange(KNOTS))
        return cls(tuple(float(k) for k in np.maximum.accumulate(np.round(knots, 5))), computed_on)

    @classmethod
    def from_card(cls, card: Mapping[str, Any] | None) -> "ScoreScale | None":
        """The card's scale, or None when the card has none (or a malformed one)."""
        entry = (card or {}).get(CARD_KEY)
        if not isinstance(entry, Mapping):
            return None
        try:
            return cls(tuple(float(k) for k in entry.get("knots", ())), str(entry.get("computed_on", "")))
        except (TypeError, ValueError):
            return None

    def to_card(self) -> dict[str, Any]:
        return {"knots": list(self.knots), "computed_on": self.computed_on}

    def percent(self, score: float | np.ndarray) -> float | np.ndarray:
        """0-100 (a float; clamps outside the calibrated range). Ties among knots map to their highest percentile."""
        knots = np.asarray(self.knots)
        last = np.append(knots[1:] != knots[:-1], True)  # np.interp wants increasing x: the last of equal knots
        result = np.interp(score, knots[last], np.arange(KNOTS, dtype=np.float64)[last])
        result = np.where(np.asarray(score) < knots[0], 0.0, result)
        return float(result) if np.ndim(result) == 0 else result
