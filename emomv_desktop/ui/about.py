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


def about_html(info: ModelInfo | None, problem: str | None) -> str:
    """Rich text for the About box: what the app is, which model is loaded and its card (or why none is)."""
    intro = f"<h3>{APP_TITLE} {__version__}</h3><p>{INTRO}</p>"
    if info is None:
        return intro + f"<p>No model loaded: {html.escape(problem or 'not loaded yet')}</p>"
    marker = f"<p><b>{TEST_MODE_TEXT}</b></p>" if not info.pretrained else ""
    table = "".join(
        f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>" for k, v in card_rows(shown_card(info.card))
    )
    card_file = info.model_path.with_name(info.model_path.stem + ".card.json")
    return (f"{intro}{marker}<p>Model: {html.escape(str(info.model_path))}</p><table>{table}</table>"
            f"<p>Full model card: {html.escape(str(card_file))}</p>")
