"""FrameWait: silence ends a wait as idle, interrupt ends it as shutdown, frames reset it."""

from __future__ import annotations

import asyncio

import pytest

from service.framewait import FrameWait


def test_frames_keep_the_wait_alive_and_silence_ends_it_as_idle() -> None:
    async def scenario() -> list[object]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        wait = FrameWait(0.15)
        got: list[object] = []

        async def feed() -> None:
            for frame in ("a", "b", "c"):
                await asyncio.sleep(0.1)  # each gap shorter than the timeout
                queue.put_nowait(frame)

        feeder = asyncio.create_task(feed())
        for _ in range(4):
            got.append(await wait.next(queue.get))
        await feeder
        wait.close()
        return got

    assert asyncio.run(scenario()) == ["a", "b", "c", "idle"]


def test_time_spent_on_a_frame_is_not_silence() -> None:
    async def scenario() -> object:
        queue: asyncio.Queue[str] = asyncio.Queue()
        queue.put_nowait("a")
        wait = FrameWait(0.1)
        await wait.next(queue.get)
        await asyncio.sleep(0.25)  # busy with the frame past the timeout
        asyncio.get_running_loop().call_later(0.05, queue.put_nowait, "b")
        result = await wait.next(queue.get)
        wait.close()
        return result

    assert asyncio.run(scenario()) == "b"


def test_interrupt_ends_a_wait_as_shutdown_and_only_a_wait() -> None:
    async def scenario() -> tuple[object, object]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        wait = FrameWait(10.0)
        wait.interrupt()  # not waiting: nothing happens
        queue.put_nowait("a")
        first = await wait.next(queue.get)
        asyncio.get_running_loop().call_later(0.05, wait.interrupt)
        second = await wait.next(queue.get)
        wait.close()
        await asyncio.sleep(0)  # the task is not left cancelled
        return first, second

    assert asyncio.run(scenario()) == ("a", "shutdown")


def test_other_cancellations_still_cancel() -> None:
    async def scenario() -> None:
        queue: asyncio.Queue[str] = asyncio.Queue()

        async def waiter() -> object:
            wait = FrameWait(10.0)
            try:
                return await wait.next(queue.get)
            finally:
                wait.close()

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
