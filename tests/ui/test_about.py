"""The About box: what the model learnt and how good it is in words; the research figures behind Details."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from emomv_desktop.engine.service import ModelInfo
from emomv_desktop.ui.about import about_details, about_html

SHIPPED_CARD = Path(__file__).resolve().parents[2] / "resources" / "emomv-retrieval.card.json"


def shipped_info() -> ModelInfo:
    card = json.loads(SHIPPED_CARD.read_text(encoding="utf-8"))
    return ModelInfo(device="cpu", pretrained=True, card=card, model_path=SHIPPED_CARD.with_name("emomv-retrieval.pt"))


def test_the_shipped_model_is_described_in_words_with_the_figures_in_details():
    info = shipped_info()
    card = info.card
    text = about_html(info, None)
    data = card["training_data"]
    assert f"{data['pair_rows']} music-video clips" in text and f"{data['music_only_rows']} music-only" in text
    assert all(emotion in text for emotion in card["emotions"])
    for held_out, figures in card["clean_protocol"]["figures"].items():
        hit = figures["retrieval.v2m.top1"]["mean"]
        chance = card["clean_protocol"]["floors"][held_out]["v2m"]["random ranking"]["top1"]
        assert f"{hit:.0f}% of the videos of EmoMV-{held_out} (a random order: {chance:.0f}%)" in text
    assert "mAP" not in text and "ROC" not in text and "±" not in text  # research jargon stays in Details
    details = about_details(info)
    assert "mAP v→m 41.69" in details and "ROC-AUC" in details and str(info.model_path) in details


def test_a_small_card_without_figures_says_only_what_it_has():
    info = ModelInfo(device="cpu", pretrained=False, card={"name": "tiny", "trained_on": "three clips"},
                     model_path=Path("tiny.pt"))
    text = about_html(info, None)
    assert "<b>Trained on:</b> three clips" in text and "How good" not in text
    assert about_html(None, "no model file").count("no model file") == 1 and about_details(None) == ""


def test_the_about_box_has_the_details_behind_its_button(make_window):
    window = make_window()
    box = window.show_about()
    assert box.isVisible() and box.detailedText() == about_details(window.model_info)
    assert "nothing (tests only)" in box.detailedText() and "random test model" in box.text()
    show_details = [b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.ActionRole]
    assert show_details, "QMessageBox adds a Show Details… button when there is detailed text"
    box.close()
