"""The shipped model's recipe: every labelled example, masked losses, a blended score, calibration.

Data. Pair rows (a video and a music with the match label and both emotions) come from every split whose
SlowFast file exists: EmoMV-C train and val, EmoMV-B val, and the B and C retrieval sets (their segments with
their own music, all matched: half of them repeat val rows, the other half pair the mismatched val videos with
their own music). Music-only rows come from every split that has VGGish features but no SlowFast file
(EmoMV-A train/val, EmoMV-B train here); they train the music input layer and the music emotion head through a
masked loss: a row without video contributes only the music emotion cross-entropy. One shared standardisation
per modality is fitted on every training row (the app cannot know which dataset a video resembles).

Training. Each step takes a batch of pair rows (the paper's contrastive loss on ``1 - cos`` + both emotion
CEs) and, with ``music_only_weight > 0``, a same-sized random batch of music-only rows (the mean of their
music CE times the weight). Adam, lr 1e-4, coupled weight decay 0.1, batch 256 as in the paper. The number of epochs is found
by early stopping (patience 20) on a source-video-grouped hold-out of the "hold-out source" splits (EmoMV-C's);
on that early-stopped model the hold-out also chooses the agreement weight ``lambda`` of the blended score
``cos + lambda * <p_video, p_music>`` and fits the temperatures of the two emotion heads (calibration). Then the
model is refitted on every pair row, hold-out included, for the same number of epochs (``refit``).

Judging (:func:`evaluate_recipe`, ``emomv-train recipe``). To report on a dataset's validation split, that
split and its retrieval set are removed from the pool entirely (training, early stopping, every choice): for
EmoMV-C the pool is C train + B val + B retrieval + music-only rows; for EmoMV-B it is C train, val and retrieval
set + music-only rows (EmoMV-B train has no video here, so its music-only rows stay: they are not B val). Figures: retrieval on the held-out retrieval set (labels: the segment's emotion),
retrieval on the held-out pair split with each side's own label, the ROC-AUC of the score for matched vs
mismatched pairs, the emotion heads' accuracy and ECE before and after temperature scaling.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from emomv_desktop.engine.jobs import CancelToken, ProgressCallback, check, report
from emomv_desktop.engine.model import ModelConfig, RetrievalModel, cosine_distance
from emomv_desktop.engine.protocol import VIDEO_FEATURE_DIM

from . import metrics
from .data import (
    BOTH, DATASETS, MissingDataError, Modality, PairSplit, RetrievalSet, Split, dataset_root, dataset_spec, grouped_holdout, load_pairs,
    load_retrieval,
)
from .floors import retrieval_floors
from .losses import contrastive_loss
from .loop import TrainConfig, run_calls, seed_everything, train

RECIPE_NAME = "emomv-recipe-1"
LAMBDA_CANDIDATES = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
ECE_BINS = 15
VIDEO_STD_FLOOR = 0.03
"""The video standardiser divides by at least this fraction of the median SlowFast spread (docs/model.md: without
it, dimensions that barely vary in training turn bf16's tiny absolute errors into many standard deviations)."""


# ------------------------------------------------------------------------------------------ the recipe


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything that decides a training run of the shipped model besides the data and the seed."""

    train: TrainConfig = TrainConfig()
    music_only_weight: float = 1.0  # weight of the music-only rows' emotion loss (0: not used)
    holdout: float = 0.2  # share of the hold-out source rows used for early stopping and the choices
    lambdas: tuple[float, ...] = LAMBDA_CANDIDATES  # candidate agreement weights chosen on the hold-out
    refit: bool = True  # retrain on every row (hold-out included) for the early-stopped epoch count
    video_std_floor: float = VIDEO_STD_FLOOR  # the video standardiser's spread floor, a fraction of its median

    def to_dict(self) -> dict[str, Any]:
        return {"name": RECIPE_NAME, "train": self.train.to_dict(), "music_only_weight": self.music_only_weight,
                "holdout": self.holdout, "lambdas": list(self.lambdas), "refit": self.refit,
                "video_std_floor": self.video_std_floor}


# ---------------------------------------------------------------------------------------------- rows


@dataclasses.dataclass
class Rows:
    """Training rows with a video-presence mask: ``video`` is zero where ``has_video`` is False."""

    video: torch.Tensor  # (N, 2304)
    music: torch.Tensor  # (N, 128)
    has_video: torch.Tensor  # (N,) bool
    match: torch.Tensor  # (N,) int64 (meaningless where there is no video)
    video_emotion: torch.Tensor  # (N,) int64
    music_emotion: torch.Tensor
    music_weight: torch.Tensor  # (N,) float32: weight of the row's music emotion loss

    def __len__(self) -> int:
        return len(self.music)

    def subset(self, index) -> "Rows":
        idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return Rows(*(t.index_select(0, idx) for t in dataclasses.astuple(self)))

    @staticmethod
    def concat(parts: Sequence["Rows"]) -> "Rows":
        return Rows(*(torch.cat(ts) for ts in zip(*(dataclasses.astuple(p) for p in parts))))

    @staticmethod
    def from_pairs(pairs: PairSplit) -> "Rows":
        n = len(pairs)
        return Rows(pairs.video, pairs.music, torch.ones(n, dtype=torch.bool), pairs.match, pairs.video_emotion,
                    pairs.music_emotion, torch.ones(n))

    @staticmethod
    def music_only(pairs: PairSplit, weight: float) -> "Rows":
        n = len(pairs)
        return Rows(torch.zeros(n, VIDEO_FEATURE_DIM), pairs.music,
                    torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.long), pairs.music_emotion.clone(),
                    pairs.music_emotion, torch.full((n,), float(weight)))


def retrieval_as_pairs(items: RetrievalSet, split: str = "retrieval") -> PairSplit:
    """A retrieval set as matched pairs (each segment with its own music, both labelled with its emotion)."""
    n = len(items)
    return PairSplit(items.dataset, split, items.ids, torch.ones(n, dtype=torch.long), items.labels, items.labels,
                     np.arange(n, dtype=np.int64), items.video, items.music)


class Streams:
    """What :func:`training.loop.train` iterates: pair rows, each batch topped up with music-only rows.

    ``len`` is the number of pair rows (an epoch is one pass over them); ``subset(idx)`` returns those pair rows
    plus as many music-only rows drawn uniformly at random (own generator, seeded) when there are any.
    """

    def __init__(self, pairs: Rows, music_only: Rows | None, seed: int) -> None:
        self.pairs = pairs
        self.music_only = music_only if music_only is not None and len(music_only) else None
        self._generator = torch.Generator().manual_seed(seed + 7919)

    def __len__(self) -> int:
        return len(self.pairs)

    def subset(self, index) -> Rows:
        batch = self.pairs.subset(index)
        if self.music_only is None:
            return batch
        extra = torch.randint(0, len(self.music_only), (len(batch),), generator=self._generator)
        return Rows.concat([batch, self.music_only.subset(extra)])


def masked_objective(model: RetrievalModel, rows: Rows) -> torch.Tensor:
    """Masked multi-task loss: rows with video get the paper's loss (contrastive + video CE + music CE, each a
    mean over those rows); music-only rows add ``weight x`` the mean of their music CE."""
    music = model.embed_music(rows.music)
    mask = rows.has_video
    music_ce = F.cross_entropy(music.emotion_logits, rows.music_emotion, reduction="none")
    only = ~mask
    loss = (music_ce[only] * rows.music_weight[only]).sum() / only.sum().clamp(min=1)
    if bool(mask.any()):
        loss = loss + music_ce[mask].mean()
        video = model.embed_video(rows.video[mask])
        distance = cosine_distance(video.embedding, music.embedding[mask])
        loss = loss + contrastive_loss(distance, rows.match[mask])
        loss = loss + F.cross_entropy(video.emotion_logits, rows.video_emotion[mask])
    return loss


# ---------------------------------------------------------------------------------------------- pool


@dataclasses.dataclass
class Part:
    """One source of training rows, for the model card: which file, how many rows, how it is used."""

    name: str  # e.g. "EmoMV-C train"
    rows: int
    use: str  # "pairs" / "music only"
    holdout_source: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Pool:
    """Training data: pair rows (some marked as hold-out sources, with groups) and music-only rows."""

    pairs: list[PairSplit]
    holdout_sources: list[bool]
    music_only: list[PairSplit]
    parts: list[Part]

    def counts(self) -> dict[str, int]:
        return {"pair_rows": sum(len(p) for p in self.pairs), "music_only_rows": sum(len(p) for p in self.music_only)}


def _has(data: Path | str, key: str, split: Split, modality: Modality) -> bool:
    spec = dataset_spec(key)
    return (dataset_root(data, spec) / spec.features_file(split, modality)).is_file()


def build_pool(data: Path | str, exclude: Sequence[str] = ()) -> Pool:
    """Every labelled example in ``data`` except the datasets in ``exclude``'s validation split and retrieval
    set (``exclude=("C",)`` for the clean EmoMV-C figures). Splits with both feature files become pairs, splits
    with only VGGish features music-only rows; EmoMV-C's splits are the hold-out sources."""
    pool = Pool([], [], [], [])
    excluded = {dataset_spec(k).key for k in exclude}
    for key, spec in DATASETS.items():
        for split in spec.splits:
            if split is Split.TEST:
                continue  # EmoMV-A's test split: the paper's classification figures are reported there
            if key in excluded and split is Split.VAL:
                continue
            name = f"{spec.name} {split.value}"
            if _has(data, key, split, Modality.VIDEO) and _has(data, key, split, Modality.MUSIC):
                pairs = load_pairs(data, spec, split, BOTH)
                pool.pairs.append(pairs)
                pool.holdout_sources.append(key == "C")
                pool.parts.append(Part(name, len(pairs), "pairs", key == "C"))
            elif _has(data, key, split, Modality.MUSIC):
                pairs = load_pairs(data, spec, split, (Modality.MUSIC,))
                pool.music_only.append(pairs)
                pool.parts.append(Part(name, len(pairs), "music only"))
        if key not in excluded and key != "A" and (dataset_root(data, spec) / spec.retrieval_labels_file()).is_file():
            try:
                items = load_retrieval(data, spec)
            except MissingDataError:
                continue  # labels without features: nothing to train on
            pool.pairs.append(retrieval_as_pairs(items))
            pool.holdout_sources.append(False)
            pool.parts.append(Part(f"{spec.name} retrieval set", len(items), "pairs (own music)"))
    if not any(pool.holdout_sources):
        spec = DATASETS["C"]
        raise MissingDataError(dataset_root(data, spec) / spec.labels_file(Split.TRAIN),
                               "EmoMV-C train pairs, the recipe's hold-out source")
    return pool


