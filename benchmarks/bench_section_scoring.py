"""How a section longer than one 30 s window should be scored, on EmoMV-C's released features.

A cue of k consecutive 30 s segments of one music video (matched pairs of EmoMV-C train + val, ids
``<video>_<n>``) is a query (the mean of its SlowFast features, as a multi-scene cue is); every run of k
consecutive music segments is a candidate, scored three ways: the mean of its windows' scores (what the ranker
does), their minimum (every part must fit), and the score of the mean feature. Prints the rank of the true run.

    PYTHONPATH=. python benchmarks/bench_section_scoring.py ../shared/emomv

The shipped model saw EmoMV-C train and val, so the figures are in-sample: they compare the variants, not the model.
"""
import sys

import numpy as np
import torch

from emomv_desktop.engine.model import load_model
from training.data import load_pairs
model, _ = load_model("resources/emomv-retrieval.pt"); model.eval()
seg = {}
for split in ("train", "val"):
    p = load_pairs(sys.argv[1], "C", split)
    for k, pid in enumerate(p.ids):
        if int(p.match[k]) == 1 and pid not in seg:
            seg[pid] = (p.video[k].numpy(), p.music[k].numpy())
src = {}
for s in seg:
    a, n = s.rsplit("_", 1)
    if n.isdigit(): src.setdefault(a, {})[int(n)] = s
with torch.no_grad():
    names = list(seg)
    idx = {s: i for i, s in enumerate(names)}
    M = torch.tensor(np.stack([seg[s][1] for s in names]))
    Mv = model.score_vector(model.embed_music(M)).numpy()
    for k in (1, 2, 3, 4):
        runs = [[src[a][n + j] for j in range(k)] for a in src for n in src[a] if all(n + j in src[a] for j in range(k))]
        if len(runs) < 5:
            print(f"k={k} ({30*k} s cues): {len(runs)} runs of consecutive matched segments, too few"); continue
        V = torch.tensor(np.stack([np.mean([seg[s][0] for s in r], 0) for r in runs]))
        Q = model.score_vector(model.embed_video(V)).numpy()
        mean_feat = torch.tensor(np.stack([np.mean([seg[s][1] for s in r], 0) for r in runs]))
        Pm = model.score_vector(model.embed_music(mean_feat)).numpy()
        win = np.stack([Mv[[idx[s] for s in r]] for r in runs])  # (R, k, D)
        S = np.einsum("qd,rkd->qrk", Q, win)
        variants = {"mean of window scores": S.mean(2), "min of window scores": S.min(2),
                    "score of the mean feature": Q @ Pm.T}
        out = []
        for name, sc in variants.items():
            rank = (sc > np.diag(sc)[:, None]).sum(1) + 1
            out.append(f"{name}: median rank {np.median(rank):.0f}, MRR {np.mean(1/rank):.3f}, R@10 {np.mean(rank<=10):.2f}")
        print(f"k={k} ({30*k} s cues, {len(runs)} runs): " + "; ".join(out))
