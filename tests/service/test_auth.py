"""Optional API keys for HTTP, WebSocket and (configurably) /metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.websockets import WebSocketDisconnect

from service.app import create_app
from service.settings import Settings
from tests.service.testclient import TestClient

KEY = "k3y-for-tests-0123456789"
OTHER_KEY = "another-key-abcdefghij"
WINDOW = np.zeros((100, 3)).tolist()


def make_client(bundle_dir: Path, metrics_require_auth: bool) -> TestClient:
    settings = Settings(
        bundle_dir=bundle_dir,
        execution_provider="cpu",
        api_keys=(KEY, OTHER_KEY),
        metrics_require_auth=metrics_require_auth,
        stream_auth_timeout_s=0.3,
    )
    return TestClient(create_app(settings))


@pytest.fixture(scope="module")
def api(bundle_dir: Path) -> Iterator[TestClient]:
    with make_client(bundle_dir, metrics_require_auth=False) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_probes_stay_open(api: TestClient) -> None:
    assert api.get("/healthz").status_code == 200
    assert api.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong-key-0123456789"), {"Authorization": f"Basic {KEY}"}, bearer("")],
    ids=["none", "wrong", "not-bearer", "empty"],
)
def test_http_without_a_valid_key_gets_401(api: TestClient, headers: dict[str, str]) -> None:
    for response in (
        api.get("/v1/model", headers=headers),
        api.post("/v1/predict", json={"sensors": {"torso": WINDOW}}, headers=headers),
        api.post("/v1/predict/batch", json={"windows": []}, headers=headers),
    ):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer <key>" in response.json()["detail"]


def test_http_with_any_configured_key(api: TestClient) -> None:
    assert api.get("/v1/model", headers=bearer(KEY)).status_code == 200
    response = api.post(
        "/v1/predict", json={"sensors": {"torso": WINDOW}}, headers=bearer(OTHER_KEY)
    )
    assert response.status_code == 200


def test_metrics_open_unless_configured(api: TestClient, bundle_dir: Path) -> None:
    assert api.get("/metrics").status_code == 200
    with make_client(bundle_dir, metrics_require_auth=True) as closed:
        refused = closed.get("/metrics")
        assert refused.status_code == 401
        assert "ralis_" not in refused.text
        allowed = closed.get("/metrics", headers=bearer(KEY))
        assert allowed.status_code == 200
        assert 'ralis_errors_total{kind="unauthorized"} 1.0' in allowed.text


def test_websocket_with_the_header(api: TestClient) -> None:
    with api.websocket_connect("/v1/stream", headers=bearer(KEY)) as ws:
        assert ws.receive_json()["type"] == "ready"


def test_websocket_with_a_first_auth_message(api: TestClient) -> None:
    with api.websocket_connect("/v1/stream") as ws:
        ws.send_json({"type": "auth", "token": OTHER_KEY})
        assert ws.receive_json()["type"] == "ready"
        ws.send_json({"type": "samples", "sensor": "torso", "samples": WINDOW})
        assert ws.receive_json()["type"] == "prediction"


@pytest.mark.parametrize(
    "first",
    [
        {"type": "auth", "token": "wrong-key-0123456789"},
        {"type": "samples", "sensor": "torso", "samples": WINDOW},
        {"type": "auth"},
        None,  # says nothing until the auth timeout
    ],
    ids=["wrong-key", "samples-first", "no-token", "silent"],
)
def test_websocket_without_a_valid_key_is_closed_with_1008(
    api: TestClient, first: dict[str, object] | None
) -> None:
    with api.websocket_connect("/v1/stream") as ws:
        if first is not None:
            ws.send_json(first)
            error = ws.receive_json()
            assert error["type"] == "error"
            assert "missing or invalid API key" in error["detail"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1008


def test_websocket_with_a_wrong_header_key_is_refused_at_once(api: TestClient) -> None:
    # Once it waited the auth timeout (5 s) for a first message that could not help.
    started = time.monotonic()
    with api.websocket_connect("/v1/stream", headers=bearer("wrong-key-0123456789")) as ws:
        assert "missing or invalid API key" in ws.receive_json()["detail"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008
    assert time.monotonic() - started < 2.0
