"""What the app holds between requests (`app.state.ralis`)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from service.framewait import FrameWait
from service.metrics import Metrics
from service.predictor import Predictor
from service.runtime import ModelRuntime
from service.settings import Settings


class StreamRegistry:
    """Counts open streams against the limit and tells them when the server shuts down."""

    def __init__(self, max_streams: int) -> None:
        self.max_streams = max_streams
        self.active = 0
        self.closing = asyncio.Event()
        self.waiting: set[FrameWait] = set()  # every open stream's wait, ended on close
        self._idle = asyncio.Event()
        self._idle.set()

    def try_open(self) -> bool:
        """Take a stream slot; False when all are taken or the server is shutting down."""
        if self.closing.is_set() or self.active >= self.max_streams:
            return False
        self.active += 1
        self._idle.clear()
        return True

    def release(self) -> None:
        """Give a stream slot back."""
        self.active -= 1
        if self.active == 0:
            self._idle.set()

    async def close_all(self, timeout_s: float) -> None:
        """Ask every stream to close (they send 1001) and wait up to `timeout_s` for them."""
        self.closing.set()
        for wait in list(self.waiting):
            wait.interrupt("shutdown")  # a stream waiting for a frame stops waiting now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)


@dataclass
class ServiceState:
    """Settings, metrics, and once the lifespan has loaded the bundle, the model."""

    settings: Settings
    metrics: Metrics
    streams: StreamRegistry
    runtime: ModelRuntime | None = None
    predictor: Predictor | None = None
    ready: bool = field(default=False)
