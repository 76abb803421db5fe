"""Training tests run the tiny EmoMV models with one torch thread, as ``emomv-train`` does by default:
with other processes on the cores two threads are much slower (figures: docs/training.md)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