def split_pool(pool: Pool, recipe: Recipe, seed: int) -> tuple[Rows, Rows, Rows | None]:
    """(fit pair rows, hold-out pair rows, music-only rows): the hold-out is a grouped share of the sources."""
    fit, held = [], []
    for pairs, source in zip(pool.pairs, pool.holdout_sources):
        if source:
            keep, out = grouped_holdout(pairs.groups, recipe.holdout, seed)
            fit.append(Rows.from_pairs(pairs.subset(keep)))
            held.append(Rows.from_pairs(pairs.subset(out)))
        else:
            fit.append(Rows.from_pairs(pairs))
    music_only = Rows.concat([Rows.music_only(p, recipe.music_only_weight) for p in pool.music_only]) \
        if pool.music_only and recipe.music_only_weight > 0 else None
    return Rows.concat(fit), Rows.concat(held), music_only


# ----------------------------------------------------------------------------------------- training


@dataclasses.dataclass
class Fitted:
    """A trained model and what the recipe chose on the hold-out."""

    model: RetrievalModel
    epochs: int
    agreement_weight: float
    temperatures: tuple[float, float]  # video, music
    holdout_scores: dict[str, float]  # lambda -> selection score on the hold-out
    seconds: float


def _new_model(fit: Rows, music_only: Rows | None, recipe: Recipe) -> RetrievalModel:
    model = RetrievalModel(ModelConfig(multitask=True))
    music = fit.music if music_only is None else torch.cat([fit.music, music_only.music])
    model.fit_scalers(fit.video, music, video_floor=recipe.video_std_floor)
    return model


