"""Fixtures shared by the engine tests."""

from __future__ import annotations

import pytest

from emomv_desktop.engine.backbones import VGGishExtractor


@pytest.fixture(scope="session")
def vggish() -> VGGishExtractor:
    """The real VGGish network with random weights (the pretrained file cannot be downloaded here)."""
    return VGGishExtractor.build(None, "cpu")
