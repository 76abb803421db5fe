"""The training loop: early stopping as the authors' EarlyStopping does it, best checkpoint reloaded, determinism."""

from __future__ import annotations

import dataclasses

import pytest

from emomv_desktop.engine.errors import Cancelled
from emomv_desktop.engine.jobs import CancelToken
from emomv_desktop.engine.model import ModelConfig, RetrievalModel
from training.data import dataset_spec
from training.experiments import Protocol, RunSpec, Variant, load_bundle, run_baseline, run_retrieval
from training.loop import TrainConfig, seed_everything, train, validation_loss
from training.losses import retrieval_objective


@pytest.fixture(scope="module")
def bundle(emomv_data):
    return load_bundle(emomv_data, dataset_spec("C"))


def test_early_stopping_reloads_the_best_checkpoint(bundle):
    generator = seed_everything(5)
    model = RetrievalModel(ModelConfig(multitask=True))
    model.fit_scalers(bundle.train.video, bundle.train.music)
    config = TrainConfig(patience=3, max_epochs=400, lr=1e-3)
    result = train(model, retrieval_objective, bundle.train, bundle.val, config, generator)
    assert result.epochs == result.best_epoch + config.patience < config.max_epochs
    assert result.best_val_loss == min(result.val_losses) == result.val_losses[result.best_epoch - 1]
    assert validation_loss(model, retrieval_objective, bundle.val) == pytest.approx(result.best_val_loss, abs=1e-6)
    assert not model.training


def test_an_equal_validation_loss_becomes_the_checkpoint(bundle):
    """``<=``: with a flat validation loss every epoch is the new best, so patience never runs out."""
    def flat_in_eval(model, batch):
        loss = retrieval_objective(model, batch)
        return loss if model.training else loss.detach() * 0 + 1.0

    generator = seed_everything(0)
    model = RetrievalModel(ModelConfig(multitask=False))
    result = train(model, flat_in_eval, bundle.train, bundle.val, TrainConfig(patience=2, max_epochs=6), generator)
    assert result.epochs == 6 and result.best_epoch == 6


def test_cancel_stops_training(bundle):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        train(RetrievalModel(), retrieval_objective, bundle.train, bundle.val, TrainConfig(), seed_everything(0),
              cancel=token)


def test_same_seed_same_metrics_other_seed_other_metrics(bundle):
    config = dataclasses.replace(TrainConfig(), max_epochs=12)
    first = run_retrieval(bundle, RunSpec(Variant.MULTI, 7, Protocol.CLEAN, config))
    again = run_retrieval(bundle, RunSpec(Variant.MULTI, 7, Protocol.CLEAN, config))
    other = run_retrieval(bundle, RunSpec(Variant.MULTI, 8, Protocol.CLEAN, config))
    assert first.values == again.values
    assert first.training.val_losses == again.training.val_losses
    assert other.values != first.values
    baseline = run_baseline(bundle, RunSpec(Variant.MULTI, 7, Protocol.PAPER, config))
    assert baseline.values == run_baseline(bundle, RunSpec(Variant.MULTI, 7, Protocol.PAPER, config)).values
