"""The model the app ships (``resources/emomv-retrieval.pt`` + card): it loads by default, its card is honest
and reproducible, and a card that does not fit the engine is refused."""

from __future__ import annotations

import json
import shlex
import shutil

import pytest
import torch

from emomv_desktop.engine import paths
from emomv_desktop.engine.errors import ModelFileError
from emomv_desktop.engine.model import card_path_for
from emomv_desktop.engine.loading import load_retrieval_model
from emomv_desktop.engine.protocol import FEATURE_PROTOCOL, MUSIC_BACKBONE, VIDEO_BACKBONE
from emomv_desktop.ui.about import card_rows, shown_card
from training.cli import main
from training.fit import DATA_PLACEHOLDER, clean_summary
from training.metrics import SEED_STD

SHIPPED = paths.RESOURCES_DIR / paths.SHIPPED_MODEL_NAME
CHECKED = ("retrieval.v2m.mAP", "retrieval.m2v.mAP", "retrieval.v2m.cb_mAP", "retrieval.m2v.cb_mAP",
           "pairs.pair_auc", "pairs.v2m.mAP")


@pytest.fixture()
def shipped(monkeypatch):
    monkeypatch.delenv("EMOMV_MODEL", raising=False)
    assert paths.model_path().resolve() == SHIPPED.resolve()  # the default the app loads
    return load_retrieval_model()


def test_the_shipped_model_loads_by_default_and_is_small(shipped):
    assert SHIPPED.stat().st_size < 5 * 2**20 and card_path_for(SHIPPED).stat().st_size < 2**20
    card = shipped.card
    assert shipped.model_id == card["weights_sha256"] and not shipped.model.training
    assert card["backbones"] == {"video": VIDEO_BACKBONE, "music": MUSIC_BACKBONE}
    assert card["feature_protocol"] == FEATURE_PROTOCOL
    assert shipped.model.config.multitask and shipped.model.config.agreement_weight == card["selected"]["agreement_weight"]
    assert card["training_data"]["pair_rows"] == 792 and card["training_data"]["music_only_rows"] == 5162
    # the engine runs it on raw backbone features: scalers are inside, outputs are finite
    out = shipped.model.embed_video(torch.rand(3, 2304))
    assert torch.isfinite(shipped.model.score_vector(out)).all()
    probabilities = shipped.model.emotion_probabilities(out, "video")
    torch.testing.assert_close(probabilities.sum(1), torch.ones(3))
    # the About box shows the card's headline, not its every figure
    rows = dict(card_rows(shown_card(card)))
    assert any("EmoMV-C held out" in k for k in rows) and "clean_protocol / command" not in rows


def test_the_cards_clean_protocol_figures_come_from_its_command(shipped, emomv_data, capsys):
    clean = shipped.card["clean_protocol"]
    assert len(clean["seeds"]) >= 5 and 1 in clean["seeds"]
    words = shlex.split(clean["command"])
    assert words[:2] == ["emomv-train", "recipe"] and DATA_PLACEHOLDER in words
    # re-run it for seed 1, EmoMV-C only: seed 1 was one of the card's seeds, so each figure is in its range
    words[words.index(DATA_PLACEHOLDER)] = str(emomv_data)
    words[words.index("--seeds") + 1] = "1"
    words[words.index("--held-out") + 1] = "C"
    capsys.readouterr()
    assert main(words[1:]) == 0
    figures = json.loads(capsys.readouterr().out)["datasets"]["C"]["per_seed"][0]
    for name in CHECKED:
        low, high = clean["figures"]["C"][name]["min"], clean["figures"]["C"][name]["max"]
        assert low - 1e-6 <= figures[name] <= high + 1e-6, (name, figures[name], low, high)


def test_the_cards_headline_is_its_figures_and_says_which_std():
    card = json.loads(card_path_for(SHIPPED).read_text(encoding="utf-8"))
    clean = card["clean_protocol"]
    assert clean["std"] == SEED_STD
    headline = {k: v for k, v in card["summary"].items() if k.startswith("clean protocol")}
    assert headline == clean_summary(clean["figures"], len(clean["seeds"])) and len(headline) == len(clean["figures"])
    assert all("sample std" in k for k in headline)


@pytest.mark.parametrize("tamper, fragment", [
    (lambda card: card["feature_protocol"]["video"].update(backbone="x3d_m/kinetics400"), "video backbone"),
    (lambda card: card["feature_protocol"]["music"].update(pooling="max over frames"), "music pooling"),
    (lambda card: card.update(weights_sha256="0" * 64), "sha256"),
])
def test_a_card_that_does_not_fit_is_refused(tmp_path, tamper, fragment):
    model = tmp_path / "model.pt"
    shutil.copy(SHIPPED, model)
    card = json.loads(card_path_for(SHIPPED).read_text())
    tamper(card)
    card_path_for(model).write_text(json.dumps(card))
    with pytest.raises(ModelFileError, match=fragment):
        load_retrieval_model(model)


def test_a_model_without_its_card_is_refused(tmp_path):
    model = tmp_path / "model.pt"
    shutil.copy(SHIPPED, model)
    with pytest.raises(ModelFileError, match="card"):
        load_retrieval_model(model)
