"""The HTTP clients without a server (httpx.MockTransport): results, errors, retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import numpy as np
import pytest

from ralis.client import (
    AsyncRalisClient,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    RalisClient,
    RalisConnectionError,
    RalisTimeoutError,
    RateLimitError,
    Retry,
    ServiceUnavailableError,
)
from ralis.client.http import http_base_url

PREDICTION = {
    "activity": "rowing",
    "probabilities": {"rowing": 0.9, "sitting": 0.1},
    "view_weights": {"torso": 1.0},
    "views_used": ["torso"],
    "model_version": "1.0.0",
    "latency_ms": 2.5,
}
MODEL = {
    "name": "ralis-dsads",
    "version": "1.0.0",
    "classes": ["sitting", "rowing"],
    "window_seconds": 4.0,
    "views": [
        {
            "name": "torso",
            "modality": "acc",
            "channels": ["torso_acc_x", "torso_acc_y", "torso_acc_z"],
            "sampling_rate_hz": 25.0,
            "window_samples": 100,
        }
    ],
    "execution_provider": "CPUExecutionProvider",
    "created_at": "2026-01-01",
    "training_data": "DSADS",
    "metrics": {"macro_f1": 0.9},
}
FAST = Retry(max_retries=2, initial_s=0.001, max_s=0.01)

Handler = Callable[[httpx.Request], httpx.Response]


def answering(
    status: int, detail: str, headers: dict[str, str] | None = None
) -> tuple[Handler, list[httpx.Request]]:
    """A handler that always answers `status` with `detail`, and the requests it saw."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json={"detail": detail}, headers=headers)

    return handler, seen


def sync_client(handler: Handler, **kwargs: object) -> RalisClient:
    return RalisClient(
        "http://ralis.test:8000", transport=httpx.MockTransport(handler), retry=FAST, **kwargs
    )  # type: ignore[arg-type]


def test_predict_sends_arrays_as_lists_with_the_key_and_returns_a_typed_result() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=PREDICTION)

    with sync_client(handler, api_key="k" * 16) as client:
        result = client.predict({"torso": np.ones((100, 3))}, sampling_rate_hz={"torso": 50})
    assert result.activity == "rowing" and result.probability == pytest.approx(0.9)
    assert result.views_used == ["torso"] and result.t_end is None
    request = seen[0]
    assert request.url.path == "/v1/predict"
    assert request.headers["authorization"] == "Bearer " + "k" * 16
    body = json.loads(request.content)
    assert body["sensors"]["torso"] == [[1.0, 1.0, 1.0]] * 100
    assert body["sampling_rate_hz"] == {"torso": 50.0}


def test_batch_and_model_info() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/model":
            return httpx.Response(200, json=MODEL)
        windows = json.loads(request.content)["windows"]
        return httpx.Response(200, json={"predictions": [PREDICTION] * len(windows)})

    with sync_client(handler) as client:
        info = client.model_info()
        batch = client.predict_batch([{"torso": np.zeros((100, 3))}] * 3)
    assert info.view("torso").window_samples == 100 and info.window_seconds == 4.0
    assert info.metrics == {"macro_f1": 0.9}
    with pytest.raises(KeyError, match="unknown sensor 'head'; known: torso"):
        info.view("head")
    assert [p.activity for p in batch] == ["rowing"] * 3


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (422, BadRequestError),
        (413, BadRequestError),
        (401, AuthenticationError),
        (500, InternalServerError),
    ],
)
def test_errors_carry_status_and_detail_and_are_not_retried(
    status: int, error: type[Exception]
) -> None:
    handler, seen = answering(status, "unknown sensor 'x'; known: torso")
    with sync_client(handler) as client, pytest.raises(error) as info:
        client.predict({"x": [[0.0, 0.0, 0.0]]})
    assert info.value.status == status  # type: ignore[attr-defined]
    assert info.value.detail == "unknown sensor 'x'; known: torso"  # type: ignore[attr-defined]
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("status", "error"), [(429, RateLimitError), (503, ServiceUnavailableError)]
)
def test_429_and_503_are_retried_with_backoff_then_raised(
    status: int, error: type[Exception]
) -> None:
    handler, seen = answering(status, "busy", headers={"Retry-After": "0"})
    with sync_client(handler) as client, pytest.raises(error, match="busy"):
        client.model_info()
    assert len(seen) == 1 + FAST.max_retries


def test_a_retry_that_succeeds_returns_the_result() -> None:
    statuses = iter([503, 429, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        return httpx.Response(status, json=PREDICTION if status == 200 else {"detail": "later"})

    with sync_client(handler) as client:
        assert client.predict({"torso": [[0.0, 0.0, 0.0]]}).activity == "rowing"


def test_backoff_grows_is_capped_and_honours_retry_after() -> None:
    retry = Retry(max_retries=5, initial_s=1.0, max_s=4.0)
    for attempt, ceiling in enumerate([1.0, 2.0, 4.0, 4.0]):
        delays = [retry.delay_s(attempt, None) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert retry.delay_s(0, "3") == 3.0
    assert retry.delay_s(0, "120") == 4.0  # capped


def test_transport_failures_become_client_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    with sync_client(refuse) as client, pytest.raises(RalisConnectionError, match="refused"):
        client.model_info()
    with sync_client(slow) as client, pytest.raises(RalisTimeoutError):
        client.model_info()


def test_async_client_has_the_same_methods_and_errors() -> None:
    statuses = iter([503, 200, 422])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        if status == 200:
            return httpx.Response(200, json={"predictions": [PREDICTION, PREDICTION]})
        return httpx.Response(status, json={"detail": "nope"})

    async def run() -> None:
        async with AsyncRalisClient(
            "http://ralis.test", transport=httpx.MockTransport(handler), retry=FAST
        ) as client:
            batch = await client.predict_batch([{"torso": [[0.0] * 3]}] * 2)
            assert [p.activity for p in batch] == ["rowing", "rowing"]
            with pytest.raises(BadRequestError, match="nope"):
                await client.predict({"torso": [[0.0] * 3]})

    asyncio.run(run())
    sync_names = {n for n in dir(RalisClient) if not n.startswith("_")}
    async_names = {n for n in dir(AsyncRalisClient) if not n.startswith("_")}
    assert sync_names - {"close"} == async_names - {"aclose"}


def test_base_url_from_a_stream_url() -> None:
    assert http_base_url("ws://h:8000/v1/stream") == "http://h:8000"
    assert http_base_url("wss://h/v1/stream") == "https://h"
    assert http_base_url("http://h:8000/") == "http://h:8000"
