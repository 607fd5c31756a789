"""HTTP clients for `/v1/predict`, `/v1/predict/batch` and `/v1/model`: one sync, one async.

Both have the same methods and results; both retry only what retrying can fix (429 and 503,
honouring `Retry-After`, with exponential backoff) and raise `ralis.client.errors` otherwise.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import httpx
import numpy as np
import numpy.typing as npt

from ralis.client.errors import RalisConnectionError, RalisTimeoutError, error_for_status
from ralis.client.types import ModelInfo, Prediction

# connect 5 s; read, write and pool 30 s (a batch of 64 windows on a busy CPU takes seconds)
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
RETRY_STATUSES = frozenset({429, 503})

Window = Mapping[str, npt.ArrayLike]  # sensor -> (samples, channels)
T = TypeVar("T")


@dataclass(frozen=True)
class Retry:
    """How often and how long to wait before retrying a 429 or 503."""

    max_retries: int = 2
    initial_s: float = 0.5
    max_s: float = 8.0

    def delay_s(self, attempt: int, retry_after: str | None) -> float:
        """Seconds before retry number `attempt` (0-based): Retry-After if given, else
        exponential backoff with jitter; never more than `max_s`."""
        if retry_after is not None:
            try:
                return min(self.max_s, max(0.0, float(retry_after)))
            except ValueError:
                pass  # an HTTP date: fall back to backoff
        backoff = min(self.max_s, self.initial_s * 2.0**attempt)
        return backoff * (0.5 + 0.5 * random.random())


def http_base_url(url: str) -> str:
    """`http(s)://host:port` from a service or stream URL (`ws://host:port/v1/stream`)."""
    parts = httpx.URL(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return str(parts.copy_with(scheme=scheme, path="/", query=None, fragment=None)).rstrip("/")


def auth_headers(api_key: str | None) -> dict[str, str]:
    """The Authorization header for an API key (none without one)."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def predict_body(sensors: Window, sampling_rate_hz: Mapping[str, float] | None) -> dict[str, Any]:
    """A `/v1/predict` request body; samples as arrays or nested lists of (rows, channels)."""
    body: dict[str, Any] = {
        "sensors": {name: np.asarray(s, dtype=np.float64).tolist() for name, s in sensors.items()}
    }
    if sampling_rate_hz:
        body["sampling_rate_hz"] = {name: float(rate) for name, rate in sampling_rate_hz.items()}
    return body


def _retry_delay(response: httpx.Response, attempt: int, retry: Retry) -> float | None:
    if response.status_code not in RETRY_STATUSES or attempt >= retry.max_retries:
        return None
    return retry.delay_s(attempt, response.headers.get("retry-after"))


def _payload(response: httpx.Response) -> Any:
    """The JSON of a success; the matching `APIError` for an error status."""
    if response.is_success:
        return response.json()
    try:
        detail: Any = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    raise error_for_status(response.status_code, detail if isinstance(detail, str) else str(detail))


def _transport_error(exc: httpx.TransportError, url: str) -> Exception:
    if isinstance(exc, httpx.TimeoutException):
        return RalisTimeoutError(f"{url}: no answer within the timeout ({type(exc).__name__})")
    return RalisConnectionError(f"{url}: {exc or type(exc).__name__}")


@dataclass(frozen=True)
class _Call(Generic[T]):
    """One API call: what to send and how to read the answer."""

    method: str
    path: str
    body: Any
    parse: Callable[[Any], T]


def _model_info_call() -> _Call[ModelInfo]:
    return _Call("GET", "/v1/model", None, ModelInfo.from_json)


def _predict_call(
    sensors: Window, sampling_rate_hz: Mapping[str, float] | None
) -> _Call[Prediction]:
    return _Call(
        "POST", "/v1/predict", predict_body(sensors, sampling_rate_hz), Prediction.from_json
    )


def _batch_call(
    windows: Sequence[Window], sampling_rate_hz: Mapping[str, float] | None
) -> _Call[list[Prediction]]:
    body = {"windows": [predict_body(w, sampling_rate_hz) for w in windows]}
    return _Call(
        "POST",
        "/v1/predict/batch",
        body,
        lambda payload: [Prediction.from_json(p) for p in payload["predictions"]],
    )


