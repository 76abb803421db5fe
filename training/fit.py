"""``emomv-train fit``: judge the recipe under the clean protocol, then train the shipped model on every example.

The model card (``NAME.card.json`` beside ``NAME.pt``) records what the app and a reader need: the training
data and counts, the recipe and what it chose, the clean-protocol figures with the command that reproduces
them, the feature protocol and backbone identifiers the model expects (the engine refuses a model whose card
disagrees with it), the sha256 of the weights. ``<DATA>`` in the recorded commands stands for the EmoMV
collection's folder (no machine path is recorded).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Sequence

from emomv_desktop.engine.emotions import Emotion
from emomv_desktop.engine.jobs import CancelToken, ProgressCallback, report
from emomv_desktop.engine.model import save_model
from emomv_desktop.engine.protocol import MUSIC_BACKBONE, VIDEO_BACKBONE

from .metrics import SEED_STD
from .recipe import HELD_OUT, Recipe, build_pool, evaluate_recipe

CARD_VERSION = 1
MODEL_NAME = "emomv-retrieval"
MODEL_VERSION = "1.0.0"
DATA_PLACEHOLDER = "<DATA>"
PAPER_FIGURES = {"retrieval.v2m.mAP": 41.64, "retrieval.m2v.mAP": 41.98}
"""The paper's multi-task retrieval mAP on EmoMV-C (Tables 10/11), under its own protocol."""
CARD_FIGURES = (
    "retrieval.v2m.mAP", "retrieval.m2v.mAP", "retrieval.v2m.cb_mAP", "retrieval.m2v.cb_mAP",
    "retrieval.v2m.top1", "retrieval.m2v.top1", "retrieval.v2m.top5", "retrieval.m2v.top5",
    "retrieval.v2m_cosine_only.mAP", "retrieval.m2v_cosine_only.mAP",
    "pairs.pair_auc", "pairs.v2m.mAP", "pairs.m2v.mAP",
    "pairs.video_emotion_accuracy", "pairs.music_emotion_accuracy",
    "pairs.video_ece_raw", "pairs.video_ece", "pairs.music_ece_raw", "pairs.music_ece",
    "agreement_weight", "epochs",
)


def recipe_arguments(recipe: Recipe) -> list[str]:
    """The ``emomv-train`` options that reproduce ``recipe`` (shared by ``recipe`` and ``fit``)."""
    return ["--music-only-weight", f"{recipe.music_only_weight:g}", "--holdout", f"{recipe.holdout:g}",
            "--max-epochs", str(recipe.train.max_epochs), "--video-std-floor", f"{recipe.video_std_floor:g}"]


def recipe_command(recipe: Recipe, seeds: int, held_out: Sequence[str]) -> str:
    """The command whose output the card's clean-protocol figures are."""
    return " ".join(["emomv-train", "recipe", "--data", DATA_PLACEHOLDER, "--seeds", str(seeds), "--held-out",
                     ",".join(held_out), *recipe_arguments(recipe), "--json"])


def _figure_text(summary: dict[str, dict[str, float]], key: str, digits: int = 2) -> str:
    s = summary[key]
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f} [{s['min']:.{digits}f}, {s['max']:.{digits}f}]"


def clean_summary(figures: dict[str, dict[str, dict[str, float]]], seeds: int) -> dict[str, str]:
    """The card's headline lines: per held-out dataset, its clean-protocol figures as mean ± std [min, max]."""
    return {
        f"clean protocol, EmoMV-{key} held out ({seeds} seeds; mean ± sample std [min, max])": (
            f"mAP v→m {_figure_text(s, 'retrieval.v2m.mAP')}, m→v {_figure_text(s, 'retrieval.m2v.mAP')}; "
            f"class-balanced mAP v→m {_figure_text(s, 'retrieval.v2m.cb_mAP')}, "
            f"m→v {_figure_text(s, 'retrieval.m2v.cb_mAP')}; pair ROC-AUC {_figure_text(s, 'pairs.pair_auc', 3)}"
        )
        for key, s in figures.items()
    }


