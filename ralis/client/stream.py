"""`StreamClient`: push sensor samples to `/v1/stream` as they arrive, get predictions back.

    async with StreamClient("ws://127.0.0.1:8000/v1/stream", api_key=key) as stream:
        await stream.send("torso", samples)          # (rows, channels); t0 optional
        async for prediction in stream:               # one per hop of sample time
            print(prediction.t_end, prediction.activity)

What it does for you:

- **Binary frames, one per hop** (the cheap path for client and server, `ralis/frames.py`):
  pushed chunks are held until some sensor's samples reach the next window end (a multiple of
  the hop in sample time), then go out together, each sensor's contiguous chunks merged into
  one. The server makes windows only at hop ends, so predictions come as early as when every
  chunk is sent at once, and it parses one frame per hop instead of one per push.
  `send_at="now"` sends the chunks pushed within `batch_interval_s` of each other instead.
  With `frame_format="json"`, a frame is one JSON `chunks` message.
- **Explicit sample times**: each chunk is sent with its `t0` and rate, computed as the server
  would (right after the sensor's previous chunk, 0 for its first) when not given.
- **Reconnect with exponential backoff** (`Backoff`) after a lost connection, a restart or a
  shutdown (1001). The server starts each connection with an empty timeline, so the client
  keeps the recent chunks it sent and sends them again first, in their original order: every
  window ending after the last prediction received is complete again, so predictions resume
  at the right `t_end`. Predictions for a `t_end` already delivered are dropped.
- **Backpressure**: pushed chunks wait in a bounded queue (`max_queue`); `send` awaits while it
  is full, i.e. while the server (or the network) reads slower than the sensors produce or
  while the stream is reconnecting.
- **Clean close**: `close` sends what is queued, waits briefly for the last predictions, and
  closes with 1000.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ralis.client.errors import (
    AuthenticationError,
    RalisConnectionError,
    RalisError,
    StreamClosedError,
)
from ralis.client.http import AsyncRalisClient, auth_headers, http_base_url
from ralis.client.packing import TIME_EPS_S, Chunk, FrameFormat, Packer
from ralis.client.types import ModelInfo, Prediction

SendAt = Literal["hop", "now"]

# Close codes after which reconnecting cannot help (RFC 6455): bad data, invalid payload,
# message too big.
FATAL_CLOSE_CODES = frozenset({1003, 1007, 1009})


@dataclass(frozen=True)
class Backoff:
    """Reconnect policy: exponential backoff with jitter, capped, for `max_attempts` tries."""

    initial_s: float = 0.5
    max_s: float = 10.0
    max_attempts: int = 10  # consecutive failed connects before the stream gives up

    def delay_s(self, attempt: int) -> float:
        """Seconds before connect attempt `attempt` (1 for the first retry)."""
        backoff = min(self.max_s, self.initial_s * 2.0 ** (attempt - 1))
        return backoff * (0.5 + 0.5 * random.random())


def stream_url(url: str) -> str:
    """`ws(s)://host:port/v1/stream` from a stream URL or a service base URL."""
    for http, ws in (("http://", "ws://"), ("https://", "wss://")):
        if url.startswith(http):
            url = ws + url[len(http) :]
    scheme, _, rest = url.partition("://")
    return url if "/" in rest.rstrip("/") else f"{scheme}://{rest.rstrip('/')}/v1/stream"


class StreamClient:
    """A live stream to `/v1/stream` (see the module docstring); use as an async context."""

    def __init__(
        self,
        url: str = "ws://127.0.0.1:8000/v1/stream",
        *,
        api_key: str | None = None,
        frame_format: FrameFormat = "binary",
        send_at: SendAt = "hop",
        batch_interval_s: float = 0.01,
        max_queue: int = 64,
        hop_s: float | None = None,
        stale_after_s: float | None = None,
        backoff: Backoff | None = Backoff(),
        retain_s: float | None = None,
        max_frame_bytes: int = 64 * 1024,
        open_timeout_s: float = 10.0,
        drain_s: float = 2.0,
        model_info: ModelInfo | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        """Args:
        url: the stream URL (`ws://host:port/v1/stream`) or the service's base URL.
        api_key: sent as `Authorization: Bearer <key>` when the service needs one.
        frame_format: "binary" (default, several sensors' chunks per frame) or "json".
        send_at: "hop" (default): hold chunks until a sensor's samples reach the next window
            end, then send what is held; "now": send within `batch_interval_s`.
        batch_interval_s: chunks pushed within this long after one another (or, with
            send_at="hop", after the chunk that reached a window end) share a frame (or, in
            JSON, a `chunks` message).
        max_queue: chunks waiting to be sent before `send` waits (backpressure).
        hop_s, stale_after_s: stream settings sent as a config message (default: the server's).
        backoff: reconnect policy; None: a lost connection ends the stream with an error.
        retain_s: sample time kept for resending after a reconnect (default: two windows).
        max_frame_bytes: largest frame or message sent (the server refuses over 256 KiB).
        open_timeout_s: connect, handshake and `ready` message, and the model lookup.
        drain_s: how long `close` waits for the predictions of the windows sent.
        model_info: the model's `GET /v1/model` (fetched from the service when not given).
        on_error: called with the detail of each error message the server sends.
        """
        if frame_format not in ("binary", "json"):
            raise ValueError(f"frame_format {frame_format!r}; known: binary, json")
        if send_at not in ("hop", "now"):
            raise ValueError(f"send_at {send_at!r}; known: hop, now")
        if max_queue < 1 or batch_interval_s < 0 or max_frame_bytes < 1024:
            raise ValueError("need max_queue >= 1, batch_interval_s >= 0, max_frame_bytes >= 1024")
        self.url = stream_url(url)
        self.frame_format: FrameFormat = frame_format
        self.send_at: SendAt = send_at
        self.batch_interval_s = batch_interval_s
        self.max_queue = max_queue
        self._api_key = api_key
        self._config = {
            k: v for k, v in (("hop_s", hop_s), ("stale_after_s", stale_after_s)) if v is not None
        }
        self._backoff = backoff
        self._retain_s = retain_s
        self._max_frame_bytes = max_frame_bytes
        self._packer = Packer(frame_format, max_frame_bytes)
        self._open_timeout_s = open_timeout_s
        self._drain_s = drain_s
        self._info = model_info
        self._on_error = on_error

        self.views: list[str] = []  # the stream's sensors, as the ready message lists them
        self.hop_s = 1.0
        self.stale_after_s = 1.0
        self.reconnects = 0  # connections re-established after a loss
        self.frames_sent = 0  # frames or messages, resends included
        self.send_waits = 0  # `send` calls that waited for room in the queue
        self.server_errors: deque[str] = deque(maxlen=100)

        # Chunks to send; None: close; _FLUSH: send what is held now.
        self._queue: asyncio.Queue[Chunk | _Flush | None] = asyncio.Queue(max_queue)
        self._predictions: asyncio.Queue[Prediction | None] = asyncio.Queue()
        self._history: deque[Chunk] = deque()  # sent (or being sent), for a resend
        self._newest_end = -math.inf
        self._next_t0: dict[str, float] = {}  # by sensor: where its next pushed chunk starts
        self._taken_end: dict[str, float] = {}  # by sensor: end of its last chunk taken to send
        self._rates: dict[str, float] = {}
        self._last_t_end: float | None = None
        self._prediction_arrived = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._error: BaseException | None = None
        self._closing = False
        self._close_seen = False  # the sender took the close marker off the queue

    # --- public API --------------------------------------------------------------------

    @property
    def model_info(self) -> ModelInfo:
        """The served model (`GET /v1/model`), known once the stream is open."""
        if self._info is None:
            raise RuntimeError("the stream is not open yet")
        return self._info

    @property
    def last_t_end(self) -> float | None:
        """Sample time of the newest prediction delivered."""
        return self._last_t_end

    @property
    def queued(self) -> int:
        """Chunks waiting to be sent."""
        return self._queue.qsize()

    async def open(self) -> None:
        """Look the model up, connect and wait for the server's `ready` (with backoff).

        Raises:
            AuthenticationError: the API key was refused.
            RalisConnectionError: no connection within the backoff's attempts.
        """
        if self._runner is not None:
            raise RuntimeError("the stream is already open")
        if self._info is None:
            base = http_base_url(self.url)
            async with AsyncRalisClient(
                base, api_key=self._api_key, timeout=self._open_timeout_s
            ) as http:
                self._info = await http.model_info()
        ws = await self._connect_with_backoff()
        self._runner = asyncio.create_task(self._run(ws), name="ralis-stream")

    async def send(
        self,
        sensor: str,
        samples: npt.ArrayLike,
        t0: float | None = None,
        rate_hz: float | None = None,
    ) -> None:
        """Queue a sensor's new samples, (rows, channels); waits while the queue is full.

        `t0` is the sample time of the first row (default: right after the sensor's previous
        chunk, 0 for its first); `rate_hz` its rate (default: the sensor's previous, else the
        model's).

        Raises:
            ValueError: an unknown sensor, a wrong shape, or a chunk going back in time.
            RalisError: the stream has failed (the reason: e.g. it could not reconnect).
        """
        info = self.model_info
        if self._closing:
            raise RuntimeError("the stream is closing; no more samples")
        self._raise_if_failed()
        try:
            view = info.view(sensor)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        values = np.array(samples, dtype=np.float64)  # a copy: kept for resends
        if values.ndim != 2 or values.shape[0] < 1 or values.shape[1] != len(view.channels):
            raise ValueError(
                f"sensor {sensor!r}: samples of shape {values.shape}; expected (rows >= 1, "
                f"{len(view.channels)}) for channels {', '.join(view.channels)}"
            )
        rate = float(rate_hz or self._rates.get(sensor, view.sampling_rate_hz))
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"sensor {sensor!r}: rate_hz {rate_hz} must be a positive number")
        previous_end = self._next_t0.get(sensor)
        start = t0 if t0 is not None else (previous_end if previous_end is not None else 0.0)
        if previous_end is not None and start < previous_end - 0.5 / rate:
            raise ValueError(
                f"sensor {sensor!r}: t0={start:g} s goes back before the previous chunk's end "
                f"({previous_end:g} s); a sensor's chunks must move forward in time"
            )
        self._rates[sensor] = rate
        self._next_t0[sensor] = start + values.shape[0] / rate
        step = self._packer.piece_rows(rate, values.shape[1])
        for first in range(0, values.shape[0], step):
            piece = values[first : first + step]
            await self._put(Chunk(sensor, piece, start + first / rate, rate))

    async def flush(self) -> None:
        """Send what is queued or held now; wait until it has been handed to the connection."""
        self._raise_if_failed()
        await self._put(_FLUSH)
        joined = asyncio.ensure_future(self._queue.join())
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({joined, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            joined.cancel()
            stopped.cancel()
        self._raise_if_failed()

    async def predictions(self) -> AsyncIterator[Prediction]:
        """Predictions in order of `t_end`, until the stream is closed.

        Raises:
            RalisError: the stream failed (after its reconnect attempts, or a refused key).
        """
        while True:
            prediction = await self._predictions.get()
            if prediction is None:
                self._predictions.put_nowait(None)  # later iterations end too
                if self._error is not None:
                    raise self._error
                return
            yield prediction

    def __aiter__(self) -> AsyncIterator[Prediction]:
        return self.predictions()

    async def close(self) -> None:
        """Send what is queued, wait up to `drain_s` for the last predictions, close (1000)."""
        if self._runner is None:
            return
        if not self._closing:
            self._closing = True
            if not self._stopped.is_set():
                with contextlib.suppress(RalisError, RuntimeError):
                    await self.flush()
                    await self._drain()
                    await self._put(None)
        timeout = self._open_timeout_s + (self._backoff.max_s if self._backoff else 0.0)
        try:
            await asyncio.wait_for(asyncio.shield(self._runner), timeout)
        except TimeoutError:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def abort(self) -> None:
        """Close at once: what is queued is dropped, no predictions are waited for."""
        self._closing = True
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            await self.close()
        else:  # the block failed: do not hold it up sending and draining
            await self.abort()

    # --- sending -----------------------------------------------------------------------

    async def _put(self, chunk: Chunk | _Flush | None) -> None:
        try:
            self._queue.put_nowait(chunk)
            return
        except asyncio.QueueFull:
            self.send_waits += 1
        put = asyncio.ensure_future(self._queue.put(chunk))
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({put, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not put.done():
                put.cancel()
        self._raise_if_failed()
        if not put.done() or put.cancelled():
            raise RuntimeError("the stream is closed")

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
        if self._stopped.is_set():
            raise RuntimeError("the stream is closed")

    def _payloads(self, chunks: Sequence[Chunk]) -> list[str | bytes]:
        return self._packer.pack(chunks, self.views, self.hop_s)

    def _remember(self, chunk: Chunk) -> None:
        """Keep a chunk for a resend after a reconnect; forget what no window needs."""
        self._history.append(chunk)
        self._newest_end = max(self._newest_end, chunk.t_end)
        self._trim()

    def _trim(self) -> None:
        window_s = self.model_info.window_seconds
        retain_s = self._retain_s if self._retain_s is not None else 2.0 * window_s
        cutoff = self._newest_end - retain_s
        if self._last_t_end is not None:
            # Windows ending after the last prediction delivered need samples from here on.
            cutoff = max(cutoff, self._last_t_end + self.hop_s - window_s)
        while self._history and self._history[0].t_end <= cutoff + TIME_EPS_S:
            self._history.popleft()

    async def _send_loop(self, ws: ClientConnection) -> None:
        """Resend the retained chunks, then send queued ones in batches until the close marker.

        Chunks are taken off the queue into `held` and marked done once sent (so `flush`
        returns when they are on the connection); `send_by` is when `held` goes out.
        """
        if self._history:
            for payload in self._payloads(list(self._history)):
                await ws.send(payload)
                self.frames_sent += 1
        loop = asyncio.get_running_loop()
        held: list[Chunk] = []
        held_bytes = 0
        send_by: float | None = None
        undone = 0  # queue items taken and not yet marked done
        try:
            while True:
                if self._close_seen and not held and self._queue.empty():
                    await ws.close()
                    return
                item = await self._next_item(None if send_by is None else send_by - loop.time())
                if item is not _TIMED_OUT:
                    undone += 1
                if isinstance(item, Chunk):
                    held.append(item)
                    held_bytes += self._packer.value_bytes * item.samples.size
                    self._remember(item)
                    if self._sends_soon(item) or held_bytes > self._max_frame_bytes:
                        deadline = loop.time() + self.batch_interval_s
                        send_by = deadline if send_by is None else min(send_by, deadline)
                    continue
                if item is None:
                    self._close_seen = True
                for payload in self._payloads(held):
                    await ws.send(payload)
                    self.frames_sent += 1
                held, held_bytes, send_by = [], 0, None
                for _ in range(undone):
                    self._queue.task_done()
                undone = 0
        finally:
            for _ in range(undone):  # a lost connection: they are in the history, resent
                self._queue.task_done()

    async def _next_item(self, timeout_s: float | None) -> Chunk | _Flush | None | _TimedOut:
        """The next queue item, or `_TIMED_OUT` after `timeout_s` (None: no limit)."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            if timeout_s is not None and timeout_s <= 0:
                return _TIMED_OUT
        try:
            async with asyncio.timeout(timeout_s):
                return await self._queue.get()
        except TimeoutError:
            return _TIMED_OUT

    def _sends_soon(self, chunk: Chunk) -> bool:
        """Whether taking `chunk` starts the countdown to sending what is held: always with
        send_at="now"; with "hop", when it takes its sensor past a window end."""
        previous = self._taken_end.get(chunk.sensor, chunk.t0)
        self._taken_end[chunk.sensor] = chunk.t_end
        if self.send_at == "now":
            return True
        return math.floor(chunk.t_end / self.hop_s + TIME_EPS_S) > math.floor(
            previous / self.hop_s + TIME_EPS_S
        )

    async def _drain(self) -> None:
        """Wait (at most `drain_s`) for the prediction of the newest window the server can
        complete with what was sent."""
        if not self._next_t0:
            return
        reached = self._next_t0.values()
        last = max(min(reached), max(reached) - self.stale_after_s)
        expected = math.floor(last / self.hop_s + TIME_EPS_S) * self.hop_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._drain_s
        while self._last_t_end is None or self._last_t_end < expected - TIME_EPS_S:
            remaining = deadline - loop.time()
            if remaining <= 0 or self._stopped.is_set():
                return
            self._prediction_arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._prediction_arrived.wait()

    # --- receiving ---------------------------------------------------------------------

    async def _receive_loop(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                self._handle(json.loads(raw))

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "prediction":
            t_end = float(message["t_end"])
            if self._last_t_end is not None and t_end <= self._last_t_end + TIME_EPS_S:
                return  # already delivered before a reconnect
            self._last_t_end = t_end
            self._trim()
            self._predictions.put_nowait(Prediction.from_json(message))
            self._prediction_arrived.set()
        elif kind == "error":
            detail = str(message.get("detail"))
            self.server_errors.append(detail)
            if self._on_error is not None:
                self._on_error(detail)

    # --- connection --------------------------------------------------------------------

    async def _connect(self) -> ClientConnection:
        """One connection up to its `ready` message, with the stream's config sent."""
        ws = await connect(
            self.url,
            additional_headers=auth_headers(self._api_key),
            max_size=None,
            compression=None,
            open_timeout=self._open_timeout_s,
        )
        detail = ""
        try:
            async with asyncio.timeout(self._open_timeout_s):
                while True:
                    message = json.loads(await ws.recv())
                    if message.get("type") == "ready":
                        break
                    if message.get("type") == "error":
                        detail = str(message.get("detail"))
        except ConnectionClosed:
            raise _closed_error(ws, detail) from None
        except BaseException:
            await ws.close()
            raise
        self.views = [str(v) for v in message["views"]]
        self.hop_s = float(message["hop_s"])
        self.stale_after_s = float(message["stale_after_s"])
        if self._config:
            await ws.send(json.dumps({"type": "config", **self._config}))
            self.hop_s = float(self._config.get("hop_s", self.hop_s))
            self.stale_after_s = float(self._config.get("stale_after_s", self.stale_after_s))
        return ws

    async def _connect_with_backoff(self) -> ClientConnection:
        attempt = 0
        while True:
            try:
                return await self._connect()
            except (AuthenticationError, StreamClosedError):
                raise
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403):
                    raise AuthenticationError(status, f"{self.url}: handshake refused") from exc
                failure: Exception = exc
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed, _Retry) as exc:
                failure = exc
            attempt += 1
            if self._backoff is None or attempt >= self._backoff.max_attempts:
                raise RalisConnectionError(
                    f"{self.url}: cannot connect after {attempt} attempt(s): {failure}"
                ) from failure
            await asyncio.sleep(self._backoff.delay_s(attempt))

    async def _serve(self, ws: ClientConnection) -> bool:
        """Run one connection; True once the stream closed as asked, False when it was lost."""
        receiver = asyncio.create_task(self._receive_loop(ws))
        sender = asyncio.create_task(self._send_loop(ws))
        try:
            await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
            if sender.done() and sender.exception() is None:
                await receiver  # the close handshake ends it
                return True
            if not sender.done():
                sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender
            await receiver
        finally:
            for task in (receiver, sender):
                task.cancel()
            await ws.close()
        error = _closed_error(ws, self.server_errors[-1] if self.server_errors else "")
        if not isinstance(error, _Retry):
            raise error
        return False

    async def _run(self, ws: ClientConnection) -> None:
        try:
            while not await self._serve(ws):
                if self._backoff is None:
                    raise RalisConnectionError(f"{self.url}: the stream was lost ({ws.close_code})")
                await asyncio.sleep(self._backoff.delay_s(1))
                ws = await self._connect_with_backoff()
                self.reconnects += 1
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._error = exc
        finally:
            self._stopped.set()
            self._predictions.put_nowait(None)


class _Flush:
    """Queue marker: send what is held now (`StreamClient.flush`)."""


class _TimedOut:
    """`_next_item` found nothing before its timeout."""


_FLUSH = _Flush()
_TIMED_OUT = _TimedOut()


class _Retry(Exception):
    """A connection ended in a way that a reconnect can fix."""


def _closed_error(ws: ClientConnection, detail: str) -> Exception:
    """What a closed connection means: a fatal error, or `_Retry`."""
    code = ws.close_code
    reason = ws.close_reason or ""
    if code == 1008 and "API key" in reason:
        return AuthenticationError(401, detail or reason)
    if code in FATAL_CLOSE_CODES:
        return StreamClosedError(code, detail or reason)
    return _Retry(f"closed with {code}: {reason or detail}")
