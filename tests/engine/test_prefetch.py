"""engine.prefetch: the one producer/consumer pump (SlowFast clips, VGGish batches, the indexer's decode-ahead)."""

from __future__ import annotations

import threading
import time

import pytest

from emomv_desktop.engine import prefetch
from emomv_desktop.engine.errors import Cancelled
from emomv_desktop.engine.jobs import CancelToken


def prefetch_threads() -> list:
    return [t for t in threading.enumerate() if t.name == "emomv-prefetch"]


def test_prefetched_keeps_order_forwards_errors_and_stops_early():
    assert list(prefetch.prefetched(iter(range(50)))) == list(range(50))

    def failing():
        yield from range(3)
        raise ValueError("decoder broke")

    got = []
    with pytest.raises(ValueError, match="decoder broke"):
        for item in prefetch.prefetched(failing()):
            got.append(item)
    assert got == [0, 1, 2]

    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    consumer = prefetch.prefetched(endless())
    assert [next(consumer), next(consumer)] == [0, 1]
    consumer.close()  # the consumer stops early: the producer is closed in its own thread, which ends
    assert closed.is_set() and not prefetch_threads()


def test_prefetched_is_bounded_and_cancel_reaches_a_waiting_consumer():
    produced = []

    def counting():
        for n in range(100):
            produced.append(n)
            yield n

    consumer = prefetch.prefetched(counting(), depth=3)
    assert next(consumer) == 0
    time.sleep(0.3)  # the producer runs ahead as far as the queue allows, no further
    assert len(produced) <= 1 + 3 + 1  # taken, queued, and the one waiting to be queued
    consumer.close()
    assert not prefetch_threads()

    token, release = CancelToken(), threading.Event()

    def slow():
        yield 1
        release.wait(10)  # a producer busy on one item that never checks the token itself
        yield 2

    consumer = prefetch.prefetched(slow(), cancel=token)
    assert next(consumer) == 1
    threading.Timer(0.2, token.cancel).start()
    threading.Timer(1.0, release.set).start()  # the producer's item arrives after the cancel: never delivered
    with pytest.raises(Cancelled):
        next(consumer)
    assert not prefetch_threads()
