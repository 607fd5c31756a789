"""Client-facing errors: each carries an HTTP status and a bounded `kind` for metrics."""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal[
    "unknown_sensor",
    "bad_shape",
    "non_finite",
    "out_of_range",
    "empty_sensors",
    "short_window",
    "bad_rate",
    "too_many_windows",
    "body_too_large",
    "message_too_large",
    "bad_message",
    "stream_time",
    "stream_limit",
    "too_many_streams",
    "unauthorized",
    "forbidden_origin",
    "unsupported_media_type",
    "validation",
    "overloaded",
    "not_ready",
    "internal",
]


# Client-given names and values are echoed back at most this long: a 3.8 MB sensor name once
# came back as a 13 MB error.
MAX_ECHO_CHARS = 64


def shown(value: str) -> str:
    """`value` quoted for an error message, cut to `MAX_ECHO_CHARS` characters."""
    if len(value) <= MAX_ECHO_CHARS:
        return repr(value)
    return f"{value[:MAX_ECHO_CHARS]!r}... ({len(value)} characters)"


class ServiceError(Exception):
    """An error the client caused or must know about; `detail` is safe to send."""

    status_code = 422

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.kind: ErrorKind = kind
        self.detail = detail


class InputError(ServiceError):
    """The request's data cannot be used (unknown sensor, wrong shape, short window...)."""


class OverloadedError(ServiceError):
    """Too much pending work; the client should retry later."""

    status_code = 503

    def __init__(self, detail: str) -> None:
        super().__init__("overloaded", detail)


class NotReadyError(ServiceError):
    """The model is not loaded (yet, or any more)."""

    status_code = 503

    def __init__(self, detail: str = "the model is not loaded; retry shortly") -> None:
        super().__init__("not_ready", detail)


class InternalError(ServiceError):
    """A fault of the service itself, not of the request: logged and counted, a 500."""

    status_code = 500

    def __init__(self, detail: str) -> None:
        super().__init__("internal", detail)


class NonFiniteOutputError(InternalError):
    """The model answered NaN or infinity: an internal error, logged and counted, never a 200."""
