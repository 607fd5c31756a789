"""Middlewares on their own: route labels, body limits by route, 415, the drained 413."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message, Receive, Scope, Send

from service.limits import BodyLimits
from service.metrics import Metrics
from service.middleware import (
    FALLBACK_BODY_BYTES,
    BodyLimitMiddleware,
    RequestMetricsMiddleware,
    RequestsInFlight,
    _is_json,
    route_label,
)


class _Route:
    path = "/v1/predict"


@pytest.mark.parametrize(
    ("scope", "label"),
    [
        ({"route": _Route(), "path": "/v1/predict"}, "/v1/predict"),
        ({"path": "/metrics"}, "/metrics"),
        ({"path": "/docs"}, "/docs"),
        ({"path": "/openapi.json"}, "/openapi.json"),
        ({"path": "/no/such/path"}, "unmatched"),
    ],
)
def test_route_labels_are_bounded(scope: dict[str, object], label: str) -> None:
    assert route_label(scope) == label


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [(b"application/json", True), (b"application/merge-patch+json", True),
     (b"text/plain", False), (b"", False), (b"application/x-www-form-urlencoded", False)],
)  # fmt: skip
def test_json_content_types(content_type: bytes, ok: bool) -> None:
    assert _is_json(content_type) is ok


async def _call(
    middleware: BodyLimitMiddleware, path: str, body: bytes, headers: dict[bytes, bytes]
):  # type: ignore[no-untyped-def]
    sent: list[dict[str, object]] = []
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)] or [b""]
    received = 0

    async def receive() -> dict[str, object]:
        nonlocal received
        index = received
        received += 1
        if index >= len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[index], "more_body": index < len(chunks) - 1}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    middleware.app = app
    scope = {"type": "http", "method": "POST", "path": path,
             "headers": [(k, v) for k, v in headers.items()]}  # fmt: skip
    await middleware(scope, receive, send)
    return sent[0]["status"], received


def test_limits_by_route_and_the_oversized_body_is_drained_first() -> None:
    asyncio.run(_limits_by_route())


async def _limits_by_route() -> None:
    limits = BodyLimits(single=2_000, batch=10_000)
    middleware = BodyLimitMiddleware(lambda: None, lambda: limits, Metrics(max_batch_size=8))  # type: ignore[arg-type]
    json_type = {b"content-type": b"application/json"}
    body = b"x" * 5_000
    headers = {**json_type, b"content-length": b"5000"}
    status, reads = await _call(middleware, "/v1/predict", body, headers)
    assert status == 413 and reads == 5  # all 5 chunks read before answering
    status, _ = await _call(middleware, "/v1/predict/batch", body, headers)
    assert status == 200
    # A client that waits for 100-continue gets the 413 without sending its body.
    status, reads = await _call(
        middleware, "/v1/predict", body, {**headers, b"expect": b"100-continue"}
    )
    assert status == 413 and reads == 0
    status, _ = await _call(middleware, "/v1/predict", b"{}", {b"content-type": b"text/plain"})
    assert status == 415


def test_before_the_model_is_loaded_a_fallback_limit_applies() -> None:
    asyncio.run(_fallback())


async def _fallback() -> None:
    middleware = BodyLimitMiddleware(lambda: None, lambda: None, Metrics(max_batch_size=8))  # type: ignore[arg-type]
    size = FALLBACK_BODY_BYTES + 1
    headers = {b"content-type": b"application/json", b"content-length": str(size).encode()}
    status, _ = await _call(middleware, "/v1/predict", b"x" * size, headers)
    assert status == 413


def test_requests_in_flight_are_counted_while_handled_even_when_the_app_fails() -> None:
    """The batcher's count of prediction requests being handled: up during one, back down
    after it, also after one that raised; scrapes and WebSocket connections do not count."""
    in_flight = RequestsInFlight()
    seen: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(in_flight.count)
        await asyncio.sleep(0)  # the two concurrent requests overlap here
        if scope["path"] == "/v1/predict/batch":
            raise RuntimeError("boom")

    middleware = RequestMetricsMiddleware(app, Metrics(), in_flight)

    async def noop_receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def noop_send(_: Message) -> None:
        return None

    async def scenario() -> None:
        http = {"type": "http", "method": "POST", "path": "/v1/predict"}
        await asyncio.gather(
            middleware(http, noop_receive, noop_send), middleware(http, noop_receive, noop_send)
        )
        with pytest.raises(RuntimeError):
            await middleware({**http, "path": "/v1/predict/batch"}, noop_receive, noop_send)
        await middleware({**http, "method": "GET", "path": "/metrics"}, noop_receive, noop_send)
        await middleware({"type": "websocket", "path": "/v1/stream"}, noop_receive, noop_send)

    asyncio.run(scenario())
    assert seen == [1, 2, 1, 0, 0]
    assert in_flight.count == 0
