"""The training loop of the EmoMV authors' code, made fast for tiny models on a CPU.

Adam (lr 1e-4, coupled L2 weight decay 0.1: ``torch.optim.Adam``'s, not AdamW), batch 256, train rows
shuffled every epoch, at most 1000 epochs, early stopping with patience 20 on the validation loss (the same
composite objective); an epoch whose validation loss is ``<=`` the best so far becomes the checkpoint, and the
best checkpoint is reloaded at the end.

Speed: whole splits live in memory as tensors and are indexed per batch (no DataLoader, no per-batch
Python objects beyond one small dataclass); the validation loss is one forward pass over the whole split.
Determinism: the caller seeds the global RNG once (:func:`seed_everything`) before building the model, so
initialisation, dropout masks and the shuffling generator all follow from the seed; nothing re-seeds later.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Sequence

import torch

from emomv_desktop.engine.jobs import CancelToken, ProgressCallback, check, report

from .data import PairSplit
from .losses import Objective


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    lr: float = 1e-4
    weight_decay: float = 0.1
    batch_size: int = 256
    max_epochs: int = 1000
    patience: int = 20
    early_stopping: bool = True  # False: run exactly max_epochs and keep the last epoch (a refit)

    def to_dict(self) -> dict[str, float | int]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class TrainResult:
    best_epoch: int  # 1-based epoch of the reloaded checkpoint
    epochs: int  # epochs run
    best_val_loss: float
    train_losses: list[float]  # mean batch loss per epoch
    val_losses: list[float]
    seconds: float


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG (initialisation, dropout, sketch hashes) and return the shuffling generator."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train(
    model: torch.nn.Module,
    objective: Objective,
    train_rows: PairSplit,
    val_rows: PairSplit | None,
    config: TrainConfig,
    generator: torch.Generator,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> TrainResult:
    """Train ``model`` in place with early stopping on ``val_rows``; the best checkpoint is loaded at return.

    With ``config.early_stopping`` False, ``val_rows`` may be None: exactly ``max_epochs`` run and the last
    epoch is kept (the refit of a recipe whose epoch count was found on a hold-out).
    """
    start = time.perf_counter()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n = len(train_rows)
    best_loss, best_epoch, best_state, waited = float("inf"), 0, _snapshot(model), 0
    train_losses: list[float] = []
    val_losses: list[float] = []
    for epoch in range(1, config.max_epochs + 1):
        check(cancel)
        model.train()
        order = torch.randperm(n, generator=generator)
        batch_losses = []
        for first in range(0, n, config.batch_size):
            loss = objective(model, train_rows.subset(order[first:first + config.batch_size]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            batch_losses.append(loss.item())
        train_losses.append(sum(batch_losses) / len(batch_losses))
        if not config.early_stopping:
            best_loss, best_epoch = train_losses[-1], epoch
            report(progress, epoch, config.max_epochs, f"epoch {epoch}: train loss {train_losses[-1]:.4f}")
            continue
        val_losses.append(validation_loss(model, objective, val_rows))
        if val_losses[-1] <= best_loss:
            best_loss, best_epoch, best_state, waited = val_losses[-1], epoch, _snapshot(model), 0
        else:
            waited += 1
        report(progress, epoch, config.max_epochs, f"epoch {epoch}: val loss {val_losses[-1]:.4f}")
        if waited >= config.patience:
            break
    if config.early_stopping:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(best_epoch, len(train_losses), best_loss, train_losses, val_losses, time.perf_counter() - start)


@torch.no_grad()
def validation_loss(model: torch.nn.Module, objective: Objective, rows: PairSplit) -> float:
    """The objective over a whole split in one eval-mode forward pass."""
    model.eval()
    return float(objective(model, rows))


def run_calls(calls: Sequence[tuple[Callable[..., Any], tuple]], jobs: int, finished: Callable[[int, Any], None],
              cancel: CancelToken | None = None) -> None:
    """``finished(i, fn(*args))`` for each ``(fn, args)`` of ``calls``: in this process when ``jobs == 1`` (each
    call also gets ``cancel=cancel``), else in ``jobs`` spawned processes, each with this process's torch thread
    count (in the order they finish; cancel is checked between calls). Each call must seed itself, so its result
    does not depend on the number of jobs."""
    if jobs == 1:
        for index, (fn, args) in enumerate(calls):
            check(cancel)
            finished(index, fn(*args, cancel=cancel))
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=torch.set_num_threads,
                             initargs=(torch.get_num_threads(),)) as pool:
        futures = {pool.submit(fn, *args): index for index, (fn, args) in enumerate(calls)}
        try:
            for future in as_completed(futures):
                check(cancel)
                finished(futures[future], future.result())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
