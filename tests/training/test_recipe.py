"""The shipped model's recipe: masked losses, the data pool, calibration, ``emomv-train recipe``/``fit``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from emomv_desktop.engine.model import ModelConfig, RetrievalModel, load_model
from training.cli import main
from training.data import load_pairs
from training.recipe import (
    Recipe, Rows, Streams, build_pool, expected_calibration_error, fit_temperature, masked_objective,
)


def _rows(n_pairs: int, n_music_only: int, weight: float = 1.0, seed: int = 0) -> tuple[Rows, Rows]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 5, (n_pairs,), generator=g)
    pairs = Rows(torch.rand(n_pairs, 2304, generator=g), torch.randn(n_pairs, 128, generator=g),
                 torch.ones(n_pairs, dtype=torch.bool), torch.ones(n_pairs, dtype=torch.long), labels, labels,
                 torch.ones(n_pairs))
    music_labels = torch.randint(0, 5, (n_music_only,), generator=g)
    music_only = Rows(torch.zeros(n_music_only, 2304), torch.randn(n_music_only, 128, generator=g),
                      torch.zeros(n_music_only, dtype=torch.bool), torch.zeros(n_music_only, dtype=torch.long),
                      music_labels, music_labels, torch.full((n_music_only,), weight))
    return pairs, music_only


def _model() -> RetrievalModel:
    torch.manual_seed(0)
    return RetrievalModel(ModelConfig()).eval()  # eval: no dropout, so losses can be recomputed exactly


def test_music_only_rows_train_only_the_music_emotion_path():
    model = _model()
    _, music_only = _rows(0, 32)
    loss = masked_objective(model, music_only)
    expected = F.cross_entropy(model.embed_music(music_only.music).emotion_logits, music_only.music_emotion)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert model.music_in.weight.grad.abs().sum() > 0 and model.music_emotion.weight.grad.abs().sum() > 0
    for name, parameter in model.named_parameters():
        if not name.startswith(("music_in", "music_emotion")):
            assert parameter.grad is None or not parameter.grad.any(), name  # nothing reaches video or heads


def test_masked_objective_on_a_mixed_batch():
    model = _model()
    pairs, music_only = _rows(8, 8, weight=0.5)
    batch = Rows.concat([pairs, music_only])
    v, m = model.embed_video(pairs.video), model.embed_music(batch.music)
    distance = 1 - (v.embedding * m.embedding[:8]).sum(-1)
    contrastive = (distance.pow(2)).sum() / (2 * 8)  # every pair row is matched here
    music_ce = F.cross_entropy(m.emotion_logits, batch.music_emotion, reduction="none")
    music_term = music_ce[:8].mean() + 0.5 * music_ce[8:].mean()  # each group's mean, music-only weighted
    expected = contrastive + F.cross_entropy(v.emotion_logits, pairs.video_emotion) + music_term
    torch.testing.assert_close(masked_objective(model, batch), expected)


def test_streams_top_up_each_batch_with_music_only_rows():
    pairs, music_only = _rows(10, 50)
    streams = Streams(pairs, music_only, seed=3)
    assert len(streams) == 10
    batch = streams.subset([4, 1, 7])
    assert len(batch) == 6 and batch.has_video.tolist() == [True] * 3 + [False] * 3
    torch.testing.assert_close(batch.music[:3], pairs.music[[4, 1, 7]])
    assert all(any(torch.equal(row, other) for other in music_only.music) for row in batch.music[3:])
    assert len(Streams(pairs, None, seed=3).subset([0, 1])) == 2


def test_temperature_fit_recovers_a_known_temperature():
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(20_000, 5, generator=g)
    labels = torch.multinomial(torch.softmax(logits / 2.5, dim=1), 1, generator=g).squeeze(1)
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.06)


def test_expected_calibration_error():
    probabilities = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    # bin 0.9: accuracy 1/2 vs confidence 0.9 -> 0.4 * 1/2; bin 0.6: accuracy 1/2 vs 0.6 -> 0.1 * 1/2
    labels = torch.tensor([0, 1, 0, 1])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.25)
    assert expected_calibration_error(probabilities, torch.tensor([0, 0, 0, 0])) == pytest.approx(0.25)
    assert expected_calibration_error(torch.tensor([[1.0, 0.0]] * 4), torch.zeros(4, dtype=torch.long)) == 0


# ------------------------------------------------------------------------------------- on EmoMV's files


def test_pool_uses_every_labelled_example_and_excludes_what_is_reported(emomv_data):
    everything = build_pool(emomv_data)
    names = {p.name: p for p in everything.parts}
    assert names["EmoMV-C train"].rows == 360 and names["EmoMV-C val"].rows == 96
    assert names["EmoMV-B val"].use == "pairs" and names["EmoMV-B retrieval set"].rows == 120
    assert {names[n].use for n in ("EmoMV-A train", "EmoMV-A val", "EmoMV-B train")} == {"music only"}
    assert everything.counts() == {"pair_rows": 360 + 96 + 96 + 120 + 120, "music_only_rows": 4110 + 556 + 496}
    no_c = {p.name for p in build_pool(emomv_data, exclude=("C",)).parts}
    assert not {"EmoMV-C val", "EmoMV-C retrieval set"} & no_c and "EmoMV-C train" in no_c and "EmoMV-B val" in no_c
    no_b = {p.name for p in build_pool(emomv_data, exclude=("B",)).parts}
    assert not {"EmoMV-B val", "EmoMV-B retrieval set"} & no_b and "EmoMV-C val" in no_b


def test_fit_writes_a_model_and_card_the_engine_loads(emomv_data, tmp_path, capsys):
    out = tmp_path / "small.pt"
    assert main(["fit", "--data", str(emomv_data), "--out", str(out), "--seeds", "1", "--held-out", "C",
                 "--max-epochs", "3"]) == 0
    model, card = load_model(out)
    assert model.config.multitask and model.config.agreement_weight in Recipe().lambdas
    assert card["clean_protocol"]["seeds"] == [1] and set(card["clean_protocol"]["figures"]) == {"C"}
    assert card["clean_protocol"]["command"].startswith("emomv-train recipe --data <DATA> --seeds 1 --held-out C")
    assert card["training_data"]["pair_rows"] == 792 and card["selected"]["epochs"] <= 3
    assert str(emomv_data) not in out.with_name("small.card.json").read_text()  # no machine path recorded
    # the video spread is floored (the recorded command says by how much), the music spread is not
    assert f"--video-std-floor {Recipe().video_std_floor:g}" in card["command"] and Recipe().video_std_floor > 0
    pool = build_pool(emomv_data)
    video = torch.cat([p.video for p in pool.pairs]).double()
    spread = video.std(0, unbiased=False)
    floor = Recipe().video_std_floor * spread[spread > 1e-8].median().item()
    assert (spread[spread > 1e-8] < floor).sum() > 100  # many dimensions are lifted to the floor ...
    assert model.video_scaler.std.min() == pytest.approx(floor, rel=1e-5)  # ... and none stays below it
    music = torch.cat([p.music for p in pool.pairs + pool.music_only]).double().std(0, unbiased=False)
    torch.testing.assert_close(model.music_scaler.std.double(), music.where(music > 1e-8, 1.0), rtol=1e-5, atol=0)
    # evaluate reports the pair figures of a blended, calibrated model
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out), "--data", str(emomv_data), "--dataset", "C", "--split", "val",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # recomputed here from the saved model: each pair scored as the engine ranks (a dot product of score vectors),
    # the AUC as the share of matched-mismatched pairs ordered right (ties one half)
    pairs = load_pairs(emomv_data, "C", "val")
    with torch.no_grad():
        video, music = model.embed_video(pairs.video), model.embed_music(pairs.music)
        scores = (model.score_vector(video) * model.score_vector(music)).sum(1)
    matched, mismatched = scores[pairs.match.bool()], scores[~pairs.match.bool()]
    wins = (matched[:, None] > mismatched[None, :]).double() + 0.5 * (matched[:, None] == mismatched[None, :]).double()
    assert result["pairs"]["pair_auc"] == pytest.approx(wins.mean().item(), abs=1e-6)
    calibrated = expected_calibration_error(model.emotion_probabilities(video, "video"), pairs.video_emotion)
    assert result["pairs"]["video_ece"] == pytest.approx(calibrated)  # the saved temperature applied


def test_recipe_refuses_data_without_emomv_c(tmp_path, capsys):
    assert main(["recipe", "--data", str(tmp_path), "--seeds", "1", "--held-out", "C"]) == 1
    err = capsys.readouterr().err
    assert "DS3_TRAIN_MATCH_MISMATCH_labels.csv" in err and "zenodo" in err.lower()


def test_seeds_differ_but_are_reproducible(emomv_data):
    from training.recipe import evaluate_recipe

    recipe = Recipe(train=Recipe().train.__class__(max_epochs=4))
    first = evaluate_recipe(emomv_data, recipe, [1, 2], ("C",))["datasets"]["C"]["per_seed"]
    again = evaluate_recipe(emomv_data, recipe, [1], ("C",))["datasets"]["C"]["per_seed"]
    assert first[0]["retrieval.v2m.mAP"] == again[0]["retrieval.v2m.mAP"]
    assert first[0]["retrieval.v2m.mAP"] != first[1]["retrieval.v2m.mAP"]
    assert np.isfinite(first[0]["pairs.pair_auc"])


def test_seeds_in_processes_give_the_same_figures_and_final_model(emomv_data):
    """``--jobs``: each run seeds itself, so the figures and the final model do not depend on where they ran."""
    from training.recipe import evaluate_recipe

    recipe = Recipe(train=Recipe().train.__class__(max_epochs=3))
    final = (build_pool(emomv_data), 1)
    here = evaluate_recipe(emomv_data, recipe, [1, 2], ("C",), final=final)
    there = evaluate_recipe(emomv_data, recipe, [1, 2], ("C",), jobs=2, final=final)
    drop = lambda runs: [{k: v for k, v in run.items() if k != "seconds"} for run in runs]  # noqa: E731
    assert drop(here["datasets"]["C"]["per_seed"]) == drop(there["datasets"]["C"]["per_seed"])
    a, b = here["final"].model.state_dict(), there["final"].model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
