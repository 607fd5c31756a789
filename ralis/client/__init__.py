"""The RALIS Python client: HTTP and stream clients, DSADS helpers, torch-free.

    from ralis.client import RalisClient, StreamClient

`RalisClient` / `AsyncRalisClient` (httpx) call `/v1/predict`, `/v1/predict/batch` and
`/v1/model`; `StreamClient` (websockets) streams samples to `/v1/stream`. The names are
imported on first use, so `ralis.client.dsads` needs nothing but numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ralis.client.errors import (
        APIError,
        AuthenticationError,
        BadRequestError,
        InternalServerError,
        RalisConnectionError,
        RalisError,
        RalisTimeoutError,
        RateLimitError,
        ServiceUnavailableError,
        StreamClosedError,
    )
    from ralis.client.http import AsyncRalisClient, RalisClient, Retry
    from ralis.client.stream import Backoff, StreamClient
    from ralis.client.types import ModelInfo, Prediction, ViewInfo

_EXPORTS = {
    "ralis.client.errors": (
        "APIError",
        "AuthenticationError",
        "BadRequestError",
        "InternalServerError",
        "RalisConnectionError",
        "RalisError",
        "RalisTimeoutError",
        "RateLimitError",
        "ServiceUnavailableError",
        "StreamClosedError",
    ),
    "ralis.client.http": ("AsyncRalisClient", "RalisClient", "Retry"),
    "ralis.client.stream": ("Backoff", "StreamClient"),
    "ralis.client.types": ("ModelInfo", "Prediction", "ViewInfo"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "APIError",
    "AsyncRalisClient",
    "AuthenticationError",
    "Backoff",
    "BadRequestError",
    "InternalServerError",
    "ModelInfo",
    "Prediction",
    "RalisClient",
    "RalisConnectionError",
    "RalisError",
    "RalisTimeoutError",
    "RateLimitError",
    "Retry",
    "ServiceUnavailableError",
    "StreamClosedError",
    "StreamClient",
    "ViewInfo",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'ralis.client' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