def selection_score(similarity: torch.Tensor, video_labels: torch.Tensor, music_labels: torch.Tensor) -> float:
    """What the hold-out maximises: mean of mAP and class-balanced mAP over both directions."""
    a = metrics.retrieval_metrics(similarity, video_labels, music_labels)
    b = metrics.retrieval_metrics(similarity.T, music_labels, video_labels)
    return float(np.mean([a[metrics.MAP], b[metrics.MAP], a[metrics.CB_MAP], b[metrics.CB_MAP]]))


@torch.no_grad()
def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature minimising the NLL of ``softmax(logits / T)`` (1-d search over log T in [-2, 2])."""
    grid = torch.exp(torch.linspace(-2.0, 2.0, 161))
    nll = torch.stack([F.cross_entropy(logits / t, labels) for t in grid])
    return float(grid[int(torch.argmin(nll))])


def expected_calibration_error(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> float:
    """ECE of the top-class confidence, equal-width bins: sum over bins of |accuracy - confidence| * share."""
    confidence, predicted = probabilities.max(dim=1)
    correct = (predicted == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            ece += float(in_bin.float().mean() * (correct[in_bin].mean() - confidence[in_bin].mean()).abs())
    return ece


def fit_recipe(
    pool: Pool, recipe: Recipe, seed: int, *, progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Fitted:
    """Train one model by the recipe (see the module docstring)."""
    start = time.perf_counter()
    fit, held, music_only = split_pool(pool, recipe, seed)
    generator = seed_everything(seed)
    model = _new_model(fit, music_only, recipe)
    result = train(model, masked_objective, Streams(fit, music_only, seed), held, recipe.train, generator,
                   progress=progress, cancel=cancel)
    with torch.no_grad():
        video, music = model.embed_video(held.video), model.embed_music(held.music)
        scores = {str(lam): selection_score(model.score_matrix(video, music, lam), held.video_emotion,
                                            held.music_emotion)
                  for lam in recipe.lambdas}
    best_lambda = float(max(recipe.lambdas, key=lambda lam: (scores[str(lam)], -lam)))
    temperatures = (fit_temperature(video.emotion_logits, held.video_emotion),
                    fit_temperature(music.emotion_logits, held.music_emotion))
    epochs = result.best_epoch
    if recipe.refit:
        check(cancel)
        everything = Rows.concat([fit, held])
        generator = seed_everything(seed)
        model = _new_model(everything, music_only, recipe)
        refit = dataclasses.replace(recipe.train, max_epochs=max(1, epochs), early_stopping=False)
        train(model, masked_objective, Streams(everything, music_only, seed), None, refit, generator,
              progress=progress, cancel=cancel)
    config = dataclasses.replace(model.config, agreement_weight=best_lambda, video_temperature=temperatures[0],
                                 music_temperature=temperatures[1])
    final = RetrievalModel(config)
    final.load_state_dict(model.state_dict())
    final.eval()
    return Fitted(final, epochs, best_lambda, temperatures, scores, time.perf_counter() - start)


# --------------------------------------------------------------------------------------- evaluation


def _percent(figures: dict[str, float]) -> dict[str, float]:
    return {k: 100.0 * v for k, v in figures.items()}


@torch.no_grad()
def pair_figures(model: RetrievalModel, pairs: PairSplit) -> dict[str, Any]:
    """On a pair split: retrieval with each side's own label, the score's matched-vs-mismatched ROC-AUC, and
    the emotion heads' accuracy and ECE (raw softmax and temperature-scaled)."""
    video, music = model.embed_video(pairs.video), model.embed_music(pairs.music)
    similarity = model.score_matrix(video, music)
    out: dict[str, Any] = {
        "v2m": _percent(metrics.retrieval_metrics(similarity, pairs.video_emotion, pairs.music_emotion)),
        "m2v": _percent(metrics.retrieval_metrics(similarity.T, pairs.music_emotion, pairs.video_emotion)),
        "pair_auc": metrics.roc_auc(pairs.match, similarity.diagonal()),
        "pair_auc_cosine": metrics.roc_auc(pairs.match, model.score_matrix(video, music, 0.0).diagonal()),
    }
    for name, embedded, labels in (("video", video, pairs.video_emotion), ("music", music, pairs.music_emotion)):
        if embedded.emotion_logits is None:
            continue  # single-task model
        raw = embedded.emotion_logits.softmax(1)
        out[f"{name}_emotion_accuracy"] = 100.0 * metrics.accuracy(labels, embedded.emotion_logits)
        out[f"{name}_ece_raw"] = expected_calibration_error(raw, labels)
        out[f"{name}_ece"] = expected_calibration_error(model.emotion_probabilities(embedded, name), labels)
    return out


