"""What the app holds between requests (`app.state.ralis`)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from service.framewait import FrameWait
from service.limits import BodyLimits
from service.metrics import Metrics
from service.middleware import RequestsInFlight
from service.predictor import Predictor
from service.runtime import ModelRuntime
from service.settings import Settings


class StreamRegistry:
    """Admits stream connections, counts them against the limits, and tells them when the
    server shuts down.

    A connection is first *pending* (authenticating; capped by `max_pending`, holding no
    stream slot), then *active* (holding one of `max_streams` slots). Both count towards its
    client address's `max_per_client` (0: no limit), so a client that reconnects fast can
    neither lock others out of the slots nor exhaust the pending room alone.
    """

    def __init__(self, max_streams: int, max_pending: int = 64, max_per_client: int = 0) -> None:
        self.max_streams = max_streams
        self.max_pending = max_pending
        self.max_per_client = max_per_client
        self.active = 0
        self.pending = 0
        self.per_client: dict[str, int] = {}
        self.closing = asyncio.Event()
        self.waiting: set[FrameWait] = set()  # every open stream's wait, ended on close
        self._idle = asyncio.Event()
        self._idle.set()

    def try_admit(self, client: str) -> str | None:
        """Count a new connection from `client` as pending; None, or why it is refused."""
        if self.closing.is_set():
            return "server shutting down"
        if self.pending >= self.max_pending:
            return f"too many connections authenticating (at most {self.max_pending}); retry later"
        held = self.per_client.get(client, 0)
        if self.max_per_client and held >= self.max_per_client:
            return f"too many streams from your address (at most {self.max_per_client})"
        self.pending += 1
        self.per_client[client] = held + 1
        self._idle.clear()
        return None

    def try_open(self) -> bool:
        """Turn an admitted, authenticated connection into an active stream; False when all
        slots are taken or the server is shutting down (it stays pending until `release`)."""
        if self.closing.is_set() or self.active >= self.max_streams:
            return False
        self.pending -= 1
        self.active += 1
        return True

    def release(self, client: str, opened: bool) -> None:
        """Forget a connection admitted by `try_admit` (and opened by `try_open` if `opened`)."""
        if opened:
            self.active -= 1
        else:
            self.pending -= 1
        left = self.per_client.get(client, 1) - 1
        if left > 0:
            self.per_client[client] = left
        else:
            self.per_client.pop(client, None)
        if self.active == 0 and self.pending == 0:
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
    requests: RequestsInFlight = field(default_factory=RequestsInFlight)
    runtime: ModelRuntime | None = None
    predictor: Predictor | None = None
    body_limits: BodyLimits | None = None  # sized to the model once it is loaded
    ready: bool = field(default=False)

    def prediction_sources(self) -> int:
        """Clients that could ask for a prediction now: open streams and prediction requests
        being handled."""
        return self.streams.active + self.requests.count
