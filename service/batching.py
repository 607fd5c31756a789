"""Micro-batching: concurrent submissions run as one batch of work in a worker thread (for the
predictor, every present encoder and then the head: several ONNX sessions, one hand-off).
Up to `concurrency` batches run at once, each in its own executor thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from typing import Generic, TypeVar

from service.errors import InternalError, NotReadyError, OverloadedError

logger = logging.getLogger(__name__)

In = TypeVar("In")
Out = TypeVar("Out")


class MicroBatcher(Generic[In, Out]):
    """Collects up to `max_batch_size` items, or what arrives within `max_wait_s` of the
    first one, and runs them as one call of `run_batch` in `executor`.

    `sources`, if given, says how many clients could submit now (open streams, prediction
    requests being handled): the wait ends as soon as that many distinct clients have items
    in the batch (`submit`'s `source`; items without one count as a client each), since no
    one else could join it. A lone client then never waits, while many clients still fill
    batches; waiting is worth it because a model woken for one small batch at a time costs
    two to three times as much per prediction (`bench/idle_gap.py`).

    Up to `concurrency` batches run at a time (the executor needs as many threads); items
    arriving while every slot is busy form the next batch, so batches grow with load instead
    of requests queueing one by one. Batches may finish out of order; each item's result goes
    to its own waiter.
    """

    def __init__(
        self,
        name: str,
        run_batch: Callable[[list[In]], list[Out]],
        *,
        max_batch_size: int,
        max_wait_s: float,
        max_queue_size: int,
        executor: Executor | None = None,
        on_batch: Callable[[int], None] | None = None,
        concurrency: int = 1,
        sources: Callable[[], int] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.name = name
        self._run_batch = run_batch
        self._max_batch_size = max_batch_size
        self._max_wait_s = max_wait_s
        self._executor = executor
        self._on_batch = on_batch
        self._sources = sources
        self._queue: asyncio.Queue[tuple[In, asyncio.Future[Out], Hashable]] = asyncio.Queue(
            maxsize=max_queue_size
        )
        self._task: asyncio.Task[None] | None = None
        self._concurrency = concurrency
        self._runs: set[asyncio.Task[None]] = set()  # batches in the executor now
        self._in_flight: set[asyncio.Future[Out]] = set()
        self._collecting: list[tuple[In, asyncio.Future[Out]]] = []  # the batch being formed

    def start(self) -> None:
        """Start the batching loop; call from the running event loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        """Stop the loop and fail whatever is still queued."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        runs = list(self._runs)
        for run in runs:  # their executor threads finish on their own
            run.cancel()
        pending = [
            *self._in_flight,
            *(future for _, future in self._collecting),
            *(self._queue.get_nowait()[1] for _ in range(self._queue.qsize())),
        ]
        self._collecting = []
        self._in_flight.clear()
        for future in pending:
            if not future.done():
                future.set_exception(NotReadyError("the service is shutting down"))
        await asyncio.gather(*runs, return_exceptions=True)

    async def submit(self, item: In, source: Hashable | None = None) -> Out:
        """Queue one item and wait for its result; `source` names the client it comes from
        (items of one request or one stream share it)."""
        if self._task is None:
            raise NotReadyError()
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((item, future, future if source is None else source))
        except asyncio.QueueFull:
            raise OverloadedError(
                f"too many pending predictions for '{self.name}'; retry shortly"
            ) from None
        return await future

    async def _collect(self) -> list[tuple[In, asyncio.Future[Out]]]:
        # Kept on self while it waits for more items, so that stop() fails them too.
        item, future, source = await self._queue.get()
        self._collecting = batch = [(item, future)]
        joined = {source}  # the clients with an item in this batch
        deadline = asyncio.get_running_loop().time() + self._max_wait_s
        while len(batch) < self._max_batch_size:
            if not self._queue.empty():
                item, future, source = self._queue.get_nowait()
            elif self._max_wait_s <= 0 or not self._others_may_join(len(joined)):
                break
            else:
                try:  # a timer, not a task per item as wait_for would make
                    async with asyncio.timeout_at(deadline):
                        item, future, source = await self._queue.get()
                except TimeoutError:
                    break
            batch.append((item, future))
            joined.add(source)
        self._collecting = []
        return batch

    def _others_may_join(self, joined: int) -> bool:
        return self._sources is None or self._sources() > joined

    async def _loop(self) -> None:
        slots = asyncio.Semaphore(self._concurrency)
        while True:
            # Collect only once a slot is free: while all are busy the next batch keeps growing.
            await slots.acquire()
            # Skip items whose requester has gone (cancelled future).
            batch = [(item, fut) for item, fut in await self._collect() if not fut.done()]
            if not batch:
                slots.release()
                continue
            # In flight from here on, before the task first runs: stop() may come in between.
            self._in_flight.update(future for _, future in batch)
            if self._on_batch is not None:
                self._on_batch(len(batch))
            run = asyncio.create_task(self._run(batch))
            self._runs.add(run)
            run.add_done_callback(self._runs.discard)
            run.add_done_callback(lambda _: slots.release())

    async def _run(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        """One batch in the executor; results (or its failure) go to each waiter."""
        futures = [future for _, future in batch]
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._run_batch, [item for item, _ in batch]
            )
        except Exception as exc:  # delivered to every waiter; the loop keeps running
            logger.exception("batch of %d failed in '%s'", len(batch), self.name)
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
        else:
            if len(results) != len(futures):
                logger.error(
                    "batch of %d in '%s' gave %d results", len(futures), self.name, len(results)
                )
            for future, result in zip(futures, results, strict=False):
                if not future.done():
                    future.set_result(result)
        finally:
            # Whatever ended the run (too few results, cancellation), no waiter is left hanging.
            for future in futures:
                if not future.done():
                    future.set_exception(InternalError("the model gave no result for this item"))
            self._in_flight.difference_update(futures)
