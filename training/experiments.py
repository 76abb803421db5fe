"""One seed of one model on one dataset: train with early stopping, evaluate on the paper's splits.

The paper's tables (Sec. 5-6):

=====  ==============  =======  ============================================
table  task            variant  reported on
=====  ==============  =======  ============================================
8      classification  multi    A: test pairs; B, C: val pairs
9      classification  single   same
10/11  retrieval v→m/m→v multi  A: the MVED retrieval set; B, C: the val retrieval set
12/13  retrieval v→m/m→v single same
=====  ==============  =======  ============================================

Sec. 5.3.2's text also gives the emotion heads' accuracy of the multi-task classifiers (recorded as table 8,
task ``emotion``). The baseline is trained once per variant and seed and evaluated on both tasks (stage 2's
logistic regression for classification, ``1 / d_Euclid`` for retrieval).

Protocols: ``paper`` early-stops on the val split (for B and C also the reporting split, as the authors
did); ``clean`` early-stops on a source-video-grouped hold-out of train (:func:`data.grouped_holdout`) and
reports on the same splits, which then played no part in training.
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from emomv_desktop.engine.jobs import CancelToken, ProgressCallback
from emomv_desktop.engine.model import ModelConfig, RetrievalModel

from . import metrics
from .data import DatasetSpec, PairSplit, RetrievalSet, Split, grouped_holdout, load_pairs, load_retrieval
from .losses import Objective, baseline_objective, classification_objective, retrieval_objective
from .loop import TrainConfig, TrainResult, seed_everything, train
from .models import BaselineConfig, BaselineModel, ClassificationModel, ClassifierConfig, euclidean_scores


class Protocol(str, enum.Enum):
    PAPER = "paper"
    CLEAN = "clean"


class Variant(str, enum.Enum):
    SINGLE = "single"
    MULTI = "multi"

    @property
    def multitask(self) -> bool:
        return self is Variant.MULTI


class Task(str, enum.Enum):
    CLASSIFICATION = "classification"
    RETRIEVAL = "retrieval"
    EMOTION = "emotion"


class Direction(str, enum.Enum):
    V2M = "v2m"
    M2V = "m2v"


OURS, BASELINE = "ours", "baseline"
VIDEO_EMOTION, MUSIC_EMOTION = "video_emotion_accuracy", "music_emotion_accuracy"

TABLES: dict[tuple[Task, Variant, Direction | None], str] = {
    (Task.CLASSIFICATION, Variant.MULTI, None): "8",
    (Task.EMOTION, Variant.MULTI, None): "8",
    (Task.CLASSIFICATION, Variant.SINGLE, None): "9",
    (Task.RETRIEVAL, Variant.MULTI, Direction.V2M): "10",
    (Task.RETRIEVAL, Variant.MULTI, Direction.M2V): "11",
    (Task.RETRIEVAL, Variant.SINGLE, Direction.V2M): "12",
    (Task.RETRIEVAL, Variant.SINGLE, Direction.M2V): "13",
}


@dataclasses.dataclass(frozen=True)
class MetricKey:
    """Where one figure belongs: a row of results.json without the statistics."""

    table: str
    task: Task
    variant: Variant
    model: str
    direction: Direction | None
    metric: str


def metric_key(task: Task, variant: Variant, model: str, direction: Direction | None, metric: str) -> MetricKey:
    return MetricKey(TABLES[(task, variant, direction)], task, variant, model, direction, metric)


# ------------------------------------------------------------------------------------------ data


@dataclasses.dataclass
class DatasetBundle:
    """What the tables of one dataset need: train and val pairs, the reporting pairs, the retrieval set."""

    spec: DatasetSpec
    train: PairSplit
    val: PairSplit
    report: PairSplit
    retrieval: RetrievalSet


def load_bundle(data: Path | str, spec: DatasetSpec) -> DatasetBundle:
    """Load every file the dataset's tables need (:class:`data.MissingDataError` names the first absent one)."""
    splits = {split: load_pairs(data, spec, split) for split in (Split.TRAIN, Split.VAL, spec.report_split)}
    return DatasetBundle(spec, splits[Split.TRAIN], splits[Split.VAL], splits[spec.report_split],
                         load_retrieval(data, spec))


def stopping_split(bundle: DatasetBundle, protocol: Protocol, seed: int, holdout: float) -> tuple[PairSplit, PairSplit]:
    """(rows to fit, rows to early-stop on) under ``protocol``; the clean hold-out is drawn per seed."""
    if protocol is Protocol.PAPER:
        return bundle.train, bundle.val
    fit, held = grouped_holdout(bundle.train.groups, holdout, seed)
    return bundle.train.subset(fit), bundle.train.subset(held)


# ---------------------------------------------------------------------------------------- a run


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything that decides one training run besides the data."""

    variant: Variant
    seed: int
    protocol: Protocol
    config: TrainConfig
    holdout: float = 0.2


@dataclasses.dataclass
class RunOutput:
    """One trained model's figures (fractions) and what the plots need."""

    name: str  # "classifier" / "retrieval" / "baseline"
    run: RunSpec
    values: dict[MetricKey, float]
    training: TrainResult
    model: torch.nn.Module
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)  # model -> (y, score)
    emotions: dict[str, tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)  # head -> (y, pred)
    similarity: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # model -> (Nv, Nm) scores


