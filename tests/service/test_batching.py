"""Micro-batching: concurrent submissions share a run; limits and failures."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.batching import MicroBatcher
from service.errors import InternalError, NotReadyError, OverloadedError


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


def two_slots(
    run: Callable[[list[int]], list[int]], *, max_batch_size: int, max_wait_s: float
) -> MicroBatcher[int, int]:
    """A batcher running up to two batches at once, in two executor threads."""
    return MicroBatcher(
        "pool", run, max_batch_size=max_batch_size, max_wait_s=max_wait_s, max_queue_size=10,
        executor=ThreadPoolExecutor(2), concurrency=2,
    )  # fmt: skip


class Gated:
    """A run function whose calls each wait for their own gate, keyed by the batch's first item;
    records how many calls were inside at once."""

    def __init__(self, keys: list[int]) -> None:
        self.gates = {key: threading.Event() for key in keys}
        self.inside = 0
        self.most_inside = 0
        self.lock = threading.Lock()

    def __call__(self, items: list[int]) -> list[int]:
        with self.lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        self.gates[items[0]].wait(5)
        with self.lock:
            self.inside -= 1
        return [10 * x for x in items]


def test_concurrent_batches_run_side_by_side_and_answer_their_own_waiters() -> None:
    async def scenario() -> tuple[int, list[int], bool]:
        run = Gated([0, 1, 2])
        batcher = two_slots(run, max_batch_size=1, max_wait_s=0.0)
        batcher.start()
        first, second, third = (asyncio.ensure_future(batcher.submit(i)) for i in range(3))
        await asyncio.sleep(0.05)
        both_running = run.most_inside == 2 and not third.done()
        run.gates[1].set()  # the second batch finishes first
        assert await second == 10
        assert not first.done()
        run.gates[2].set()  # the third takes the freed slot while the first still runs
        assert await third == 20
        run.gates[0].set()
        results = [await first, await second, await third]
        await batcher.stop()
        return run.most_inside, results, both_running

    most_inside, results, both_running = asyncio.run(scenario())
    assert both_running
    assert most_inside == 2  # never more than the two slots
    assert results == [0, 10, 20]


def test_one_slot_runs_one_batch_at_a_time_even_with_spare_threads() -> None:
    async def scenario() -> int:
        run = Gated([0, 1])
        batcher: MicroBatcher[int, int] = MicroBatcher(
            "single", run, max_batch_size=1, max_wait_s=0.0, max_queue_size=10,
            executor=ThreadPoolExecutor(2),
        )  # fmt: skip
        batcher.start()
        futures = [asyncio.ensure_future(batcher.submit(i)) for i in range(2)]
        await asyncio.sleep(0.05)
        run.gates[0].set()
        run.gates[1].set()
        await asyncio.gather(*futures)
        await batcher.stop()
        return run.most_inside

    assert asyncio.run(scenario()) == 1


def test_stop_fails_every_running_batch_when_several_run() -> None:
    async def scenario() -> list[BaseException | None]:
        run = Gated([0, 1])
        batcher = two_slots(run, max_batch_size=1, max_wait_s=0.0)
        batcher.start()
        futures = [asyncio.ensure_future(batcher.submit(i)) for i in range(2)]
        await asyncio.sleep(0.05)
        await batcher.stop()
        run.gates[0].set()
        run.gates[1].set()
        await asyncio.wait(futures)
        return [f.exception() for f in futures]

    errors = asyncio.run(scenario())
    assert all(isinstance(e, NotReadyError) for e in errors)


def test_concurrency_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        MicroBatcher("bad", Recorder(), max_batch_size=1, max_wait_s=0.0, max_queue_size=1,
                     concurrency=0)  # fmt: skip


def test_stop_fails_a_batch_still_waiting_for_more_items() -> None:
    async def scenario() -> None:
        batcher = make(Recorder(), max_batch_size=8, max_wait_s=30.0)
        batcher.start()
        collected = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.05)  # taken off the queue; the batch waits up to 30 s for more
        await batcher.stop()
        with pytest.raises(NotReadyError, match="shutting down"):
            await asyncio.wait_for(collected, 1)

    asyncio.run(scenario())


def test_a_run_with_too_few_results_answers_every_waiter_and_frees_its_slot() -> None:
    def short(items: list[int]) -> list[int]:
        return items[:1]  # a broken run function: one result for the whole batch

    async def scenario() -> list[object]:
        batcher = two_slots(short, max_batch_size=3, max_wait_s=0.05)
        batcher.start()
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True), 2
        )
        again = await asyncio.wait_for(batcher.submit(7), 2)  # the slots came back
        await batcher.stop()
        return [*outcomes, again]

    outcomes = asyncio.run(scenario())
    assert outcomes[0] == 0 and outcomes[3] == 7
    for missing in outcomes[1:3]:
        assert isinstance(missing, InternalError)
        assert missing.status_code == 500


def test_failing_batches_with_two_slots_keep_the_loop_and_the_slots() -> None:
    def failing(items: list[int]) -> list[int]:
        if items[0] < 0:
            raise RuntimeError("bad batch")
        return items

    async def scenario() -> list[object]:
        batcher = two_slots(failing, max_batch_size=1, max_wait_s=0.0)
        batcher.start()
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(batcher.submit(i) for i in (-1, -2, -3, 4, 5)),
                           return_exceptions=True), 2
        )  # fmt: skip
        await batcher.stop()
        return outcomes

    outcomes = asyncio.run(scenario())
    assert [isinstance(o, RuntimeError) for o in outcomes[:3]] == [True, True, True]
    assert outcomes[3:] == [4, 5]


def test_a_requester_that_leaves_mid_run_does_not_disturb_the_others() -> None:
    async def scenario() -> int:
        run = Gated([0])
        batcher = two_slots(run, max_batch_size=2, max_wait_s=0.05)
        batcher.start()
        leaving, staying = (asyncio.ensure_future(batcher.submit(i)) for i in (0, 1))
        await asyncio.sleep(0.1)  # both run in one batch, held at the gate
        leaving.cancel()
        run.gates[0].set()
        result = await asyncio.wait_for(staying, 2)
        await batcher.stop()
        return result

    assert asyncio.run(scenario()) == 10


def _with_sources(
    run: Recorder, sources: Callable[[], int], wait_s: float
) -> MicroBatcher[int, int]:
    return MicroBatcher(
        "test",
        run,
        max_batch_size=8,
        max_wait_s=wait_s,
        max_queue_size=1000,
        executor=ThreadPoolExecutor(1),
        sources=sources,
    )


async def _submit_after(batcher: MicroBatcher[int, int], value: int, delay_s: float) -> int:
    await asyncio.sleep(delay_s)
    return await batcher.submit(value)


def test_a_lone_source_does_not_wait_for_company() -> None:
    """One active client: nobody else can join its batch, so the 60 s wait is skipped."""

    async def scenario() -> tuple[int, list[int]]:
        run = Recorder()
        batcher = _with_sources(run, lambda: 1, wait_s=60.0)
        batcher.start()
        result = await asyncio.wait_for(batcher.submit(21), timeout=10)
        await batcher.stop()
        return result, run.sizes

    assert asyncio.run(scenario()) == (42, [1])


def test_the_wait_ends_once_every_source_is_in_the_batch() -> None:
    """Three clients, the second and third submitting later: one batch of three, sent when
    the third arrives, long before the 60 s wait would end."""

    async def scenario() -> tuple[list[int], list[int]]:
        run = Recorder()
        batcher = _with_sources(run, lambda: 3, wait_s=60.0)
        batcher.start()

        results = await asyncio.wait_for(
            asyncio.gather(*(_submit_after(batcher, v, 0.05 * (v - 1)) for v in (1, 2, 3))),
            timeout=10,
        )
        await batcher.stop()
        return list(results), run.sizes

    assert asyncio.run(scenario()) == ([2, 4, 6], [3])


def test_with_other_sources_active_the_batch_waits_for_them() -> None:
    """Five clients, two submitting 0.1 s apart: the second joins the first's batch (the
    wait is 0.5 s), which then runs at the deadline with the two it has."""

    async def scenario() -> list[int]:
        run = Recorder()
        batcher = _with_sources(run, lambda: 5, wait_s=0.5)
        batcher.start()

        await asyncio.gather(_submit_after(batcher, 1, 0.0), _submit_after(batcher, 2, 0.1))
        await batcher.stop()
        return run.sizes

    assert asyncio.run(scenario()) == [2]


def test_a_client_with_several_items_counts_once() -> None:
    """Two clients could submit; the first sends two items at once (one request's windows):
    the batch still waits for the second client instead of leaving with two items."""

    async def scenario() -> list[int]:
        run = Recorder()
        batcher = _with_sources(run, lambda: 2, wait_s=60.0)
        batcher.start()

        async def second_client() -> int:
            await asyncio.sleep(0.1)
            return await batcher.submit(3, source="b")

        await asyncio.wait_for(
            asyncio.gather(
                batcher.submit(1, source="a"), batcher.submit(2, source="a"), second_client()
            ),
            timeout=10,
        )
        await batcher.stop()
        return run.sizes

    assert asyncio.run(scenario()) == [3]
