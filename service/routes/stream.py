"""Live sample streams over WebSocket: samples in, a prediction every hop of sample time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from service.auth import UNAUTHORIZED_DETAIL, bearer_token, key_is_valid
from service.deps import StateDep
from service.errors import InputError, ServiceError
from service.frames import SampleChunk, decode_frame, is_binary_frame
from service.framewait import FrameWait
from service.predictor import Predictor
from service.schemas import (
    CLIENT_MESSAGE,
    AuthMessage,
    ConfigMessage,
    ErrorMessage,
    PredictionMessage,
    ReadyMessage,
    SamplesMessage,
)
from service.state import ServiceState
from service.stream import DueWindow, StreamLimits, StreamState

logger = logging.getLogger(__name__)

router = APIRouter(tags=["stream"])

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


@router.websocket("/v1/stream")
async def stream(websocket: WebSocket, state: StateDep) -> None:
    """Samples of any sensors in, `{"type": "prediction", ...}` every hop of sample time out.

    Client messages: `{"type": "samples", "sensor", "samples", "t0"?, "rate_hz"?}`,
    `{"type": "config", "hop_s"?, "stale_after_s"?}` and, first and only when API keys are on
    and no Authorization header was sent, `{"type": "auth", "token"}`.

    Admission comes before cost: a browser origin outside `allowed_origins` is refused before
    the handshake (403); a connection then waits for authentication as *pending*, capped on
    its own and per client address, and takes a stream slot only once authenticated.
    """
    metrics = state.metrics
    settings = state.settings
    if not _origin_allowed(websocket, settings.allowed_origins):
        metrics.errors.labels(kind="forbidden_origin").inc()
        await websocket.close(POLICY)  # before accept: the handshake is answered with 403
        return
    await websocket.accept()
    client = websocket.client.host if websocket.client else "unknown"
    refusal = state.streams.try_admit(client)
    if refusal is not None:
        if state.streams.closing.is_set():
            await websocket.close(GOING_AWAY, refusal)
            return
        metrics.errors.labels(kind="too_many_streams").inc()
        await _send(websocket, ErrorMessage(detail=refusal))
        await websocket.close(POLICY, refusal)
        return
    wait = FrameWait(settings.stream_idle_timeout_s)
    state.streams.waiting.add(wait)
    opened = False
    try:
        predictor = state.predictor
        if predictor is None or not state.ready:
            raise _Close(TRY_AGAIN_LATER, "the model is not loaded; retry shortly")
        if settings.api_keys and not key_is_valid(
            bearer_token(websocket.headers), settings.api_keys
        ):
            wait.timeout_s = settings.stream_auth_timeout_s
            await _authenticate_by_message(websocket, state, wait)
            wait.timeout_s = settings.stream_idle_timeout_s
        if not state.streams.try_open():
            if state.streams.closing.is_set():
                raise _Close(GOING_AWAY, "server shutting down")
            metrics.errors.labels(kind="too_many_streams").inc()
            reason = f"too many streams (at most {state.streams.max_streams}); retry later"
            await _send(websocket, ErrorMessage(detail=reason))
            raise _Close(POLICY, reason)
        opened = True
        metrics.active_streams.inc()
        await _serve(websocket, state, predictor, wait)
    except _Close as close:
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close(close.code, close.reason)
    except WebSocketDisconnect:
        pass
    except Exception:  # the client sees 1011, the log sees the stack
        logger.exception("stream failed")
        metrics.errors.labels(kind="internal").inc()
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close(INTERNAL, "internal error")
    finally:
        wait.close()
        state.streams.waiting.discard(wait)
        state.streams.release(client, opened)
        if opened:
            metrics.active_streams.dec()


def _origin_allowed(websocket: WebSocket, allowed: Sequence[str]) -> bool:
    """True unless an allow-list is set and a browser sent an Origin outside it; the page the
    service serves itself (same host as the request) is always allowed."""
    origin = websocket.headers.get("origin")
    if not allowed or origin is None or origin.rstrip("/") in allowed:
        return True
    return urlsplit(origin).netloc == websocket.headers.get("host")


async def _serve(
    websocket: WebSocket, state: ServiceState, predictor: Predictor, wait: FrameWait
) -> None:
    settings = state.settings
    timeline = StreamState(
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
    await _send(
        websocket,
        ReadyMessage(
            model_version=predictor.manifest.model_version,
            views=predictor.manifest.view_names,
            hop_s=timeline.hop_s,
            stale_after_s=timeline.stale_after_s,
        ),
    )
    while True:
        kind, raw = await _next_message(websocket, state, wait)
        if kind == "closed":
            return
        if kind == "idle":
            detail = f"no message for {settings.stream_idle_timeout_s:g} s; closing"
            await _send(websocket, ErrorMessage(detail=detail))
            raise _Close(NORMAL, "idle timeout")
        if kind == "shutdown":
            raise _Close(GOING_AWAY, "server shutting down")
        assert raw is not None
        try:
            _check_size(raw, settings.max_message_bytes)
            # A large message is parsed, checked and windowed in a worker thread so the event
            # loop keeps serving the other streams meanwhile (the work itself is bounded).
            if len(raw) > settings.offload_parse_bytes:
                ingested = await asyncio.to_thread(_ingest, raw, timeline, predictor)
            else:
                ingested = _ingest(raw, timeline, predictor)
            await _predict_and_send(websocket, predictor, ingested.due)
            if ingested.skipped:
                raise InputError(
                    "stream_limit",
                    f"this message completed {ingested.skipped + len(ingested.due)} windows; "
                    f"at most {settings.max_windows_per_message} are predicted per message, so "
                    f"the oldest {ingested.skipped} were skipped; send shorter chunks",
                )
            if ingested.error is not None:
                raise ingested.error
        except ServiceError as error:
            state.metrics.errors.labels(kind=error.kind).inc()
            if error.kind == "internal":
                logger.error("stream internal error: %s", error.detail)
            await _send(websocket, ErrorMessage(detail=error.detail))


@dataclass(frozen=True)
class _Ingested:
    """What one client message did to the stream: windows now due, and what went wrong."""

    due: list[DueWindow]
    skipped: int = 0
    error: ServiceError | None = None


def _ingest(raw: str | bytes, timeline: StreamState, predictor: Predictor) -> _Ingested:
    """Parse one message and apply it to the timeline: pure CPU work, run on or off the loop.

    A bad chunk stops the rest of its frame; windows completed before it are still returned.
    """
    if isinstance(raw, bytes) and is_binary_frame(raw):
        chunks: Sequence[SamplesMessage | SampleChunk] = decode_frame(
            raw, predictor.manifest.view_names
        )
    else:
        message = _parse(raw)
        if isinstance(message, AuthMessage):
            raise ServiceError("bad_message", "auth is accepted only as the first message")
        if isinstance(message, ConfigMessage):
            if message.hop_s is not None:
                timeline.set_hop(message.hop_s)
            if message.stale_after_s is not None:
                timeline.set_stale_after(message.stale_after_s)
            return _Ingested(due=[])
        chunks = [message]
    error: InputError | None = None
    for number, chunk in enumerate(chunks, start=1):
        try:
            timeline.append(chunk.sensor, chunk.samples, chunk.t0, chunk.rate_hz)
        except InputError as exc:
            where = f"chunk {number} of {len(chunks)}: " if len(chunks) > 1 else ""
            error = InputError(exc.kind, where + exc.detail)
            break
    due = timeline.collect()
    return _Ingested(due=due, skipped=timeline.skipped_windows, error=error)


async def _predict_and_send(
    websocket: WebSocket, predictor: Predictor, due: Sequence[DueWindow]
) -> None:
    """Predict the due windows together (they share model batches), send them in order."""
    predictions = await asyncio.gather(*(predictor.predict_stream(w.windows) for w in due))
    for window, prediction in zip(due, predictions, strict=True):
        await _send(
            websocket,
            PredictionMessage(
                t_end=window.t_end,
                activity=prediction.activity,
                probabilities=prediction.probabilities,
                view_weights=prediction.view_weights,
                views_used=prediction.views_used,
                model_version=prediction.model_version,
                latency_ms=prediction.latency_ms,
            ),
        )


async def _authenticate_by_message(
    websocket: WebSocket, state: ServiceState, wait: FrameWait
) -> None:
    settings = state.settings
    kind, raw = await _next_message(websocket, state, wait)
    if kind != "message" or raw is None:
        if kind == "closed":
            raise WebSocketDisconnect(NORMAL)
        raise _Close(POLICY, "no API key")
    try:
        _check_size(raw, settings.max_message_bytes)
        message = _parse(raw)
    except ServiceError:
        message = None
    if not isinstance(message, AuthMessage) or not key_is_valid(message.token, settings.api_keys):
        state.metrics.errors.labels(kind="unauthorized").inc()
        await _send(
            websocket,
            ErrorMessage(
                detail=UNAUTHORIZED_DETAIL + ' or a first message {"type": "auth", '
                '"token": "<key>"}'
            ),
        )
        raise _Close(POLICY, "missing or invalid API key")


async def _next_message(websocket: WebSocket, state: ServiceState, wait: FrameWait) -> _Incoming:
    """The next text or bytes frame, or why there is none (closed, idle, shutting down)."""
    if state.streams.closing.is_set():
        return ("shutdown", None)
    message = await wait.next(websocket.receive)
    if message == "idle" or message == "shutdown":
        return (message, None)
    if message["type"] == "websocket.disconnect":
        return ("closed", None)
    text = message.get("text")
    return ("message", text if text is not None else message.get("bytes") or b"")


def _check_size(raw: str | bytes, max_bytes: int) -> None:
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise ServiceError(
            "message_too_large",
            f"message of {size} bytes exceeds {max_bytes}; send smaller chunks",
        )


def _parse(raw: str | bytes) -> SamplesMessage | ConfigMessage | AuthMessage:
    try:
        return CLIENT_MESSAGE.validate_json(raw)
    except ValidationError as exc:
        raise ServiceError("bad_message", _describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    """Pydantic errors as one line without echoing the input."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:3]:
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    hint = (
        'expected {"type": "samples", "sensor", "samples", "t0"?, "rate_hz"?} or '
        '{"type": "config", "hop_s"?, "stale_after_s"?}'
    )
    return f"invalid message ({'; '.join(parts)}); {hint}"


async def _send(websocket: WebSocket, message: BaseModel) -> None:
    await websocket.send_text(message.model_dump_json())
