"""Request bodies parsed by pydantic's JSON parser instead of the standard library's.

FastAPI decodes a JSON body with `json.loads` before validating it; for a prediction request
(five windows of 100 x 3 floats) that is about three quarters of the parsing time, and
`pydantic_core.from_json` is several times faster on arrays of numbers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response


class FastJSONRequest(Request):
    """A request whose `json()` uses pydantic's parser, in a worker thread for large bodies
    so that the event loop keeps serving streams meanwhile."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                if len(body) > self.app.state.ralis.settings.offload_parse_bytes:
                    self._json = await asyncio.to_thread(pydantic_core.from_json, body)
                else:
                    self._json = pydantic_core.from_json(body)
            except ValueError:
                # The standard parser raises the JSONDecodeError (with its position) that
                # FastAPI turns into a 422; bad bodies are rare, so parsing twice is fine.
                self._json = json.loads(body)
        return self._json


class FastJSONRoute(APIRoute):
    """An APIRoute that hands its endpoint a `FastJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(FastJSONRequest(request.scope, request.receive))

        return handle
