"""Micro-batching: concurrent submissions share a run; limits and failures."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.batching import MicroBatcher
from service.errors import NotReadyError, OverloadedError


class Recorder:
    """A run function that doubles its inputs and records the batch sizes."""

    def __init__(self, block: threading.Event | None = None) -> None:
        self.sizes: list[int] = []
        self.block = block

    def __call__(self, items: list[int]) -> list[int]:
        if self.block is not None:
            self.block.wait(5)
        self.sizes.append(len(items))
        return [2 * x for x in items]


def make(run: Recorder, **kwargs: float) -> MicroBatcher[int, int]:
    options: dict[str, float] = {"max_batch_size": 8, "max_wait_s": 0.05, "max_queue_size": 1000}
    options.update(kwargs)
    return MicroBatcher(
        "test",
        run,
        max_batch_size=int(options["max_batch_size"]),
        max_wait_s=options["max_wait_s"],
        max_queue_size=int(options["max_queue_size"]),
        executor=ThreadPoolExecutor(1),
    )


def test_concurrent_submissions_are_batched_and_answered_in_order() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        run = Recorder()
        batcher = make(run)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
        await batcher.stop()
        return results, run.sizes

    results, sizes = asyncio.run(scenario())
    assert results == [2 * i for i in range(20)]
    assert sum(sizes) == 20
    assert max(sizes) == 8  # bounded by max_batch_size
    assert len(sizes) == 3  # 8 + 8 + 4


def test_batches_grow_while_a_run_is_in_progress() -> None:
    async def scenario() -> list[int]:
        gate = threading.Event()
        run = Recorder(block=gate)
        batcher = make(run, max_wait_s=0.0, max_batch_size=64)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.05)  # the first run is now blocked in the worker thread
        rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 11)]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(first, *rest)
        await batcher.stop()
        return run.sizes

    assert asyncio.run(scenario()) == [1, 10]


def test_a_failing_run_fails_its_batch_and_the_loop_goes_on() -> None:
    calls = []

    def flaky(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return items

    async def scenario() -> int:
        batcher: MicroBatcher[int, int] = MicroBatcher(
            "flaky", flaky, max_batch_size=4, max_wait_s=0.0, max_queue_size=10
        )
        batcher.start()
        with pytest.raises(RuntimeError, match="boom"):
            await batcher.submit(1)
        result = await batcher.submit(2)
        await batcher.stop()
        return result

    assert asyncio.run(scenario()) == 2


def test_a_full_queue_is_refused_with_overloaded() -> None:
    async def scenario() -> None:
        gate = threading.Event()
        batcher = make(Recorder(block=gate), max_queue_size=2, max_batch_size=1, max_wait_s=0.0)
        batcher.start()
        running = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.05)
        queued = [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0)
        with pytest.raises(OverloadedError, match="too many pending predictions"):
            await batcher.submit(3)
        gate.set()
        await asyncio.gather(running, *queued)
        await batcher.stop()

    asyncio.run(scenario())


def test_submit_before_start_and_pending_at_stop_are_not_ready() -> None:
    async def scenario() -> None:
        gate = threading.Event()
        batcher = make(Recorder(block=gate), max_batch_size=1, max_wait_s=0.0)
        with pytest.raises(NotReadyError):
            await batcher.submit(1)
        batcher.start()
        in_flight = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0)
        await batcher.stop()
        gate.set()
        for future in (in_flight, queued):
            with pytest.raises(NotReadyError, match="shutting down"):
                await future

    asyncio.run(scenario())
