"""The valence-arousal map: EmoMV's five emotions placed in valence-arousal space, and the EMID-style blend.

Coordinates (valence, arousal), both in [-1, 1]; two published sets, :data:`RUSSELL_1980` the default:

``RUSSELL_1980``
    Russell, J. A. (1980). A circumplex model of affect. *Journal of Personality and Social Psychology*, 39(6),
    1161-1178. Its abstract places eight affect concepts on a circle, angle measured from the pleasure
    (valence) axis towards arousal: pleasure 0°, excitement 45°, arousal 90°, distress 135°, displeasure 180°,
    depression 225°, sleepiness 270°, relaxation 315°. EmoMV's labels are put at the nearest of these concepts
    (that assignment is ours): exciting = excitement 45°, tense = arousal 90°, fearful = distress 135°,
    sad = depression 225°, relaxing = relaxation 315°; each emotion sits on the unit circle at
    ``(cos θ, sin θ)``.

``WARRINER_2013``
    Warriner, A. B., Kuperman, V., & Brysbaert, M. (2013). Norms of valence, arousal, and dominance for 13,915
    English lemmas. *Behavior Research Methods*, 45(4), 1191-1207. The mean ratings (1-9 scales) of the words
    themselves: exciting V 7.95 A 6.95, fearful 2.66 / 5.45, tense 2.75 / 5.32, sad 2.10 / 3.49, relaxing
    8.19 / 4.29, rescaled to [-1, 1] by ``(x - 5) / 4``. Word ratings put fearful and tense almost on one spot
    (and relaxing near neutral arousal), so the circumplex is the default for the map.

Positions
    A track, a window or a query sits at the expectation of its emotion distribution: ``position = p @ C``
    with ``p`` the calibrated probabilities (what the app shows, ``softmax(logits / T)``) and ``C`` the (5, 2)
    coordinates. A track's distribution is the mean of its windows'.

The blend (EMID-style: semantic similarity plus emotional distance in valence-arousal space)
    ``closeness = 1 - |pos_query - pos_item| / D`` with ``D`` the largest distance between two of the five
    emotions (every position lies in their convex hull, so closeness is in [0, 1]); it is mapped onto the range
    the model's score can take, ``[lo, hi]`` = ``[-1, 1]`` for the cosine and ``[-1, 1 + lambda]`` for a blended
    model (cosine plus ``lambda`` times the agreement of two distributions, which lies in [0, 1]):

        score = alpha * model_score + (1 - alpha) * (lo + (hi - lo) * closeness)

    ``alpha = 1`` is the model alone, ``alpha = 0`` ranks by valence-arousal closeness alone. The default
    :data:`DEFAULT_ALPHA` comes from the sweep on EmoMV-C and EmoMV-B (``emomv-train va-sweep``, docs/queries.md).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .emotions import Emotion
from .model import RetrievalModel
from .ranking import EmbeddingCache, RankFilter, Ranker, RankingError, Suggestion, VideoQuery, softmax

__all__ = [
    "DEFAULT_ALPHA",
    "RUSSELL_1980",
    "SPACES",
    "VASpace",
    "WARRINER_2013",
    "blend",
    "query_position",
    "rank_blended",
    "score_range",
    "track_distributions",
    "track_positions",
    "window_positions",
]

DEFAULT_ALPHA = 1.0
"""The blend's default: the model's score alone. On the clean-protocol five-seed sweep (``emomv-train va-sweep``;
the figures and the rule, fixed beforehand, are in docs/queries.md) no alpha beat 1 on both EmoMV-C and EmoMV-B
by more than the seeds' spread."""


