"""One WebSocket stream from connect to close: admission, auth, ready, messages, close.

`StreamSession.run` owns the protocol's phases and all their error accounting; the route
(`routes/stream.py`) only hands it the socket. Phases:

1. **Admission, before any cost**: a browser `Origin` outside the allow-list is refused
   before the handshake (403); the connection is then counted as *pending* (capped on its
   own and per client address) and holds no stream slot.
2. **Authentication**: the `Authorization` header, or an `auth` message first, within
   `stream_auth_timeout_s`.
3. **Ready**: a stream slot is taken and `{"type": "ready", ...}` sent.
4. **Messages**: samples (JSON or binary) and config; each message is parsed, appended to
   the sample timeline, and the windows it completed are predicted together and sent in
   order. A bad message gets an error frame and the stream goes on.
5. **Close**: idle timeout (1000), shutdown (1001), policy (1008), internal error (1011).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from service.auth import UNAUTHORIZED_DETAIL, bearer_token, key_is_valid
from service.errors import ErrorKind, InputError, ServiceError
from service.framewait import FrameWait
from service.messages import Chunk, check_size, parse_message
from service.predictor import Predictor
from service.responses import prediction_message_json
from service.schemas import AuthMessage, ConfigMessage, ErrorMessage, ReadyMessage
from service.state import ServiceState
from service.timeline import DueWindow, SampleTimeline, StreamLimits

logger = logging.getLogger(__name__)

# WebSocket close codes (RFC 6455).
NORMAL = 1000
GOING_AWAY = 1001
POLICY = 1008
INTERNAL = 1011
TRY_AGAIN_LATER = 1013

_Incoming = (
    tuple[Literal["message"], str | bytes] | tuple[Literal["closed", "idle", "shutdown"], None]
)


class _Close(Exception):
    """End the stream with this close code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class _Applied:
    """What one message did to the stream: windows now due, and what went wrong."""

    due: list[DueWindow]
    skipped: int = 0
    error: ServiceError | None = None


