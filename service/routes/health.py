"""Liveness and readiness probes (never behind API keys)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import StateDep
from service.schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse, summary="The process is alive")
def healthz() -> HealthResponse:
    """Always 200 while the process serves requests."""
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=HealthResponse,
    summary="The model is loaded and warmed up",
    responses={503: {"model": HealthResponse, "description": "Loading or shutting down"}},
)
def readyz(state: StateDep) -> JSONResponse:
    """200 once the bundle's sessions are warmed up; 503 before and while shutting down."""
    if state.ready and state.runtime is not None and not state.streams.closing.is_set():
        body = HealthResponse(status="ready", execution_provider=state.runtime.provider)
        return JSONResponse(body.model_dump())
    return JSONResponse(HealthResponse(status="not ready").model_dump(), status_code=503)
