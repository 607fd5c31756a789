"""Prometheus metrics change as requests, predictions, errors and streams happen."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.settings import Settings
from tests.service.testclient import TestClient

VIEWS = ["torso", "right_arm", "left_arm", "right_leg", "left_leg"]


@pytest.fixture()
def api(settings: Settings) -> Iterator[TestClient]:
    # A fresh app (and registry) per test, batching wait long enough to group a batch request.
    settings = settings.model_copy(update={"max_batch_wait_ms": 20.0})
    with TestClient(create_app(settings)) as client:
        yield client


def scrape(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            values[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return values


def value(
    metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], metric: str, /, **labels: str
) -> float:
    return metrics.get((metric, frozenset(labels.items())), 0.0)


def window(seed: int = 0) -> list[list[float]]:
    rows: list[list[float]] = np.random.default_rng(seed).normal(size=(100, 3)).tolist()
    return rows


def test_model_info_and_readiness(api: TestClient) -> None:
    metrics = scrape(api)
    info = {"name": "ralis-tiny-test", "version": "0.0.test", "precision": "fp32"}
    assert (
        value(metrics, "ralis_model_info", **info, execution_provider="CPUExecutionProvider") == 1
    )
    assert value(metrics, "ralis_ready") == 1


def test_predictions_count_requests_stages_views_and_only_the_present_encoders(
    api: TestClient,
) -> None:
    before = scrape(api)
    response = api.post("/v1/predict", json={"sensors": {"torso": window(), "left_leg": window(1)}})
    activity = response.json()["activity"]
    after = scrape(api)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("ralis_requests_total", route="/v1/predict", method="POST", status="200") == 1
    assert delta("ralis_request_duration_seconds_count", route="/v1/predict") == 1
    assert delta("ralis_predictions_total", activity=activity, source="http") == 1
    assert delta("ralis_prediction_duration_seconds_count", source="http") == 1
    for stage in ("decode", "encode", "fuse"):
        assert delta("ralis_stage_duration_seconds_count", stage=stage) == 1
    assert delta("ralis_views_per_prediction_count") == 1
    assert delta("ralis_views_per_prediction_sum") == 2
    assert delta("ralis_view_used_total", view="torso") == 1
    assert delta("ralis_view_used_total", view="right_arm") == 0
    # Only the encoders of the sensors present ran.
    assert delta("ralis_encoder_batch_size_count", view="torso") == 1
    assert delta("ralis_encoder_batch_size_count", view="left_leg") == 1
    for absent in ("right_arm", "left_arm", "right_leg"):
        assert delta("ralis_encoder_batch_size_count", view=absent) == 0
    assert delta("ralis_head_batch_size_count") == 1


def test_concurrent_windows_are_batched_per_encoder(api: TestClient) -> None:
    requests = [{"sensors": {"torso": window(i)}} for i in range(8)]
    assert api.post("/v1/predict/batch", json={"windows": requests}).status_code == 200
    metrics = scrape(api)
    assert value(metrics, "ralis_encoder_batch_size_sum", view="torso") == 8
    assert value(metrics, "ralis_encoder_batch_size_count", view="torso") == 1  # one run of 8
    assert value(metrics, "ralis_head_batch_size_sum") == 8
    assert value(metrics, "ralis_head_batch_size_count") == 1


def test_errors_are_counted_by_kind_and_status(api: TestClient) -> None:
    api.post("/v1/predict", json={"sensors": {"nose": window()}})
    api.post("/v1/predict", json={"sensors": {"torso": window()[:10]}})
    api.post("/v1/predict", content=b"{", headers={"content-type": "application/json"})
    metrics = scrape(api)
    assert value(metrics, "ralis_errors_total", kind="unknown_sensor") == 1
    assert value(metrics, "ralis_errors_total", kind="short_window") == 1
    assert value(metrics, "ralis_errors_total", kind="validation") == 1
    assert (
        value(metrics, "ralis_requests_total", route="/v1/predict", method="POST", status="422")
        == 3
    )


def test_active_streams_and_stream_predictions(api: TestClient) -> None:
    with api.websocket_connect("/v1/stream") as ws:
        ws.receive_json()
        assert value(scrape(api), "ralis_active_streams") == 1
        ws.send_json({"type": "samples", "sensor": "torso", "samples": window()})
        prediction = ws.receive_json()
        ws.send_json({"type": "samples", "sensor": "torso", "samples": [[0.0, 0.0]]})
        ws.receive_json()
    metrics = scrape(api)
    assert value(metrics, "ralis_active_streams") == 0
    assert (
        value(metrics, "ralis_predictions_total", activity=prediction["activity"], source="stream")
        == 1
    )
    assert value(metrics, "ralis_errors_total", kind="bad_shape") == 1


def test_route_labels_stay_bounded(api: TestClient) -> None:
    for i in range(5):
        api.get(f"/no/such/path/{i}")
    metrics = scrape(api)
    assert (
        value(metrics, "ralis_requests_total", route="unmatched", method="GET", status="404") == 5
    )
    routes = {
        dict(labels).get("route") for (name, labels) in metrics if name == "ralis_requests_total"
    }
    assert not any(r and r.startswith("/no/") for r in routes)


def test_fixed_routes_are_labelled_by_name(api: TestClient) -> None:
    # issue 13: /metrics, /docs and /openapi.json were counted as "unmatched".
    for path in ("/metrics", "/openapi.json", "/healthz"):
        assert api.get(path).status_code == 200
    metrics = scrape(api)
    for path in ("/metrics", "/openapi.json", "/healthz"):
        assert value(metrics, "ralis_requests_total", route=path, method="GET", status="200") >= 1
