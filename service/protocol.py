"""uvicorn's HTTP protocol with read timeouts: slow and silent clients cannot hold sockets.

uvicorn times out an idle keep-alive connection only after a response; a connection that
sends nothing, sends its headers a byte at a time, or pauses forever in the middle of a body
holds its socket (and a file descriptor) until the client goes away. With the descriptor
limit reached, nobody else gets in. This subclass adds:

- a header deadline: a request's headers must be complete within `header_timeout_s` of the
  connection opening (or of the first byte of a later request on a kept-alive connection);
- a body idle timeout: a request body may pause at most `body_timeout_s` between chunks.

Either expiry closes the connection; the app sees `http.disconnect`. A reverse proxy in front
(deploy/README.md) adds the same limits and per-address connection caps at the edge.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` with a header deadline and a body idle timeout (see module doc)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0

    _header_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # a later request on a kept-alive connection
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._cancel(self._header_timer)
        self._header_timer = None
        super().on_headers_complete()
        if not self.parser.should_upgrade():  # a WebSocket has timeouts of its own
            self._arm_body_timer()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm_body_timer()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._cancel(self._body_timer)
        self._body_timer = None

    # --- timers ----------------------------------------------------------------------

    def _arm_header_timer(self) -> None:
        self._cancel(self._header_timer)
        self._header_timer = self.loop.call_later(
            self.header_timeout_s, self._expire, "headers", self.header_timeout_s
        )

    def _arm_body_timer(self) -> None:
        self._cancel(self._body_timer)
        self._body_timer = self.loop.call_later(
            self.body_timeout_s, self._expire, "body", self.body_timeout_s
        )

    def _cancel_timers(self) -> None:
        self._cancel(self._header_timer)
        self._cancel(self._body_timer)
        self._header_timer = self._body_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()

    def _expire(self, what: str, seconds: float) -> None:
        if not self.transport.is_closing():
            logger.info("closing a connection from %s: no complete %s within %g s",
                        self.client, what, seconds)  # fmt: skip
            self.transport.close()


def guarded_protocol(header_timeout_s: float, body_timeout_s: float) -> type[HttpToolsProtocol]:
    """The protocol class for `uvicorn.Config(http=...)` with these timeouts."""
    return type(
        "ConfiguredGuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s},
    )
