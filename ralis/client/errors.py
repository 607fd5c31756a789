"""The client's exceptions: one base class, the HTTP status and the server's detail on each."""

from __future__ import annotations


class RalisError(Exception):
    """Base of every error the RALIS client raises."""


class RalisConnectionError(RalisError):
    """The service could not be reached (refused, reset, DNS, TLS), or a stream gave up
    reconnecting."""


class RalisTimeoutError(RalisError):
    """The service did not answer within the client's timeout."""


class APIError(RalisError):
    """The service answered with an error status; `detail` is its explanation."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class BadRequestError(APIError):
    """The request was refused as it was (400, 413, 415, 422): fix it, do not retry it."""


class AuthenticationError(APIError):
    """A missing or invalid API key (401; 1008 on a stream)."""


class RateLimitError(APIError):
    """Too many requests (429), after the client's retries."""


class ServiceUnavailableError(APIError):
    """The service is loading, overloaded or shutting down (503), after the client's retries."""


class InternalServerError(APIError):
    """The service failed (500 and other 5xx)."""


class StreamClosedError(RalisError):
    """The service closed a stream for a reason retrying cannot fix (bad data, policy)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"stream closed with {code}: {reason or 'no reason given'}")
        self.code = code
        self.reason = reason


def error_for_status(status: int, detail: str) -> APIError:
    """The exception class that fits an HTTP error status."""
    if status == 401:
        return AuthenticationError(status, detail)
    if status == 429:
        return RateLimitError(status, detail)
    if status == 503:
        return ServiceUnavailableError(status, detail)
    if status >= 500:
        return InternalServerError(status, detail)
    if status in (400, 404, 405, 413, 415, 422):
        return BadRequestError(status, detail)
    return APIError(status, detail)
