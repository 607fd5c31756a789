"""Small ASGI middlewares: request metrics and the request body size limit."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import ErrorKind, shown
from service.limits import BodyLimits
from service.metrics import Metrics


def route_label(scope: Scope) -> str:
    """The matched route's path template, a known fixed path (/metrics, /docs, ...), or
    'unmatched': a bounded label set whatever paths clients send."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    requested = scope.get("path", "")
    return requested if requested in FIXED_ROUTES else "unmatched"


# Routes served outside FastAPI's router matching (mounted or added as plain routes).
FIXED_ROUTES = frozenset(
    {"/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/healthz", "/readyz"}
)


PREDICTION_PATHS = "/v1/predict"  # /v1/predict and /v1/predict/batch


class RequestsInFlight:
    """Prediction requests (`/v1/predict...`) being handled right now (kept by
    `RequestMetricsMiddleware`; the batcher reads it)."""

    def __init__(self) -> None:
        self.count = 0


class RequestMetricsMiddleware:
    """Counts HTTP requests by route template, method and status, and times them; keeps
    `in_flight.count` at the number of prediction requests being handled."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics, in_flight: RequestsInFlight | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.in_flight = in_flight if in_flight is not None else RequestsInFlight()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before responding

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        # Health checks and scrapes never ask for a prediction: only these count as clients.
        counted = scope["path"].startswith(PREDICTION_PATHS)
        self.in_flight.count += counted
        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self.in_flight.count -= counted
            route = route_label(scope)
            self.metrics.requests.labels(
                route=route, method=scope["method"], status=str(status)
            ).inc()
            self.metrics.request_duration.labels(route=route).observe(time.perf_counter() - started)


class BodyLimitMiddleware:
    """Refuses request bodies over the route's limit with 413, by Content-Length or while
    reading, and non-JSON bodies with 415.

    A client that sends its body without waiting for `Expect: 100-continue` (Python's urllib)
    would see the connection reset under an early 413: the server closes a socket with unread
    data. So a declared body of up to `MAX_DRAIN_BYTES` is read and discarded first.
    """

    def __init__(
        self, app: ASGIApp, limits: Callable[[], BodyLimits | None], metrics: Metrics
    ) -> None:
        self.app = app
        self.limits = limits
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODYLESS_METHODS:
            await self.app(scope, receive, send)
            return
        limits = self.limits()
        max_bytes = limits.for_path(scope["path"]) if limits else FALLBACK_BODY_BYTES
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            if b"100-continue" not in headers.get(b"expect", b"").lower():
                await _drain(receive, min(int(declared), MAX_DRAIN_BYTES))
            await self._refuse(scope, receive, send, 413, "body_too_large", _too_large(max_bytes))
            return
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if scope["path"].startswith(API_PREFIX) and not _is_json(content_type):
            given = shown(content_type.decode("latin-1")) if content_type else "none"
            detail = f"content type {given} is not supported; send application/json"
            await self._refuse(scope, receive, send, 415, "unsupported_media_type", detail)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    self.metrics.count_error("body_too_large")
                    # FastAPI re-raises HTTPException from body reading as the response.
                    raise HTTPException(status_code=413, detail=_too_large(max_bytes))
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, kind: ErrorKind, detail: str
    ) -> None:
        self.metrics.count_error(kind)
        await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)


# Before the model is loaded (requests then get 503 anyway).
FALLBACK_BODY_BYTES = 1024 * 1024
# Read and discard at most this much of an oversized body so that the client sees the 413.
MAX_DRAIN_BYTES = 8 * 1024 * 1024
API_PREFIX = "/v1/"  # every POST route there takes JSON
BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


def _too_large(max_bytes: int) -> str:
    return (
        f"request body exceeds {max_bytes} bytes (sized to the model's windows); "
        "send fewer or shorter windows"
    )


def _is_json(content_type: bytes) -> bool:
    return content_type == b"application/json" or (
        content_type.startswith(b"application/") and content_type.endswith(b"+json")
    )


async def _drain(receive: Receive, max_bytes: int) -> None:
    """Read and drop up to `max_bytes` of the request body."""
    drained = 0
    while drained < max_bytes:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
