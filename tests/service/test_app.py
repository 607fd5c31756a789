"""`create_app`: nothing loads before the lifespan; the lifespan loads, sizes and releases."""

from __future__ import annotations

from pathlib import Path

from service.app import create_app
from service.limits import window_json_bytes
from service.settings import Settings
from service.state import ServiceState
from tests.service.testclient import TestClient


def test_the_bundle_loads_in_the_lifespan_and_sizes_the_body_limits(bundle_dir: Path) -> None:
    settings = Settings(bundle_dir=bundle_dir, execution_provider="cpu")
    app = create_app(settings)
    state: ServiceState = app.state.ralis
    assert state.predictor is None and state.body_limits is None and not state.ready
    with TestClient(app) as client:
        assert state.ready and state.predictor is not None
        views = list(state.predictor.manifest.views)
        assert state.body_limits is not None
        assert state.body_limits.single == window_json_bytes(views, 4.0) + 16 * 1024
        assert state.body_limits.batch == 64 * window_json_bytes(views, 1.0) + 16 * 1024
        assert client.get("/readyz").status_code == 200
    assert not state.ready  # the lifespan's shutdown ran


def test_explicit_body_limits_win(bundle_dir: Path) -> None:
    settings = Settings(
        bundle_dir=bundle_dir, execution_provider="cpu", max_body_bytes=5000,
        max_batch_body_bytes=9000,
    )  # fmt: skip
    app = create_app(settings)
    with TestClient(app):
        limits = app.state.ralis.body_limits
        assert (limits.single, limits.batch) == (5000, 9000)


def test_every_route_is_documented_or_deliberately_hidden(bundle_dir: Path) -> None:
    app = create_app(Settings(bundle_dir=bundle_dir, execution_provider="cpu"))
    with TestClient(app) as client:
        paths = set(client.get("/openapi.json").json()["paths"])
    assert {"/v1/predict", "/v1/predict/batch", "/v1/model", "/healthz", "/readyz"} <= paths
