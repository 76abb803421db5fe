"""The About box's text: the app, and the model card of the loaded retrieval model."""

from __future__ import annotations

import html
from typing import Any

from emomv_desktop import __version__

from emomv_desktop.engine.service import ModelInfo

APP_TITLE = "EmoMV Desktop"
TEST_MODE_TEXT = "Random weights (demo/test mode)"
INTRO = "Finds music for a video by emotion: SlowFast and VGGish features compared by the EmoMV retrieval model."


def card_rows(card: dict[str, Any]) -> list[tuple[str, str]]:
    """A model card as ``(name, value)`` rows, nested entries flattened to ``a / b``."""
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix} / {key}" if prefix else str(key), sub)
        elif isinstance(value, (list, tuple)):
            rows.append((prefix, ", ".join(str(v) for v in value)))
        else:
            rows.append((prefix, str(value)))

    walk("", card)
    return rows


SHOWN_FIELDS = ("name", "version", "created", "summary", "backbones", "selected", "weights_sha256")
"""Card fields the About box shows when the card has a ``summary`` (a card written by ``emomv-train fit``; the
whole card, with per-part counts and every clean-protocol figure, is in the ``.card.json`` file)."""


def shown_card(card: dict[str, Any]) -> dict[str, Any]:
    """What the About box lists: the headline fields of a full model card, or a small card whole."""
    if "summary" not in card:
        return card
    selected = card.get("selected", {})
    shown = {k: card[k] for k in SHOWN_FIELDS if k in card}
    if isinstance(selected, dict):
        shown["selected"] = {k: v for k, v in selected.items() if not isinstance(v, dict)}
    return shown


def _trained_on(card: dict[str, Any]) -> str | None:
    """What the model learnt from, in words (a full card's training counts, or a small card's own line)."""
    data = card.get("training_data")
    if isinstance(data, dict) and "pair_rows" in data:
        emotions = card.get("emotions") or []
        feelings = f" labelled with {len(emotions)} emotions ({', '.join(emotions)})" if emotions else ""
        return (f"{data['pair_rows']} music-video clips (video and music together) and {data.get('music_only_rows', 0)} "
                f"music-only clips of the EmoMV data set{feelings}.")
    summary = card.get("summary")
    text = summary.get("trained on") if isinstance(summary, dict) else card.get("trained_on")
    return str(text) if text else None


def _how_good(card: dict[str, Any]) -> str | None:
    """How often the first suggestion has the video's emotion on held-out videos, beside a random order's rate."""
    protocol = card.get("clean_protocol")
    if not isinstance(protocol, dict):
        return None
    figures, floors = protocol.get("figures", {}), protocol.get("floors", {})
    parts = []
    for held_out, figs in figures.items():
        try:
            hit = figs["retrieval.v2m.top1"]["mean"]
            chance = floors[held_out]["v2m"]["random ranking"]["top1"]
        except (KeyError, TypeError):
            continue
        parts.append(f"{hit:.0f}% of the videos of EmoMV-{held_out} (a random order: {chance:.0f}%)")
    if not parts:
        return None
    return ("On videos it never saw during training, its first suggestion has the video's emotion for "
            + " and for ".join(parts) + ". Take its suggestions as a good place to start listening, not as a verdict.")


def about_html(info: ModelInfo | None, problem: str | None) -> str:
    """Rich text for the About box: what the app is, which model is loaded, what it learnt and how good it is.

    The research figures are in :func:`about_details` (the box's Details)."""
    intro = f"<h3>{APP_TITLE} {__version__}</h3><p>{INTRO}</p>"
    if info is None:
        return intro + f"<p>No model loaded: {html.escape(problem or 'not loaded yet')}</p>"
    marker = f"<p><b>{TEST_MODE_TEXT}</b></p>" if not info.pretrained else ""
    card = info.card
    name = " ".join(str(card[k]) for k in ("name", "version") if card.get(k)) or info.model_path.name
    lines = [f"<p>Model: {html.escape(name)}</p>"]
    for label, text in (("Trained on", _trained_on(card)), ("How good", _how_good(card))):
        if text:
            lines.append(f"<p><b>{label}:</b> {html.escape(text)}</p>")
    return f"{intro}{marker}{''.join(lines)}<p>The research figures are under Show Details.</p>"


def about_details(info: ModelInfo | None) -> str:
    """Plain text for the About box's Details: the model card's figures, the model file and the full card."""
    if info is None:
        return ""
    rows = "\n".join(f"{k}: {v}" for k, v in card_rows(shown_card(info.card)))
    card_file = info.model_path.with_name(info.model_path.stem + ".card.json")
    return f"Model file: {info.model_path}\n{rows}\nFull model card: {card_file}"
