"""``emomv-train va-sweep``: what the EMID-style valence-arousal blend's alpha does to retrieval.

The blend (:mod:`emomv_desktop.engine.va`): ``alpha * model score + (1 - alpha) * (lo + (hi - lo) * closeness)``,
closeness ``1 - |pos_video - pos_music| / D`` of the two valence-arousal positions (the expectation of each
side's calibrated emotion distribution), ``[lo, hi]`` the range the model's score can take.

Protocol (clean, as ``emomv-train recipe``): for each held-out dataset (EmoMV-C, EmoMV-B) and each seed, the
shipped model's recipe (:func:`training.recipe.fit_recipe`) trains on the pool without that dataset's val split
and retrieval set; on the held-out retrieval set (relevance: the segment's emotion, as in the paper) every alpha
of the grid ranks both directions, and :func:`training.metrics.retrieval_metrics` gives mAP and class-balanced
mAP; ``mean`` is the recipe's selection score (:func:`training.recipe.selection_score`: the mean of mAP and
class-balanced mAP over both directions). A saved model (by default the app's shipped one) is swept on the same
sets too: it was trained on them, so its rows are not clean and are listed apart.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from emomv_desktop.engine.jobs import CancelToken, ProgressCallback, report
from emomv_desktop.engine.model import RetrievalModel, load_model
from emomv_desktop.engine.va import SPACES, VASpace, blend, score_range

from . import metrics
from .data import RetrievalSet, dataset_spec, load_retrieval
from .recipe import HELD_OUT, Recipe, build_pool, fit_recipe, selection_score

ALPHAS = tuple(round(0.1 * k, 1) for k in range(11))
"""The alpha grid: 0 (valence-arousal closeness alone) to 1 (the model's score alone) in steps of 0.1."""

_PAIRS = tuple((d, m) for m in (metrics.MAP, metrics.CB_MAP) for d in ("v2m", "m2v"))
FIGURES = tuple(f"{d}.{m}" for d, m in _PAIRS) + ("mean",)
"""Columns of the sweep: mAP and class-balanced mAP of both directions, and their mean (the selection score)."""
DEFAULT_SEEDS = 5
"""Seeds of the clean sweep by default: each is one recipe fit per held-out dataset (docs/queries.md reports
seeds 1-5 and how long they took)."""


@torch.no_grad()
def sweep_model(model: RetrievalModel, items: RetrievalSet, alphas: Sequence[float] = ALPHAS,
                spaces: Sequence[VASpace] = tuple(SPACES.values())) -> np.ndarray:
    """Figures (fractions) of every (space, alpha, figure of :data:`FIGURES`) on a retrieval set."""
    model.eval()
    video, music = model.embed_video(items.video), model.embed_music(items.music)
    scores = model.score_matrix(video, music).double().numpy()
    if video.emotion_logits is None:
        raise ValueError("the valence-arousal blend needs a multi-task model (emotion heads)")
    p_video = model.emotion_probabilities(video, "video").double().numpy()
    p_music = model.emotion_probabilities(music, "music").double().numpy()
    labels = items.labels.numpy()
    out = np.empty((len(spaces), len(alphas), len(FIGURES)))
    for s, space in enumerate(spaces):
        closeness = space.closeness(space.position(p_video)[:, None], space.position(p_music)[None])
        for a, alpha in enumerate(alphas):
            blended = blend(scores, closeness, alpha, score_range(model))
            figures = {"v2m": metrics.retrieval_metrics(blended, labels, labels),
                       "m2v": metrics.retrieval_metrics(blended.T, labels, labels)}
            out[s, a] = [figures[d][m] for d, m in _PAIRS] + [selection_score(blended, labels, labels)]
    return out


def summarise(runs: np.ndarray, alphas: Sequence[float], spaces: Sequence[VASpace]) -> dict[str, Any]:
    """(seeds, spaces, alphas, figures) fractions -> {space: {alpha: {figure: mean/std/min/max in %}}}, each
    :func:`metrics.seed_summary` over the seeds (std: :data:`metrics.SEED_STD`)."""
    percent = 100.0 * runs
    return {space.name: {f"{alpha:.1f}": {figure: metrics.seed_summary(percent[:, s, a, f])
                                          for f, figure in enumerate(FIGURES)}
                         for a, alpha in enumerate(alphas)}
            for s, space in enumerate(spaces)}


def best_alpha(summary: dict[str, Any], space: str) -> float:
    """The alpha with the highest mean ``mean`` figure over the datasets of ``summary`` (ties: the larger)."""
    alphas = list(next(iter(summary.values()))[space])
    score = {a: np.mean([dataset[space][a]["mean"]["mean"] for dataset in summary.values()]) for a in alphas}
    return float(max(alphas, key=lambda a: (score[a], float(a))))


def va_sweep(
    data: Path | str,
    seeds: Sequence[int],
    held_out: Sequence[str] = HELD_OUT,
    *,
    recipe: Recipe = Recipe(),
    model_path: Path | str | None = None,
    alphas: Sequence[float] = ALPHAS,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """The sweep (see the module docstring); ``model_path``: a saved model swept on the same sets (not clean)."""
    started = time.perf_counter()
    spaces = tuple(SPACES.values())
    result: dict[str, Any] = {
        "alphas": list(alphas), "seeds": list(seeds), "units": "percent", "figures": list(FIGURES),
        "spaces": {s.name: {"source": s.source, "coordinates": s.coordinates.round(4).tolist()} for s in spaces},
        "clean": {}, "saved_model": None,
    }
    saved = load_model(model_path)[0] if model_path is not None else None
    saved_runs = {}
    steps = len(held_out) * len(seeds)
    for d, key in enumerate(held_out):
        spec = dataset_spec(key)
        pool = build_pool(data, exclude=(spec.key,))
        items = load_retrieval(data, spec)
        runs = []
        for n, seed in enumerate(seeds):
            report(progress, d * len(seeds) + n, steps, f"{spec.name} held out: seed {seed}")
            runs.append(sweep_model(fit_recipe(pool, recipe, seed, cancel=cancel).model, items, alphas, spaces))
        result["clean"][spec.key] = summarise(np.stack(runs), alphas, spaces)
        if saved is not None:
            saved_runs[spec.key] = summarise(sweep_model(saved, items, alphas, spaces)[None], alphas, spaces)
    if saved is not None:
        result["saved_model"] = {"path": str(model_path), "datasets": saved_runs}
    result["best_alpha"] = {s.name: best_alpha(result["clean"], s.name) for s in spaces}
    result["seconds"] = time.perf_counter() - started
    report(progress, steps, steps, "done")
    return result


def _table(title: str, summary: dict[str, Any], with_std: bool) -> list[str]:
    lines = [title]
    for space, rows in summary.items():
        lines.append(f"  {space}: alpha " + "".join(f"{name:>16}" for name in FIGURES))
        for alpha, figures in rows.items():
            cells = (f"{f['mean']:7.2f} ± {f['std']:5.2f}" if with_std else f"{f['mean']:15.2f}"
                     for f in figures.values())
            lines.append(f"  {'':{len(space)}}  {alpha:>5} " + "".join(f"{c:>16}" for c in cells))
    return lines


def format_va_sweep(result: dict[str, Any]) -> str:
    """A plain-text table of :func:`va_sweep`'s result (mean ± std over seeds, %)."""
    lines = [f"valence-arousal blend: alpha * model score + (1 - alpha) * closeness; seeds {result['seeds']}, "
             f"clean protocol (mean ± std over seeds, %; {metrics.SEED_STD})"]
    for key, summary in result["clean"].items():
        lines += _table(f"EmoMV-{key} held out (its retrieval set):", summary, with_std=True)
    if result["saved_model"] is not None:
        for key, summary in result["saved_model"]["datasets"].items():
            lines += _table(f"{result['saved_model']['path']} on EmoMV-{key} (trained on it: not clean):", summary,
                            with_std=False)
    lines.append("best alpha by the mean over the held-out datasets: "
                 + ", ".join(f"{space} {alpha:.1f}" for space, alpha in result["best_alpha"].items()))
    return "\n".join(lines)
