"""Waiting for a stream's next frame, ended by silence (idle timeout) or by shutdown.

One lazily re-armed timer per stream, not a timer or a task per frame: this runs for every
frame of every stream, and per-frame timers were a tenth of the event loop's time under load
(bench/README.md, service load).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

T = TypeVar("T")
Ended = Literal["idle", "shutdown"]


class FrameWait:
    """Awaits frames for the current task; a wait ends early after `timeout_s` of silence
    (`"idle"`) or when `interrupt` is called (`"shutdown"`). Create it inside the task."""

    def __init__(self, timeout_s: float) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("FrameWait must be created inside a task")
        self._task = task
        self._loop = asyncio.get_running_loop()
        self.timeout_s = timeout_s
        self._since = 0.0
        self._waiting = False
        self._ended: Ended | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def next(self, receive: Callable[[], Awaitable[T]]) -> T | Ended:
        """`await receive()`, or why the wait ended without a frame."""
        self._since = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(self._since + self.timeout_s, self._check)
        self._waiting = True
        try:
            return await receive()
        except asyncio.CancelledError:
            ended = self._ended
            if ended is None:
                raise  # a cancellation from elsewhere
            self._ended = None
            self._task.uncancel()
            return ended
        finally:
            self._waiting = False

    def interrupt(self, why: Ended = "shutdown") -> None:
        """End the current wait, if the task is waiting for a frame."""
        if self._waiting and self._ended is None:
            self._ended = why
            self._task.cancel()

    def close(self) -> None:
        """Drop the timer (the stream is over)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if not self._waiting:
            return  # busy with a frame; the next wait arms a new timer
        due = self._since + self.timeout_s
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._check)
        else:
            self.interrupt("idle")
