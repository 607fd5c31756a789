"""The committed default model on real DSADS windows (skipped until the bundle is committed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from service.app import create_app
from service.settings import Settings
from tests.service.testclient import TestClient

DATA = Path(__file__).parent / "data" / "dsads_p7_acc.npz"

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
SENSOR_SETS = {
    5: ["torso", "right_arm", "left_arm", "right_leg", "left_leg"],
    3: ["torso", "right_arm", "left_leg"],
    1: ["torso"],
}


@pytest.fixture(scope="module")
def recordings() -> dict[str, dict[str, np.ndarray]]:
    """10 s of subject 7 per activity: (250, 3) accelerometer samples by position."""
    with np.load(DATA) as data:
        positions = [str(p) for p in data["positions"]]
        return {
            str(activity): {
                p: acc[:, 3 * i : 3 * i + 3].astype(np.float64) for i, p in enumerate(positions)
            }
            for activity, acc in zip(data["activity"], data["acc"], strict=True)
        }


@pytest.fixture(scope="module")
def api(default_bundle: Path) -> Iterator[TestClient]:
    with TestClient(
        create_app(Settings(bundle_dir=default_bundle, execution_provider="cpu"))
    ) as client:
        yield client


def test_default_model_describes_dsads_views(api: TestClient) -> None:
    info = api.get("/v1/model").json()
    assert [v["name"] for v in info["views"]] == SENSOR_SETS[5]
    assert all(v["sampling_rate_hz"] == 25.0 for v in info["views"])
    assert len(info["classes"]) == 19


@pytest.mark.parametrize("num_sensors", [5, 3, 1])
def test_clear_cases_are_recognised(
    api: TestClient, recordings: dict[str, dict[str, np.ndarray]], num_sensors: int
) -> None:
    sensors = SENSOR_SETS[num_sensors]
    for activity in CLEAR_CASES[num_sensors]:
        window = {s: recordings[activity][s][:100].tolist() for s in sensors}
        response = api.post("/v1/predict", json={"sensors": window})
        assert response.status_code == 200
        body = response.json()
        assert body["views_used"] == sensors
        assert body["activity"] == activity, (num_sensors, activity, body["probabilities"])


def test_real_stream_equals_predict(
    api: TestClient, recordings: dict[str, dict[str, np.ndarray]]
) -> None:
    recording = recordings["running_treadmill"]
    with api.websocket_connect("/v1/stream") as ws:
        assert ws.receive_json()["type"] == "ready"
        for first in range(0, 250, 5):
            for sensor in ("torso", "left_leg"):
                chunk = recording[sensor][first : first + 5].tolist()
                ws.send_json(
                    {"type": "samples", "sensor": sensor, "samples": chunk, "t0": first / 25}
                )
        predictions = [ws.receive_json() for _ in range(7)]
    assert [p["t_end"] for p in predictions] == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    for prediction in predictions:
        end = round(prediction["t_end"] * 25)
        window = {s: recording[s][end - 100 : end].tolist() for s in ("torso", "left_leg")}
        expected = api.post("/v1/predict", json={"sensors": window}).json()
        assert prediction["activity"] == expected["activity"]
        assert prediction["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-5)