def _fit(
    build: Callable[[], torch.nn.Module], objective: Objective, bundle: DatasetBundle, run: RunSpec,
    progress: ProgressCallback | None, cancel: CancelToken | None,
) -> tuple[torch.nn.Module, TrainResult, PairSplit]:
    fit_rows, stop_rows = stopping_split(bundle, run.protocol, run.seed, run.holdout)
    generator = seed_everything(run.seed)
    model = build()
    model.fit_scalers(fit_rows.video, fit_rows.music)
    result = train(model, objective, fit_rows, stop_rows, run.config, generator, progress=progress, cancel=cancel)
    return model, result, fit_rows


def _emotion_values(
    out: RunOutput, variant: Variant, model: str, rows: PairSplit, video_logits: torch.Tensor | None,
    music_logits: torch.Tensor | None,
) -> None:
    """Emotion-head accuracy (multi-task models) and the predictions for confusion matrices."""
    for name, labels, logits in ((VIDEO_EMOTION, rows.video_emotion, video_logits),
                                 (MUSIC_EMOTION, rows.music_emotion, music_logits)):
        if logits is None:
            continue
        out.values[metric_key(Task.EMOTION, variant, model, None, name)] = metrics.accuracy(labels, logits)
        out.emotions[f"{model} {name.split('_')[0]}"] = (labels.numpy(), logits.argmax(1).numpy())


def _classification_values(out: RunOutput, variant: Variant, model: str, labels: torch.Tensor,
                           matched_probability: np.ndarray, predicted: np.ndarray) -> None:
    figures = metrics.classification_metrics(labels, matched_probability, predicted)
    for name, value in figures.items():
        out.values[metric_key(Task.CLASSIFICATION, variant, model, None, name)] = value
    out.roc[model] = (labels.numpy(), np.asarray(matched_probability))


def _retrieval_values(out: RunOutput, variant: Variant, model: str, similarity: torch.Tensor,
                      labels: torch.Tensor) -> None:
    """Both directions on a retrieval set (query labels = item labels = the segments' labels)."""
    for direction, sim in ((Direction.V2M, similarity), (Direction.M2V, similarity.T)):
        for name, value in metrics.retrieval_metrics(sim, labels, labels).items():
            out.values[metric_key(Task.RETRIEVAL, variant, model, direction, name)] = value
    out.similarity[model] = similarity.numpy()


def run_classifier(bundle: DatasetBundle, run: RunSpec, progress: ProgressCallback | None = None,
                   cancel: CancelToken | None = None) -> RunOutput:
    """Our binary classifier (tables 8 and 9)."""
    config = ClassifierConfig(multitask=run.variant.multitask)
    model, result, _ = _fit(lambda: ClassificationModel(config), classification_objective, bundle, run, progress,
                            cancel)
    rows = bundle.report
    with torch.no_grad():
        pred = model(rows.video, rows.music)
    out = RunOutput("classifier", run, {}, result, model)
    probability = torch.softmax(pred.match_logits, dim=1)[:, 1].numpy()
    _classification_values(out, run.variant, OURS, rows.match, probability, pred.match_logits.argmax(1).numpy())
    _emotion_values(out, run.variant, OURS, rows, pred.video_emotion_logits, pred.music_emotion_logits)
    return out


def run_retrieval(bundle: DatasetBundle, run: RunSpec, progress: ProgressCallback | None = None,
                  cancel: CancelToken | None = None) -> RunOutput:
    """Our retrieval model (tables 10-13): the engine's :class:`RetrievalModel`."""
    config = ModelConfig(multitask=run.variant.multitask)
    model, result, _ = _fit(lambda: RetrievalModel(config), retrieval_objective, bundle, run, progress, cancel)
    out = RunOutput("retrieval", run, {}, result, model)
    _retrieval_values(out, run.variant, OURS, retrieval_similarity(model, bundle.retrieval), bundle.retrieval.labels)
    return out


@torch.no_grad()
def retrieval_similarity(model: RetrievalModel, items: RetrievalSet | PairSplit) -> torch.Tensor:
    """The model's score of every video with every music, ``(N_video, N_music)``: the cosine of the embeddings
    (plus the emotion agreement for a blended model, :meth:`RetrievalModel.score_matrix`)."""
    model.eval()
    return model.score_matrix(model.embed_video(items.video), model.embed_music(items.music))


def run_baseline(bundle: DatasetBundle, run: RunSpec, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> RunOutput:
    """The modified Li & Kumar baseline: stage 1 network, stage 2 logistic regression on the distance."""
    config = BaselineConfig(multitask=run.variant.multitask)
    model, result, fit_rows = _fit(lambda: BaselineModel(config), baseline_objective, bundle, run, progress, cancel)
    with torch.no_grad():
        fitted = model(fit_rows.video, fit_rows.music)
        reported = model(bundle.report.video, bundle.report.music)
        video, _ = model.embed_video(bundle.retrieval.video)
        music, _ = model.embed_music(bundle.retrieval.music)
    stage2 = LogisticRegression().fit(fitted.distance.numpy()[:, None], fit_rows.match.numpy())
    distance = reported.distance.numpy()[:, None]
    out = RunOutput("baseline", run, {}, result, model)
    _classification_values(out, run.variant, BASELINE, bundle.report.match, stage2.predict_proba(distance)[:, 1],
                           stage2.predict(distance))
    _emotion_values(out, run.variant, BASELINE, bundle.report, reported.video_emotion_logits,
                    reported.music_emotion_logits)
    _retrieval_values(out, run.variant, BASELINE, euclidean_scores(video, music), bundle.retrieval.labels)
    return out


RUNNERS: tuple[Callable[..., RunOutput], ...] = (run_classifier, run_retrieval, run_baseline)