class StreamSession:
    """One stream's protocol (module docstring); create one per connection and `run` it."""

    def __init__(self, websocket: WebSocket, state: ServiceState) -> None:
        self._websocket = websocket
        self._state = state
        self._settings = state.settings
        self._metrics = state.metrics
        client = websocket.client
        self._client = client.host if client else "unknown"

    async def run(self) -> None:
        """Serve the stream until it closes; never raises."""
        if not self._origin_allowed():
            self._count("forbidden_origin")
            await self._websocket.close(POLICY)  # before accept: the handshake gets 403
            return
        await self._websocket.accept()
        refusal = self._state.streams.try_admit(self._client)
        if refusal is not None:
            await self._refuse(refusal)
            return
        wait = FrameWait(self._settings.stream_idle_timeout_s)
        self._state.streams.waiting.add(wait)
        opened = False
        try:
            predictor = self._state.predictor
            if predictor is None or not self._state.ready:
                raise _Close(TRY_AGAIN_LATER, "the model is not loaded; retry shortly")
            await self._authenticate(wait)
            opened = await self._open()
            await self._serve(predictor, wait)
        except _Close as close:
            await self._close(close.code, close.reason)
        except WebSocketDisconnect:
            pass
        except Exception:  # the client sees 1011, the log sees the stack
            logger.exception("stream failed")
            self._count("internal")
            await self._close(INTERNAL, "internal error")
        finally:
            wait.close()
            self._state.streams.waiting.discard(wait)
            self._state.streams.release(self._client, opened)
            if opened:
                self._metrics.active_streams.dec()

    # --- phases ----------------------------------------------------------------------

    def _origin_allowed(self) -> bool:
        """True unless an allow-list is set and a browser sent an Origin outside it; the
        page the service serves itself (same host as the request) is always allowed."""
        allowed = self._settings.allowed_origins
        origin = self._websocket.headers.get("origin")
        if not allowed or origin is None or origin.rstrip("/") in allowed:
            return True
        return urlsplit(origin).netloc == self._websocket.headers.get("host")

    async def _refuse(self, reason: str) -> None:
        if self._state.streams.closing.is_set():
            await self._websocket.close(GOING_AWAY, reason)
            return
        self._count("too_many_streams")
        await self._send_error(reason)
        await self._websocket.close(POLICY, reason)

    async def _authenticate(self, wait: FrameWait) -> None:
        keys = self._settings.api_keys
        header_token = bearer_token(self._websocket.headers)
        if not keys or key_is_valid(header_token, keys):
            return
        if header_token is not None:  # a wrong key in the header: no second chance by message
            await self._deny()
        wait.timeout_s = self._settings.stream_auth_timeout_s
        kind, raw = await self._next(wait)
        wait.timeout_s = self._settings.stream_idle_timeout_s
        if kind == "closed":
            raise WebSocketDisconnect(NORMAL)
        if kind != "message" or raw is None:
            raise _Close(POLICY, "no API key")
        message: object = None
        with contextlib.suppress(ServiceError):
            check_size(raw, self._settings.max_message_bytes)
            message = parse_message(raw, ())
        if not isinstance(message, AuthMessage) or not key_is_valid(message.token, keys):
            await self._deny()

    async def _deny(self) -> None:
        self._count("unauthorized")
        await self._send_error(
            UNAUTHORIZED_DETAIL + ' or a first message {"type": "auth", "token": "<key>"}'
        )
        raise _Close(POLICY, "missing or invalid API key")

    async def _open(self) -> bool:
        """Take a stream slot (the connection was pending until now)."""
        streams = self._state.streams
        if not streams.try_open():
            if streams.closing.is_set():
                raise _Close(GOING_AWAY, "server shutting down")
            reason = f"too many streams (at most {streams.max_streams}); retry later"
            self._count("too_many_streams")
            await self._send_error(reason)
            raise _Close(POLICY, reason)
        self._metrics.active_streams.inc()
        return True

    async def _serve(self, predictor: Predictor, wait: FrameWait) -> None:
        settings = self._settings
        timeline = SampleTimeline(
            predictor.manifest.views,
            hop_s=settings.hop_s,
            stale_after_s=settings.stale_after_s,
            min_window_fraction=settings.min_window_fraction,
            limits=StreamLimits(
                max_rate_hz=settings.max_sampling_rate_hz,
                min_rate_hz=settings.min_sampling_rate_hz,
                max_abs_sample=settings.max_abs_sample,
                max_chunk_span_s=settings.max_chunk_span_s,
                max_windows_per_message=settings.max_windows_per_message,
                max_buffer_bytes=settings.max_stream_buffer_bytes,
            ),
        )
        ready = ReadyMessage(
            model_version=predictor.manifest.model_version,
            views=predictor.manifest.view_names,
            hop_s=timeline.hop_s,
            stale_after_s=timeline.stale_after_s,
        )
        await self._websocket.send_text(ready.model_dump_json())
        while True:
            kind, raw = await self._next(wait)
            if kind == "closed":
                return
            if kind == "idle":
                await self._send_error(
                    f"no message for {settings.stream_idle_timeout_s:g} s; closing"
                )
                raise _Close(NORMAL, "idle timeout")
            if kind == "shutdown":
                raise _Close(GOING_AWAY, "server shutting down")
            assert raw is not None
            try:
                await self._handle(raw, timeline, predictor)
            except ServiceError as error:
                await self._report(error)

    # --- one message -----------------------------------------------------------------

    async def _handle(
        self, raw: str | bytes, timeline: SampleTimeline, predictor: Predictor
    ) -> None:
        check_size(raw, self._settings.max_message_bytes)
        views = predictor.view_names
        # A large message is parsed, checked and windowed in a worker thread so that the
        # event loop serves the other streams meanwhile (the work itself is bounded).
        if len(raw) > self._settings.offload_parse_bytes:
            applied = await asyncio.to_thread(_apply, raw, views, timeline)
        else:
            applied = _apply(raw, views, timeline)
        await self._predict_and_send(predictor, applied.due)
        if applied.skipped:
            cap = self._settings.max_windows_per_message
            raise InputError(
                "stream_limit",
                f"this message completed {applied.skipped + len(applied.due)} windows; at most "
                f"{cap} are predicted per message, so the oldest {applied.skipped} were "
                "skipped; send shorter chunks",
            )
        if applied.error is not None:
            raise applied.error

    async def _predict_and_send(self, predictor: Predictor, due: Sequence[DueWindow]) -> None:
        """Predict the due windows together (they share model batches), send them in order."""
        if not due:
            return
        predictions = await asyncio.gather(
            *(predictor.predict_stream(w.windows, stream=self) for w in due)
        )
        for window, prediction in zip(due, predictions, strict=True):
            await self._websocket.send_text(prediction_message_json(prediction, window.t_end))

    # --- plumbing --------------------------------------------------------------------

    async def _next(self, wait: FrameWait) -> _Incoming:
        """The next text or bytes frame, or why there is none (closed, idle, shutting down)."""
        if self._state.streams.closing.is_set():
            return ("shutdown", None)
        message = await wait.next(self._websocket.receive)
        if message == "idle" or message == "shutdown":
            return (message, None)
        if message["type"] == "websocket.disconnect":
            return ("closed", None)
        text = message.get("text")
        return ("message", text if text is not None else message.get("bytes") or b"")

    async def _report(self, error: ServiceError) -> None:
        """A message could not be used: count it, log internal ones, tell the client."""
        self._count(error.kind)
        if error.kind == "internal":
            logger.error("stream internal error: %s", error.detail)
        await self._send_error(error.detail)

    def _count(self, kind: ErrorKind) -> None:
        self._metrics.count_error(kind)

    async def _send_error(self, detail: str) -> None:
        await self._websocket.send_text(ErrorMessage(detail=detail).model_dump_json())

    async def _close(self, code: int, reason: str) -> None:
        if self._websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self._websocket.close(code, reason)


def _apply(raw: str | bytes, views: Sequence[str], timeline: SampleTimeline) -> _Applied:
    """Parse one message and apply it to the timeline: pure CPU work, on or off the loop.

    A bad chunk stops the rest of its frame; windows completed before it are still returned.
    """
    command = parse_message(raw, views)
    if isinstance(command, AuthMessage):
        raise ServiceError("bad_message", "auth is accepted only as the first message")
    if isinstance(command, ConfigMessage):
        if command.hop_s is not None:
            timeline.set_hop(command.hop_s)
        if command.stale_after_s is not None:
            timeline.set_stale_after(command.stale_after_s)
        return _Applied(due=[])
    chunks: Sequence[Chunk] = command
    error: InputError | None = None
    for number, chunk in enumerate(chunks, start=1):
        try:
            timeline.append(chunk.sensor, chunk.samples, chunk.t0, chunk.rate_hz)
        except InputError as exc:
            where = f"chunk {number} of {len(chunks)}: " if len(chunks) > 1 else ""
            error = InputError(exc.kind, where + exc.detail)
            break
    due = timeline.collect()
    return _Applied(due=due, skipped=timeline.skipped_windows, error=error)
