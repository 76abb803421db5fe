"""Fixtures shared by the engine tests."""

from __future__ import annotations

import pytest

from emomv_desktop.engine.backbones import VGGishExtractor


@pytest.fixture(scope="session")
def vggish() -> VGGishExtractor:
    """The real VGGish network with random weights (the pretrained file cannot be downloaded here)."""
    return VGGishExtractor.build(None, "cpu")


@pytest.fixture(autouse=True)
def fresh_caches():
    """Every engine test starts and ends with empty process-wide ranking caches."""
    from emomv_desktop.engine import ranking

    ranking.clear_caches()
    yield
    ranking.clear_caches()