@dataclasses.dataclass(frozen=True)
class VASpace:
    """Valence-arousal coordinates of the five emotions: ``coordinates[e]`` is ``(valence, arousal)`` of
    ``Emotion(e)``, both in [-1, 1]."""

    name: str
    source: str
    coordinates: np.ndarray

    def __post_init__(self) -> None:
        coordinates = np.asarray(self.coordinates, dtype=np.float64)
        if coordinates.shape != (len(Emotion), 2):
            raise ValueError(f"coordinates must be ({len(Emotion)}, 2), got {coordinates.shape}")
        coordinates.setflags(write=False)
        object.__setattr__(self, "coordinates", coordinates)

    @property
    def diameter(self) -> float:
        """The largest distance between two emotions (no two positions can be further apart)."""
        c = self.coordinates
        return float(np.linalg.norm(c[:, None] - c[None], axis=-1).max())

    def position(self, probabilities: np.ndarray) -> np.ndarray:
        """``(..., 5)`` emotion distributions -> ``(..., 2)`` (valence, arousal): their expectation."""
        return np.asarray(probabilities, dtype=np.float64) @ self.coordinates

    def closeness(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``1 - |a - b| / diameter`` of positions ``(..., 2)`` (broadcast), in [0, 1]."""
        return 1.0 - np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1) / self.diameter


def _circumplex(degrees: dict[Emotion, float]) -> np.ndarray:
    return np.array([[math.cos(math.radians(degrees[e])), math.sin(math.radians(degrees[e]))] for e in Emotion])


RUSSELL_1980 = VASpace(
    "russell-1980",
    "Russell (1980), A circumplex model of affect, J. Pers. Soc. Psychol. 39(6):1161-1178: excitement 45°, "
    "arousal 90°, distress 135°, depression 225°, relaxation 315° (exciting, tense, fearful, sad, relaxing)",
    _circumplex({Emotion.EXCITING: 45.0, Emotion.TENSE: 90.0, Emotion.FEARFUL: 135.0, Emotion.SAD: 225.0,
                 Emotion.RELAXING: 315.0}),
)

_WARRINER_RATINGS = {  # mean valence, mean arousal on 1-9 scales (Warriner et al. 2013, all raters)
    Emotion.EXCITING: (7.95, 6.95),
    Emotion.FEARFUL: (2.66, 5.45),
    Emotion.TENSE: (2.75, 5.32),
    Emotion.SAD: (2.10, 3.49),
    Emotion.RELAXING: (8.19, 4.29),
}

WARRINER_2013 = VASpace(
    "warriner-2013",
    "Warriner, Kuperman & Brysbaert (2013), Norms of valence, arousal, and dominance for 13,915 English "
    "lemmas, Behav. Res. Methods 45(4):1191-1207: the words' mean ratings, (x - 5) / 4",
    (np.array([_WARRINER_RATINGS[e] for e in Emotion]) - 5.0) / 4.0,
)

SPACES: dict[str, VASpace] = {space.name: space for space in (RUSSELL_1980, WARRINER_2013)}


# ------------------------------------------------------------------------------------------------ the blend
def score_range(model: RetrievalModel) -> tuple[float, float]:
    """The values ``model``'s score can take: the cosine's [-1, 1], plus [0, lambda] for a blended model."""
    return -1.0, 1.0 + (model.config.agreement_weight if model.blended else 0.0)


def blend(model_scores: np.ndarray, closeness: np.ndarray, alpha: float, scores: tuple[float, float]) -> np.ndarray:
    """``alpha * model_scores + (1 - alpha) * (lo + (hi - lo) * closeness)`` with ``(lo, hi) = scores``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
    lo, hi = scores
    return alpha * np.asarray(model_scores) + (1.0 - alpha) * (lo + (hi - lo) * np.asarray(closeness))


def _require_emotions(cache: EmbeddingCache) -> np.ndarray:
    if cache.emotion_logits is None:
        raise RankingError("this retrieval model has no emotion heads (single-task): it has no valence-arousal map")
    return cache.emotion_logits


def window_positions(cache: EmbeddingCache, space: VASpace = RUSSELL_1980) -> np.ndarray:
    """(W, 2) position of every cached window (its calibrated music-head distribution's expectation)."""
    return space.position(softmax(_require_emotions(cache), cache.music_temperature))


def track_distributions(cache: EmbeddingCache) -> np.ndarray:
    """(T, 5) emotion distribution of every track of ``cache.tracks``: the mean of its windows' calibrated ones."""
    probs = softmax(_require_emotions(cache), cache.music_temperature)
    return np.add.reduceat(probs, cache.offsets, axis=0) / cache.tracks.counts[:, None]


def track_positions(cache: EmbeddingCache, space: VASpace = RUSSELL_1980) -> np.ndarray:
    """(T, 2) position of every track of ``cache.tracks``: the expectation of :func:`track_distributions`
    (positions are linear in the distribution, so this is also the mean of its windows' positions)."""
    return space.position(track_distributions(cache))


def query_position(query: VideoQuery, space: VASpace = RUSSELL_1980) -> np.ndarray:
    """(2,) position of a query (its calibrated emotion distribution's expectation)."""
    if query.emotion_probs is None:
        raise RankingError("this query has no emotion probabilities (single-task model): no valence-arousal position")
    return space.position(query.emotion_probs)


def rank_blended(
    ranker: Ranker,
    query: VideoQuery,
    *,
    alpha: float = DEFAULT_ALPHA,
    space: VASpace = RUSSELL_1980,
    top: int | None = None,
    filters: RankFilter = RankFilter(),
) -> list[Suggestion]:
    """Rank by the EMID-style blend of the model's score and the valence-arousal closeness, window by window
    (a track's score is its best window's blend; that window is its section)."""
    position = query_position(query, space)
    scores = score_range(ranker.model)

    def blended(cache: EmbeddingCache) -> np.ndarray:
        closeness = space.closeness(window_positions(cache, space), position)
        return blend(cache.scores(query.score_vector), closeness, alpha, scores).astype(np.float32)

    return ranker.rank_by(blended, top=top, filters=filters)
