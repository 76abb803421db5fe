"""Run an iterator ahead of its consumer in a helper thread: the one producer/consumer pump of the engine.

Used where decoding (CPU, I/O) can overlap a network's forward pass: SlowFast clips (``engine.backbones``),
VGGish log-mel batches of one track, and the indexer's decode-ahead over a whole list of files.

Ordered (items arrive as produced), bounded (at most ``depth`` items wait, so memory stays bounded), errors
propagated (the producer's exception is re-raised in the consumer), early stop (when the consumer stops, the
producer is stopped and closed in its own thread, its files closed, before the consumer goes on) and cancel
(a set :class:`~emomv_desktop.engine.jobs.CancelToken` raises :class:`Cancelled` in the consumer even while
it waits on a slow producer).
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator, TypeVar

from .jobs import CancelToken, check

__all__ = ["prefetched"]

T = TypeVar("T")
_END = object()


def prefetched(
    items: Iterator[T], depth: int = 1, *, cancel: CancelToken | None = None, name: str = "emomv-prefetch"
) -> Iterator[T]:
    """Iterate ``items`` in a helper thread named ``name``, up to ``depth`` items ahead of the consumer."""
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        outcome: tuple[bool, object] = (True, _END)
        try:
            for item in items:
                if not put((True, item)):
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            outcome = (False, exc)
        finally:
            close = getattr(items, "close", None)  # a generator: close it here, in its own thread
            if close is not None:
                try:
                    close()
                except BaseException as exc:  # noqa: BLE001
                    outcome = (False, exc)
            put(outcome)

    def take() -> tuple[bool, object]:
        while True:
            check(cancel)
            try:
                return handoff.get(timeout=0.1)
            except queue.Empty:
                if not worker.is_alive() and handoff.empty():
                    return False, RuntimeError("the prefetch thread ended without a result")

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            ok, item = take()
            if not ok:
                raise item  # type: ignore[misc]
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