@torch.no_grad()
def retrieval_figures(model: RetrievalModel, items: RetrievalSet) -> dict[str, Any]:
    """Both directions on a retrieval set (query and item labelled with the segment's emotion)."""
    video, music = model.embed_video(items.video), model.embed_music(items.music)
    similarity = model.score_matrix(video, music)
    cosine = model.score_matrix(video, music, 0.0)
    return {
        "v2m": _percent(metrics.retrieval_metrics(similarity, items.labels, items.labels)),
        "m2v": _percent(metrics.retrieval_metrics(similarity.T, items.labels, items.labels)),
        "v2m_cosine_only": _percent(metrics.retrieval_metrics(cosine, items.labels, items.labels)),
        "m2v_cosine_only": _percent(metrics.retrieval_metrics(cosine.T, items.labels, items.labels)),
    }


def flatten(figures: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat: dict[str, float] = {}
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = float(value)
    return flat


def summarise(per_seed: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per figure: :func:`metrics.seed_summary` over seeds (mean, sample std, min, max)."""
    return {key: metrics.seed_summary([run[key] for run in per_seed]) for key in per_seed[0]}


HELD_OUT = ("C", "B")
"""The datasets whose validation split and retrieval set the recipe can be judged on (both modalities exist)."""


def seed_figures(pool: Pool, items: RetrievalSet, pairs: PairSplit, recipe: Recipe, seed: int, *,
                 cancel: CancelToken | None = None) -> dict[str, float]:
    """One seed of the clean protocol: train on ``pool``, report on the held-out ``items`` and ``pairs``."""
    fitted = fit_recipe(pool, recipe, seed, cancel=cancel)
    return flatten({"retrieval": retrieval_figures(fitted.model, items), "pairs": pair_figures(fitted.model, pairs),
                    "agreement_weight": fitted.agreement_weight, "epochs": fitted.epochs,
                    "holdout_selection_score": 100.0 * max(fitted.holdout_scores.values()),
                    "video_temperature": fitted.temperatures[0], "music_temperature": fitted.temperatures[1],
                    "seconds": fitted.seconds})


def evaluate_recipe(
    data: Path | str, recipe: Recipe, seeds: Sequence[int], held_out: Sequence[str] = HELD_OUT, *, jobs: int = 1,
    final: tuple[Pool, int] | None = None, progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """The clean-protocol figures of ``recipe``: per held-out dataset, the figures of every seed and their
    summary, plus the floors. A dataset whose val features are absent is skipped with the reason. Seeds run in
    ``jobs`` processes (each seeds itself: the figures do not depend on ``jobs``); ``final=(pool, seed)`` also
    trains that model in the same processes and returns its :class:`Fitted` as ``result["final"]``."""
    result: dict[str, Any] = {"seeds": list(seeds), "datasets": {}, "skipped": {}}
    first_problem: MissingDataError | None = None
    held: dict[str, tuple[Pool, PairSplit, RetrievalSet]] = {}
    for key in held_out:
        spec = dataset_spec(key)
        try:
            held[spec.key] = (build_pool(data, exclude=(spec.key,)), load_pairs(data, spec, Split.VAL, BOTH),
                              load_retrieval(data, spec))
        except MissingDataError as exc:
            result["skipped"][spec.key] = str(exc)
            first_problem = first_problem or exc
    if not held and first_problem is not None:
        raise first_problem  # nothing could be judged: say why
    plan = [(key, seed) for key in held for seed in seeds]
    calls = [(seed_figures, (held[key][0], held[key][2], held[key][1], recipe, seed)) for key, seed in plan]
    if final is not None:
        calls.append((fit_recipe, (final[0], recipe, final[1])))
    outputs: list[Any] = [None] * len(calls)

    def finished(index: int, output: Any) -> None:
        outputs[index] = output
        what = f"EmoMV-{plan[index][0]} held out: seed {plan[index][1]}" if index < len(plan) else "final model"
        report(progress, sum(o is not None for o in outputs), len(calls), f"{what} done")

    run_calls(calls, jobs, finished, cancel)
    for key, (pool, pairs, items) in held.items():
        spec = dataset_spec(key)
        runs = [out for (k, _), out in zip(plan, outputs) if k == key]
        floors = {d: {name: _percent(f) for name, f in retrieval_floors(items.labels, items.labels).items()}
                  for d in ("v2m", "m2v")}
        result["datasets"][key] = {
            "training_data": [p.to_dict() for p in pool.parts],
            "reported_on": f"{spec.name} retrieval set ({len(items)} segments) and val pairs ({len(pairs)})",
            "per_seed": runs, "summary": summarise(runs), "floors": floors,
        }
    if final is not None:
        result["final"] = outputs[-1]
    return result


def format_recipe_result(result: dict[str, Any]) -> str:
    """A plain-text table of the headline figures of :func:`evaluate_recipe`."""
    lines = [f"clean protocol, seeds {result['seeds']}: mean ± std [min, max]; {metrics.SEED_STD}"]
    headline = ("retrieval.v2m.mAP", "retrieval.m2v.mAP", "retrieval.v2m.cb_mAP", "retrieval.m2v.cb_mAP",
                "retrieval.v2m.top1", "retrieval.m2v.top1", "pairs.pair_auc", "pairs.v2m.mAP", "pairs.m2v.mAP",
                "pairs.video_emotion_accuracy", "pairs.music_emotion_accuracy", "pairs.video_ece_raw",
                "pairs.video_ece", "pairs.music_ece_raw", "pairs.music_ece", "agreement_weight", "epochs", "holdout_selection_score")
    for key, dataset in result["datasets"].items():
        lines.append(f"EmoMV-{key} held out ({dataset['reported_on']}):")
        for name in headline:
            s = dataset["summary"][name]
            lines.append(f"  {name:32} {s['mean']:8.3f} ± {s['std']:6.3f} [{s['min']:.3f}, {s['max']:.3f}]")
        for direction, floors in dataset["floors"].items():
            lines.append(f"  floors {direction}: " + ", ".join(f"{n} mAP {f['mAP']:.2f} cb {f['cb_mAP']:.2f}"
                                                            for n, f in floors.items()))
    for key, reason in result["skipped"].items():
        lines.append(f"EmoMV-{key} skipped: {reason}")
    return "\n".join(lines)