@dataclass(frozen=True)
class _Wait:
    """Retry after this many seconds."""

    seconds: float


class _Client:
    """What the sync and async clients share: base URL, headers, timeout, retry policy."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: Retry = Retry(),
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`transport` replaces the network (tests: `httpx.MockTransport`)."""
        self.base_url = http_base_url(base_url)
        self.retry = retry
        self._open(
            transport,
            base_url=self.base_url,
            headers=auth_headers(api_key),
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
        )

    def _open(self, transport: Any, **options: Any) -> None:
        raise NotImplementedError

    def _check(
        self, path: str, response: httpx.Response | httpx.TransportError, attempt: int
    ) -> Any:
        """The JSON of a success, or `_Wait` before a retry; raises the fitting error."""
        if isinstance(response, httpx.TransportError):
            raise _transport_error(response, self.base_url + path) from response
        delay = _retry_delay(response, attempt, self.retry)
        return _Wait(delay) if delay is not None else _payload(response)


class RalisClient(_Client):
    """Synchronous client: `with RalisClient(url, api_key=...) as client: client.predict(...)`."""

    _http: httpx.Client

    def _open(self, transport: Any, **options: Any) -> None:
        self._http = httpx.Client(transport=transport, **options)

    def _call(self, call: _Call[T]) -> T:
        for attempt in range(self.retry.max_retries + 1):
            try:
                response: httpx.Response | httpx.TransportError = self._http.request(
                    call.method, call.path, json=call.body
                )
            except httpx.TransportError as exc:
                response = exc
            outcome = self._check(call.path, response, attempt)
            if not isinstance(outcome, _Wait):
                return call.parse(outcome)
            time.sleep(outcome.seconds)
        raise AssertionError("unreachable: the last attempt is never retried")

    def model_info(self) -> ModelInfo:
        """`GET /v1/model`."""
        return self._call(_model_info_call())

    def predict(
        self, sensors: Window, sampling_rate_hz: Mapping[str, float] | None = None
    ) -> Prediction:
        """`POST /v1/predict`: one window of any non-empty subset of the model's sensors."""
        return self._call(_predict_call(sensors, sampling_rate_hz))

    def predict_batch(
        self, windows: Sequence[Window], sampling_rate_hz: Mapping[str, float] | None = None
    ) -> list[Prediction]:
        """`POST /v1/predict/batch`: several windows (rates shared by all), results in order."""
        return self._call(_batch_call(windows, sampling_rate_hz))

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncRalisClient(_Client):
    """Asynchronous client with the same methods: `async with AsyncRalisClient(url) as c:`."""

    _http: httpx.AsyncClient

    def _open(self, transport: Any, **options: Any) -> None:
        self._http = httpx.AsyncClient(transport=transport, **options)

    async def _call(self, call: _Call[T]) -> T:
        for attempt in range(self.retry.max_retries + 1):
            try:
                response: httpx.Response | httpx.TransportError = await self._http.request(
                    call.method, call.path, json=call.body
                )
            except httpx.TransportError as exc:
                response = exc
            outcome = self._check(call.path, response, attempt)
            if not isinstance(outcome, _Wait):
                return call.parse(outcome)
            await asyncio.sleep(outcome.seconds)
        raise AssertionError("unreachable: the last attempt is never retried")

    async def model_info(self) -> ModelInfo:
        """`GET /v1/model`."""
        return await self._call(_model_info_call())

    async def predict(
        self, sensors: Window, sampling_rate_hz: Mapping[str, float] | None = None
    ) -> Prediction:
        """`POST /v1/predict`: one window of any non-empty subset of the model's sensors."""
        return await self._call(_predict_call(sensors, sampling_rate_hz))

    async def predict_batch(
        self, windows: Sequence[Window], sampling_rate_hz: Mapping[str, float] | None = None
    ) -> list[Prediction]:
        """`POST /v1/predict/batch`: several windows (rates shared by all), results in order."""
        return await self._call(_batch_call(windows, sampling_rate_hz))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