def build_card(
    recipe: Recipe, pool_parts: list[dict[str, Any]], counts: dict[str, int], fitted_choice: dict[str, Any],
    clean: dict[str, Any], seeds: int, seed: int, held_out: Sequence[str],
) -> dict[str, Any]:
    """The model card (without the fields ``save_model`` fills: config, feature protocol, sha256)."""
    clean_figures = {
        key: {name: dataset["summary"][name] for name in CARD_FIGURES}
        for key, dataset in clean["datasets"].items()
    }
    def names(use: str) -> str:
        return ", ".join(p["name"] for p in pool_parts if p["use"].startswith(use)) or "none"

    summary = {"trained on": f"{counts['pair_rows']} video-music pairs ({names('pairs')}) + "
                             f"{counts['music_only_rows']} music-only rows ({names('music only')})"}
    summary.update(clean_summary(clean_figures, len(clean["seeds"])))
    summary["score"] = f"cosine + {fitted_choice['agreement_weight']:g} × agreement of the emotion distributions"
    return {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "card_version": CARD_VERSION,
        "created": datetime.date.today().isoformat(),
        "summary": summary,
        "command": " ".join(["emomv-train", "fit", "--data", DATA_PLACEHOLDER, "--out", "FILE", "--seeds",
                             str(seeds), "--seed", str(seed), *recipe_arguments(recipe)]),
        "backbones": {"video": VIDEO_BACKBONE, "music": MUSIC_BACKBONE},
        "emotions": [e.name.lower() for e in Emotion],
        "training_data": {"parts": pool_parts, **counts},
        "recipe": recipe.to_dict(),
        "selected": fitted_choice,
        "clean_protocol": {
            "command": recipe_command(recipe, seeds, held_out),
            "seeds": clean["seeds"],
            "figures": clean_figures,
            "floors": {key: dataset["floors"] for key, dataset in clean["datasets"].items()},
            "reported_on": {key: dataset["reported_on"] for key, dataset in clean["datasets"].items()},
            "training_data": {key: dataset["training_data"] for key, dataset in clean["datasets"].items()},
            "skipped": clean["skipped"],
            "paper": PAPER_FIGURES,
            "units": "percent for mAP, top-k and accuracy; ROC-AUC and ECE as fractions",
            "std": SEED_STD,
        },
        "scalers": ("per-modality mean/std fitted on every training row, stored in the weights (raw features in); "
                    f"the video spread floored at {recipe.video_std_floor:g} x its median"),
    }


def fit_and_save(
    data: Path | str, out: Path | str, recipe: Recipe, *, seeds: int = 5, seed: int = 1,
    held_out: Sequence[str] = HELD_OUT, jobs: int = 1, progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """Judge ``recipe`` over ``seeds`` (clean protocol), train the final model on everything, write it + card;
    the ``seeds`` x held-out runs and the final model run in ``jobs`` processes (same figures for any ``jobs``)."""
    pool = build_pool(data)
    report(progress, 0, 1, f"final model on {pool.counts()['pair_rows']} pairs + "
                           f"{pool.counts()['music_only_rows']} music-only rows, and the clean protocol")
    clean = evaluate_recipe(data, recipe, list(range(1, seeds + 1)), held_out, jobs=jobs, final=(pool, seed),
                            progress=progress, cancel=cancel)
    fitted = clean.pop("final")
    choice = {"agreement_weight": fitted.agreement_weight, "epochs": fitted.epochs,
              "video_temperature": fitted.temperatures[0], "music_temperature": fitted.temperatures[1],
              "holdout_selection_scores": fitted.holdout_scores, "seed": seed}
    card = build_card(recipe, [p.to_dict() for p in pool.parts], pool.counts(), choice, clean, seeds, seed, held_out)
    return save_model(out, fitted.model, card)

