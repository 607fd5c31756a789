"""HTTP API against the app (TestClient): health, model, predictions, every bad input."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest

from service.app import create_app
from service.settings import Settings
from tests.service.reference import ReferenceModel
from tests.service.testclient import TestClient

VIEWS = ["torso", "right_arm", "left_arm", "right_leg", "left_leg"]


@pytest.fixture(scope="module")
def api(bundle_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        bundle_dir=bundle_dir, execution_provider="cpu", max_batch_wait_ms=1.0, max_batch_windows=8
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def reference(bundle_dir: Path) -> ReferenceModel:
    return ReferenceModel(bundle_dir)


def windows(names: list[str], n: int = 100, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.normal(0.0, 3.0, size=(n, 3)) for name in names}


def as_json(sensors: dict[str, np.ndarray]) -> dict[str, list[list[float]]]:
    return {name: w.tolist() for name, w in sensors.items()}


def test_health_and_readiness(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok", "execution_provider": None}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "execution_provider": "CPUExecutionProvider"}


def test_model_info(api: TestClient) -> None:
    info = api.get("/v1/model").json()
    assert info["name"] == "ralis-tiny-test"
    assert info["version"] == "0.0.test"
    assert len(info["classes"]) == 19
    assert info["window_seconds"] == 4.0
    assert info["execution_provider"] == "CPUExecutionProvider"
    assert [v["name"] for v in info["views"]] == VIEWS
    assert info["views"][0] == {
        "name": "torso",
        "modality": "acc",
        "channels": ["torso_acc_x", "torso_acc_y", "torso_acc_z"],
        "sampling_rate_hz": 25.0,
        "window_samples": 100,
    }


@pytest.mark.parametrize(
    "names", [["torso"], ["left_leg", "torso", "right_arm"], VIEWS], ids=["1", "3", "5"]
)
def test_predict_matches_the_reference(
    api: TestClient, reference: ReferenceModel, names: list[str]
) -> None:
    sensors = windows(names)
    response = api.post("/v1/predict", json={"sensors": as_json(sensors)})
    assert response.status_code == 200
    body = response.json()
    probabilities, weights = reference.predict(sensors)
    classes = list(body["probabilities"])
    assert classes == reference.manifest.classes
    np.testing.assert_allclose(list(body["probabilities"].values()), probabilities, atol=1e-5)
    assert body["activity"] == classes[int(np.argmax(probabilities))]
    assert body["views_used"] == [v for v in VIEWS if v in names]  # model order
    assert list(body["view_weights"]) == body["views_used"]
    expected_weights = [weights[VIEWS.index(v)] for v in body["views_used"]]
    np.testing.assert_allclose(list(body["view_weights"].values()), expected_weights, atol=1e-5)
    assert sum(body["view_weights"].values()) == pytest.approx(1.0, abs=1e-5)
    assert body["model_version"] == "0.0.test"
    assert body["latency_ms"] > 0


def predict(api: TestClient, payload: Mapping[str, object]) -> dict[str, float]:
    response = api.post("/v1/predict", json=payload)
    assert response.status_code == 200, response.text
    probabilities: dict[str, float] = response.json()["probabilities"]
    return probabilities


def assert_same(a: dict[str, float], b: dict[str, float]) -> None:
    np.testing.assert_allclose(list(a.values()), list(b.values()), atol=1e-6)


def test_a_50_hz_window_is_resampled(api: TestClient) -> None:
    fast = windows(["torso"], n=200)["torso"]  # 4 s at 50 Hz
    resampled = predict(
        api, {"sensors": {"torso": fast.tolist()}, "sampling_rate_hz": {"torso": 50.0}}
    )
    # The 25 Hz grid ends at the last sample, so it hits every other sample exactly.
    decimated = predict(api, {"sensors": {"torso": fast[1::2].tolist()}})
    assert_same(resampled, decimated)


def test_a_slightly_short_window_is_edge_padded(api: TestClient) -> None:
    short = windows(["torso"], n=92)["torso"]
    padded = np.concatenate([np.repeat(short[:1], 8, axis=0), short])
    assert_same(
        predict(api, {"sensors": {"torso": short.tolist()}}),
        predict(api, {"sensors": {"torso": padded.tolist()}}),
    )


def test_a_long_window_keeps_its_most_recent_samples(api: TestClient) -> None:
    long = windows(["torso"], n=160)["torso"]
    assert_same(
        predict(api, {"sensors": {"torso": long.tolist()}}),
        predict(api, {"sensors": {"torso": long[-100:].tolist()}}),
    )


def test_batch_predictions_are_in_order_and_equal_single_ones(api: TestClient) -> None:
    requests = [{"sensors": as_json(windows(VIEWS[: i + 1], seed=i))} for i in range(len(VIEWS))]
    response = api.post("/v1/predict/batch", json={"windows": requests})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert len(predictions) == len(requests)
    for request, prediction in zip(requests, predictions, strict=True):
        assert prediction["views_used"] == list(request["sensors"])
        assert_same(prediction["probabilities"], predict(api, request))


BAD_REQUESTS = [
    ("unknown sensor", {"sensors": {"torsoo": [[0.0] * 3] * 100}}, 422, "known: torso, right_arm"),
    ("empty sensors", {"sensors": {}}, 422, "no sensors given"),
    ("no sensors key", {"windows": []}, 422, "sensors"),
    ("wrong channels", {"sensors": {"torso": [[0.0] * 4] * 100}}, 422, "rows have 4 values"),
    ("ragged", {"sensors": {"torso": [[0.0] * 3] * 99 + [[0.0]]}}, 422, "different lengths"),
    ("too short", {"sensors": {"torso": [[0.0] * 3] * 50}}, 422, "at least 90"),
    ("not numbers", {"sensors": {"torso": [["a", "b", "c"]] * 100}}, 422, "other than numbers"),
    ("samples not a list", {"sensors": {"torso": 5}}, 422, "expected a list of rows of 3"),
    ("samples a dict", {"sensors": {"torso": {"x": 1}}}, 422, "expected a list of rows of 3"),
    ("null sample", {"sensors": {"torso": [[None, 0.0, 0.0]] * 100}}, 422, "non-finite"),
    ("nested too deep", {"sensors": {"torso": [[[0.0] * 3]] * 100}}, 422, "got shape (100, 1, 3)"),
    (
        "rate for absent sensor",
        {"sensors": {"torso": [[0.0] * 3] * 100}, "sampling_rate_hz": {"left_leg": 50.0}},
        422,
        "not in sensors",
    ),
    (
        "zero rate",
        {"sensors": {"torso": [[0.0] * 3] * 100}, "sampling_rate_hz": {"torso": 0.0}},
        422,
        "sampling rate 0 Hz",
    ),
    ("extra field", {"sensors": {"torso": [[0.0] * 3] * 100}, "x": 1}, 422, "Extra inputs"),
]


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_requests_get_a_clear_4xx(
    api: TestClient, payload: dict[str, object], status: int, message: str
) -> None:
    response = api.post("/v1/predict", json=payload)
    assert response.status_code == status
    assert message in json.dumps(response.json()["detail"])
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"sensors": {"torso": [[NaN, 0, 0]]}}', "non-finite value at sample 0"),
        ('{"sensors": {"torso": [[Infinity, 0, 0]]}}', "non-finite value at sample 0"),
        ('{"sensors": ', "JSON decode error"),
        ("not json at all", "JSON decode error"),
    ],
)
def test_non_finite_values_and_malformed_json(api: TestClient, body: str, message: str) -> None:
    window = ", [0, 0, 0]" * 99
    text = body.replace("]]}}", "]" + window + "]}}") if "NaN" in body or "Inf" in body else body
    response = api.post("/v1/predict", content=text, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert message in json.dumps(response.json()["detail"])


def test_batch_limits(api: TestClient) -> None:
    one = {"sensors": as_json(windows(["torso"]))}
    too_many = api.post("/v1/predict/batch", json={"windows": [one] * 9})
    assert too_many.status_code == 422
    assert "got 9 windows; send between 1 and 8" in too_many.json()["detail"]
    empty = api.post("/v1/predict/batch", json={"windows": []})
    assert empty.status_code == 422
    bad = {"sensors": {"torso": [[0.0] * 3] * 10}}
    indexed = api.post("/v1/predict/batch", json={"windows": [one, bad]})
    assert indexed.status_code == 422
    assert indexed.json()["detail"].startswith("windows[1]: sensor 'torso'")


def test_unknown_routes_and_methods(api: TestClient) -> None:
    assert api.get("/v1/nope").status_code == 404
    assert api.get("/v1/predict").status_code == 405


def test_the_service_stays_healthy_after_bad_input(api: TestClient) -> None:
    for _, payload, _, _ in BAD_REQUESTS:
        api.post("/v1/predict", json=payload)
    assert api.get("/readyz").status_code == 200
    assert predict(api, {"sensors": as_json(windows(["torso"]))})
    assert 'status="500"' not in api.get("/metrics").text


def test_openapi_documents_the_api(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    for path in ("/healthz", "/readyz", "/v1/model", "/v1/predict", "/v1/predict/batch"):
        assert path in schema["paths"]
    components = schema["components"]["schemas"]
    assert "examples" in components["PredictRequest"]
    assert "examples" in components["PredictResponse"]
    assert "422" in schema["paths"]["/v1/predict"]["post"]["responses"]


def test_oversized_bodies_get_413(bundle_dir: Path) -> None:
    settings = Settings(bundle_dir=bundle_dir, execution_provider="cpu", max_body_bytes=16_000,
                        max_message_bytes=8_000)  # fmt: skip
    big = {"sensors": as_json(windows(VIEWS))}  # about 35 kB
    with TestClient(create_app(settings)) as client:
        declared = client.post("/v1/predict", json=big)
        assert declared.status_code == 413
        assert "exceeds 16000 bytes" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
            data = json.dumps(big).encode()
            for start in range(0, len(data), 4096):
                yield data[start : start + 4096]

        streamed = client.post(
            "/v1/predict", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert client.post("/v1/predict", json={"sensors": as_json(windows(["torso"]))}).is_success
        assert 'ralis_errors_total{kind="body_too_large"} 2.0' in client.get("/metrics").text


# --- hostile input (issue 13) ---------------------------------------------------------


@pytest.mark.parametrize("huge", [1e308, 3e38, -1e7])
def test_finite_but_huge_values_get_a_422_naming_the_sensor_and_the_limit(
    api: TestClient, huge: float
) -> None:
    # Once a 200 with every probability null.
    response = api.post("/v1/predict", json={"sensors": {"torso": [[huge, huge, huge]] * 100}})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "sensor 'torso'" in detail and "within +-1e+06" in detail


def test_unknown_sensor_names_are_echoed_truncated(api: TestClient) -> None:
    name = "x" * 100_000
    response = api.post("/v1/predict", json={"sensors": {name: [[0.0, 0.0, 0.0]] * 100}})
    assert response.status_code == 422
    assert len(response.content) < 1_000
    assert "(100000 characters)" in response.json()["detail"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_non_json_bodies_get_415(api: TestClient, content_type: str | None) -> None:
    body = json.dumps({"sensors": as_json(windows(["torso"]))})
    headers = {"content-type": content_type} if content_type else {}
    response = api.post("/v1/predict", content=body, headers=headers)
    assert response.status_code == 415
    assert "send application/json" in response.json()["detail"]


def test_the_default_body_limit_is_sized_to_the_model(api: TestClient) -> None:
    # 5 views x 4 x 100 rows x (3 x 24 + 4) bytes + 16 KiB (service/limits.py).
    limit = 5 * 400 * 76 + 16 * 1024
    over = {"sensors": {"torso": [[0.0, 0.0, 0.0]] * 20_000}}
    response = api.post("/v1/predict", json=over)
    assert response.status_code == 413
    assert f"exceeds {limit} bytes" in response.json()["detail"]


def test_a_non_finite_model_output_is_an_internal_error_never_a_200(
    bundle_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from service.runtime import HeadResult, ModelRuntime

    real_head = ModelRuntime.head

    def broken_head(self: ModelRuntime, embeddings: np.ndarray, mask: np.ndarray) -> HeadResult:
        out = real_head(self, embeddings, mask)
        return out._replace(probabilities=np.full_like(out.probabilities, np.nan))

    monkeypatch.setattr(ModelRuntime, "head", broken_head)
    settings = Settings(bundle_dir=bundle_dir, execution_provider="cpu")
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/predict", json={"sensors": as_json(windows(["torso"]))})
        assert response.status_code == 500
        assert "non-finite" in response.json()["detail"]
        assert 'ralis_errors_total{kind="internal"} 1.0' in client.get("/metrics").text
    assert "non-finite" in caplog.text


def test_responses_match_their_schema_models(api: TestClient) -> None:
    from service.schemas import BatchPredictResponse, PredictResponse

    single = api.post("/v1/predict", json={"sensors": as_json(windows(["torso"]))})
    PredictResponse.model_validate_json(single.content)
    batch = api.post("/v1/predict/batch", json={"windows": [{"sensors": as_json(windows(VIEWS))}]})
    BatchPredictResponse.model_validate_json(batch.content)
    assert single.headers["content-type"] == "application/json"


def test_a_lone_request_does_not_wait_for_a_batch_to_fill(bundle_dir: Path) -> None:
    """With the longest batch wait (1 s), a single client's requests are answered at once: the
    app tells the batcher that no one else could join (no streams, no other request)."""
    settings = Settings(bundle_dir=bundle_dir, execution_provider="cpu", max_batch_wait_ms=1000)
    with TestClient(create_app(settings)) as client:
        started = time.monotonic()
        for seed in range(10):
            response = client.post(
                "/v1/predict", json={"sensors": as_json(windows(VIEWS, seed=seed))}
            )
            assert response.status_code == 200
        assert time.monotonic() - started < 5  # ten 1 s waits would take 10 s
        # A batch request's windows still share one model batch: they are all queued before
        # the batcher looks, and it takes what is queued before asking who else could come.
        many = [{"sensors": as_json(windows(VIEWS, seed=s))} for s in range(6)]
        assert client.post("/v1/predict/batch", json={"windows": many}).status_code == 200
        metrics = client.get("/metrics").text
    batches = _metric(metrics, "ralis_head_batch_size_count")
    rows = _metric(metrics, "ralis_head_batch_size_sum")
    assert (batches, rows) == (11, 16)  # ten of 1, one of 6


def _metric(text: str, name: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])
