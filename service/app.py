"""The FastAPI application: `create_app(settings)`; the lifespan loads the model bundle."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import make_asgi_app
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from service.auth import require_api_key
from service.errors import ServiceError
from service.limits import body_limits
from service.metrics import Metrics
from service.middleware import BodyLimitMiddleware, RequestMetricsMiddleware
from service.predictor import Predictor
from service.routes import health, model, predict, stream, ui
from service.runtime import ModelRuntime
from service.settings import Settings
from service.state import ServiceState, StreamRegistry

logger = logging.getLogger(__name__)

MAX_VALIDATION_ERRORS = 5


def create_app(settings: Settings | None = None, metrics_dir: Path | None = None) -> FastAPI:
    """Build the app; nothing is loaded until the lifespan starts.

    `metrics_dir`: this app is one of several worker processes sharing metrics through
    prometheus_client's multiprocess files there (service/workers.py); None: one process.
    """
    settings = settings or Settings()
    metrics = Metrics(max_batch_size=settings.max_batch_size, multiprocess_dir=metrics_dir)
    app = FastAPI(
        title="RALIS activity recognition",
        summary="Live human activity predictions from whichever wearable sensors report in.",
        version=_package_version(),
        lifespan=_lifespan,
        docs_url=None,  # /docs and /redoc: served from local assets by ui.add_docs
        redoc_url=None,
    )
    streams = StreamRegistry(
        settings.max_streams, settings.max_pending_streams, settings.max_streams_per_client
    )
    state = ServiceState(settings, metrics, streams)
    app.state.ralis = state
    for router in (health.router, model.router, predict.router, stream.router, ui.router):
        app.include_router(router)
    ui.add_docs(app)
    app.router.routes.append(
        Route("/metrics", endpoint=MetricsEndpoint(metrics, settings), methods=["GET"])
    )
    _add_exception_handlers(app, metrics)
    app.add_middleware(BodyLimitMiddleware, limits=lambda: state.body_limits, metrics=metrics)
    # Outermost: sees every status, and counts requests in flight for the batcher.
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics, in_flight=state.requests)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServiceState = app.state.ralis
    settings = state.settings
    runtime = await asyncio.to_thread(
        ModelRuntime.load,
        settings.bundle_dir,
        settings.execution_provider,
        settings.intra_op_threads,
        settings.max_batch_size,
        settings.precision,
    )
    manifest = runtime.manifest
    predictor = Predictor(runtime, settings, state.metrics, sources=state.prediction_sources)
    predictor.start()
    state.runtime, state.predictor = runtime, predictor
    state.body_limits = body_limits(list(manifest.views), settings)
    state.metrics.set_model(
        manifest.model_name, manifest.model_version, runtime.provider, runtime.precision
    )
    state.metrics.init_labels(manifest.view_names, manifest.classes)
    state.ready = True
    state.metrics.ready.set(1)
    try:
        yield
    finally:
        state.ready = False
        state.metrics.ready.set(0)
        await state.streams.close_all(settings.shutdown_timeout_s)
        await predictor.stop()
        logger.info("stopped")


def _package_version() -> str:
    try:
        return importlib.metadata.version("ralis")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


class MetricsEndpoint:
    """`GET /metrics`: the app's metrics in Prometheus text format, optionally behind a key."""

    def __init__(self, metrics: Metrics, settings: Settings) -> None:
        self._exporter = make_asgi_app(metrics.exposition_registry())
        self._metrics = metrics
        self._keys = settings.api_keys if settings.metrics_require_auth else ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app: ASGIApp = self._exporter
        if self._keys:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            try:
                require_api_key(self._keys, headers, self._metrics)
            except Exception as exc:  # HTTPException: answer it here, outside FastAPI routing
                detail = getattr(exc, "detail", "unauthorized")
                app = JSONResponse(
                    {"detail": detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
        await app(scope, receive, send)


def _add_exception_handlers(app: FastAPI, metrics: Metrics) -> None:
    async def service_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        metrics.count_error(exc.kind)
        if exc.status_code >= 500 and exc.kind == "internal":
            logger.error("internal error: %s", exc.detail)
        headers = {"Retry-After": "1"} if exc.status_code == 503 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        metrics.count_error("validation")
        # Loc, message and type only: never echo (possibly huge) input back.
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()[:MAX_VALIDATION_ERRORS]
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        metrics.count_error("internal")
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
