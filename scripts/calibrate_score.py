#!/usr/bin/env python
"""Compute a retrieval model's 0-100 match scale and write it into its model card (``score_scale``).

The scale is the empirical distribution of the model's score over every video x music pairing of the released
EmoMV-B and EmoMV-C retrieval sets (120 x 120 + 96 x 96 pairings), as ``emomv_desktop.engine.scale`` describes:

    .venv/bin/python scripts/calibrate_score.py --data ../shared/emomv resources/emomv-retrieval.pt

Only the card's ``score_scale`` entry changes (the weights and their sha256 do not). ``--dry-run`` prints it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's packages, not an installed copy
from emomv_desktop.engine.fileio import write_text_atomically
from emomv_desktop.engine.model import card_path_for, load_model
from emomv_desktop.engine.scale import CARD_KEY, ScoreScale
from training.data import load_retrieval
from training.experiments import retrieval_similarity

DATASETS = ("B", "C")


def pairing_scores(model, data: Path) -> np.ndarray:
    """The model's score of every video with every music of each retrieval set, flattened and concatenated."""
    with torch.no_grad():
        return np.concatenate([retrieval_similarity(model, load_retrieval(data, key)).numpy().ravel()
                               for key in DATASETS])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="the model's .pt file (its .card.json beside it is updated)")
    parser.add_argument("--data", type=Path, required=True, help="the EmoMV collection folder")
    parser.add_argument("--dry-run", action="store_true", help="print the scale, change nothing")
    args = parser.parse_args(argv)
    model, card = load_model(args.model)
    scores = pairing_scores(model, args.data)
    scale = ScoreScale.fit(scores, f"every video x music pairing of the EmoMV-B and EmoMV-C retrieval sets "
                                   f"({len(scores)} pairings)")
    if args.dry_run:
        print(json.dumps(scale.to_card()))
        return 0
    card[CARD_KEY] = scale.to_card()
    path = card_path_for(args.model)
    write_text_atomically(path, json.dumps(card, indent=2) + "\n")
    print(f"{path}: score_scale from {len(scores)} pairings, median score {np.median(scores):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
