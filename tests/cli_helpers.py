"""Builders shared by the command-line tests (no fixtures: those live in conftest.py)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from emomv_desktop import cli
from emomv_desktop.engine import loading

CLIPS = 1  # one SlowFast clip per window: the tests check structure, not quality


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def captured_run(argv):
    """``cli.main`` with stdout/stderr captured (for module-scoped fixtures, where capsys is unavailable)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def use_random_networks(patch: pytest.MonkeyPatch, networks) -> None:
    """The demo/test mode (``EMOMV_RANDOM_NETWORKS=1``), its loaders handing out the random-init networks built
    once for the module (the pretrained files cannot be downloaded here). Checks that ``--clips`` reaches the
    loader."""

    def load_slowfast(device, *, allow_random=False, clips_per_window=None, precision=None):
        assert allow_random, "the demo mode did not reach the loader"
        assert clips_per_window == CLIPS, "suggest --clips was not passed to the loader"
        return networks[0]

    patch.setenv(loading.RANDOM_NETWORKS_ENV, "1")
    patch.setattr(loading, "load_slowfast", load_slowfast)
    patch.setattr(loading, "load_vggish", lambda device, **kwargs: networks[1])


def save_random_model(path: Path, *, multitask: bool = True) -> Path:
    import torch

    from emomv_desktop.engine.model import ModelConfig, RetrievalModel, save_model

    torch.manual_seed(0)
    save_model(path, RetrievalModel(ModelConfig(multitask=multitask)).eval(), {"note": "random init, for tests"})
    return path
