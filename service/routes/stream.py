"""Live sample streams over WebSocket: samples in, a prediction every hop of sample time."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from service.deps import StateDep
from service.session import StreamSession

router = APIRouter(tags=["stream"])


@router.websocket("/v1/stream")
async def stream(websocket: WebSocket, state: StateDep) -> None:
    """Samples of any sensors in, `{"type": "prediction", ...}` every hop of sample time out.

    Client messages: `{"type": "samples", "sensor", "samples", "t0"?, "rate_hz"?}`,
    `{"type": "config", "hop_s"?, "stale_after_s"?}`, binary sample frames and, first and only
    when API keys are on and no Authorization header was sent, `{"type": "auth", "token"}`.
    The protocol lives in `service/session.py`.
    """
    await StreamSession(websocket, state).run()
