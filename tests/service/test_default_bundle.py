"""The committed default model on real DSADS test-subject windows (skipped until committed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ralis.client.dsads import ACTIVITIES
from service.app import create_app
from service.runtime import ModelRuntime
from service.settings import Settings
from tests.service.testclient import TestClient

WINDOWS = Path(__file__).parents[1] / "fixtures" / "dsads_windows" / "windows.npz"
ALL_SENSORS = ["torso", "right_arm", "left_arm", "right_leg", "left_leg"]

# Cases a model of this kind gets right even from few sensors: posture (gravity on the torso)
# and strongly periodic whole-body movement.
CLEAR_CASES = {
    5: [
        "lying_back",
        "lying_right",
        "running_treadmill",
        "cycling_horizontal",
        "rowing",
        "jumping",
    ],
    3: ["lying_back", "lying_right", "running_treadmill", "rowing"],
    1: ["lying_back", "lying_right"],
}
SENSOR_SETS = {5: ALL_SENSORS, 3: ["torso", "right_arm", "left_leg"], 1: ["torso"]}


@pytest.fixture(scope="module")
def windows() -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """4 s windows (100, 3) by sensor, keyed by (activity, test subject)."""
    with np.load(WINDOWS) as data:
        return {
            (ACTIVITIES[int(y)], int(subject)): {
                s: data[f"X_{s}"][i].astype(np.float64) for s in ALL_SENSORS
            }
            for i, (y, subject) in enumerate(zip(data["y"], data["subject"], strict=True))
        }


@pytest.fixture(scope="module")
def api(default_bundle: Path) -> Iterator[TestClient]:
    settings = Settings(bundle_dir=default_bundle, execution_provider="cpu")
    with TestClient(create_app(settings)) as client:
        yield client


def test_default_model_describes_dsads_views(api: TestClient) -> None:
    info = api.get("/v1/model").json()
    assert info["precision"] == "int8"  # the bundle has int8 encoders and this is a CPU
    assert [v["name"] for v in info["views"]] == ALL_SENSORS
    assert all(v["sampling_rate_hz"] == 25.0 for v in info["views"])
    assert info["classes"] == list(ACTIVITIES)


@pytest.mark.parametrize("num_sensors", [5, 3, 1])
def test_clear_cases_are_recognised(
    api: TestClient, windows: dict[tuple[str, int], dict[str, np.ndarray]], num_sensors: int
) -> None:
    sensors = SENSOR_SETS[num_sensors]
    for activity in CLEAR_CASES[num_sensors]:
        predicted = []
        for subject in (6, 7, 8):
            window = {s: windows[activity, subject][s].tolist() for s in sensors}
            response = api.post("/v1/predict", json={"sensors": window})
            assert response.status_code == 200
            assert response.json()["views_used"] == sensors
            predicted.append(response.json()["activity"])
        # Right for at least two of the three test subjects.
        assert predicted.count(activity) >= 2, (num_sensors, activity, predicted)


def test_real_stream_equals_predict(
    api: TestClient, windows: dict[tuple[str, int], dict[str, np.ndarray]]
) -> None:
    recording = windows["running_treadmill", 7]
    sensors = ["torso", "left_leg"]
    with api.websocket_connect("/v1/stream") as ws:
        assert ws.receive_json()["type"] == "ready"
        for first in range(0, 100, 5):
            for sensor in sensors:
                chunk = recording[sensor][first : first + 5].tolist()
                message = {"type": "samples", "sensor": sensor, "samples": chunk, "t0": first / 25}
                ws.send_json(message)
        prediction = ws.receive_json()
    assert prediction["t_end"] == 4.0
    expected = api.post(
        "/v1/predict", json={"sensors": {s: recording[s].tolist() for s in sensors}}
    ).json()
    assert prediction["activity"] == expected["activity"]
    assert prediction["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-5)


def test_int8_encoders_agree_with_the_float_ones_on_real_windows(default_bundle: Path) -> None:
    """Top class with all five sensors, int8 against float encoders (same head), on the
    committed real test-subject windows; the quantiser measured 98.99% on all 4275 windows
    of these subjects (the bundle's manifest)."""
    with np.load(WINDOWS) as data:
        raw = {s: data[f"X_{s}"] for s in ALL_SENSORS}
    classes = {}
    for precision in ("fp32", "int8"):
        runtime = ModelRuntime.load(default_bundle, "cpu", 1, precision=precision)  # type: ignore[arg-type]
        assert runtime.precision == precision
        embeddings = []
        for spec in runtime.manifest.views:
            scaled = (raw[spec.name] - np.asarray(spec.norm_mean)) / np.asarray(spec.norm_std)
            windows = np.ascontiguousarray(scaled.transpose(0, 2, 1), dtype=np.float32)
            embeddings.append(runtime.encode(spec.name, windows))
        stacked = np.stack(embeddings, axis=1)
        mask = np.ones(stacked.shape[:2], dtype=bool)
        classes[precision] = runtime.head(stacked, mask).probabilities.argmax(axis=1)
    assert (classes["fp32"] == classes["int8"]).mean() >= 0.95
