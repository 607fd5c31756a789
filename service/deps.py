"""FastAPI dependencies, as `Annotated` aliases for route signatures.

They are `async def` although they never await: FastAPI runs a plain `def` dependency in a
worker thread, a hand-off per dependency per request for a few attribute reads.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from service.auth import require_api_key
from service.errors import NotReadyError
from service.predictor import Predictor
from service.state import ServiceState


async def get_state(connection: HTTPConnection) -> ServiceState:
    """The app's state (works for HTTP and WebSocket routes)."""
    state: ServiceState = connection.app.state.ralis
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


async def get_predictor(state: StateDep) -> Predictor:
    """The loaded model's predictor, or 503 while there is none."""
    if state.predictor is None or not state.ready:
        raise NotReadyError()
    return state.predictor


PredictorDep = Annotated[Predictor, Depends(get_predictor)]


async def check_api_key(connection: HTTPConnection, state: StateDep) -> None:
    """Route dependency: HTTP requests need a valid key when keys are configured."""
    require_api_key(state.settings.api_keys, connection.headers, state.metrics)


ApiKeyDep = Depends(check_api_key)
