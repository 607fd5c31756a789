"""WebSocket streams against the app (TestClient): predictions, equivalence, bad frames."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.websockets import WebSocketDisconnect

from service.app import create_app
from service.settings import Settings
from tests.service.testclient import TestClient

RATE = 25.0
CHUNK = 5  # 0.2 s
NAMES = ["torso", "left_arm", "left_leg"]


@pytest.fixture(scope="module")
def api(bundle_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        bundle_dir=bundle_dir,
        execution_provider="cpu",
        max_batch_wait_ms=0.0,
        max_body_bytes=64_000,
        max_message_bytes=32_000,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def recording(seconds: float, names: list[str] = NAMES, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.normal(0.0, 3.0, size=(round(seconds * RATE), 3)) for n in names}


def samples_message(sensor: str, samples: np.ndarray, t0: float | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "samples", "sensor": sensor, "samples": samples.tolist()}
    if t0 is not None:
        message["t0"] = t0
    return message


def stream_recording(
    ws: Any, data: dict[str, np.ndarray], pause_s: float = 0.0
) -> list[dict[str, Any]]:
    """Send the recording as interleaved 0.2 s chunks; return the predictions it produced."""
    n = next(iter(data.values())).shape[0]
    for first in range(0, n, CHUNK):
        for name, samples in data.items():
            ws.send_json(samples_message(name, samples[first : first + CHUNK], first / RATE))
        if pause_s:
            time.sleep(pause_s)
    ws.send_json({"type": "samples", "sensor": "end-of-test", "samples": [[0.0] * 3]})
    predictions = []
    while (message := ws.receive_json())["type"] != "error":  # the marker's error ends it
        predictions.append(message)
    assert "end-of-test" in message["detail"]
    return predictions


def test_ready_message(api: TestClient) -> None:
    with api.websocket_connect("/v1/stream") as ws:
        ready = ws.receive_json()
    assert ready == {
        "type": "ready",
        "model_version": "0.0.test",
        "views": ["torso", "right_arm", "left_arm", "right_leg", "left_leg"],
        "hop_s": 1.0,
        "stale_after_s": 1.0,
    }


def test_stream_predictions_equal_predict_on_the_same_windows(api: TestClient) -> None:
    data = recording(8.0)
    with api.websocket_connect("/v1/stream") as ws:
        ws.receive_json()
        predictions = stream_recording(ws, data)
    assert [p["t_end"] for p in predictions] == [4.0, 5.0, 6.0, 7.0, 8.0]
    for prediction in predictions:
        assert prediction["type"] == "prediction"
        assert prediction["views_used"] == ["torso", "left_arm", "left_leg"]
        end = round(prediction["t_end"] * RATE)
        body = {"sensors": {n: w[end - 100 : end].tolist() for n, w in data.items()}}
        expected = api.post("/v1/predict", json=body).json()
        assert prediction["activity"] == expected["activity"]
        np.testing.assert_allclose(
            list(prediction["probabilities"].values()),
            list(expected["probabilities"].values()),
            atol=1e-5,
        )
        np.testing.assert_allclose(
            list(prediction["view_weights"].values()),
            list(expected["view_weights"].values()),
            atol=1e-5,
        )


def test_replaying_faster_than_real_time_gives_the_same_predictions(api: TestClient) -> None:
    data = recording(6.0, seed=3)
    runs = []
    for pause_s in (0.0, 0.01):
        with api.websocket_connect("/v1/stream") as ws:
            ws.receive_json()
            runs.append(stream_recording(ws, data, pause_s=pause_s))
    fast, slow = runs
    assert [p["t_end"] for p in fast] == [p["t_end"] for p in slow] == [4.0, 5.0, 6.0]
    for a, b in zip(fast, slow, strict=True):
        assert a["probabilities"] == b["probabilities"]


def test_hop_and_staleness_are_configurable_per_stream(api: TestClient) -> None:
    data = recording(6.0, names=["torso"])
    with api.websocket_connect("/v1/stream") as ws:
        ws.receive_json()
        ws.send_json({"type": "config", "hop_s": 0.5, "stale_after_s": 2.0})
        predictions = stream_recording(ws, data)
    assert [p["t_end"] for p in predictions] == [4.0, 4.5, 5.0, 5.5, 6.0]


def test_chunks_without_t0_continue_the_sensor_and_binary_frames_work(api: TestClient) -> None:
    data = recording(5.0, names=["torso"])["torso"]
    with api.websocket_connect("/v1/stream") as ws:
        ws.receive_json()
        for first in range(0, 125, 25):
            message = samples_message("torso", data[first : first + 25])
            ws.send_bytes(json.dumps(message).encode())
        ws.send_json({"type": "config", "hop_s": 1.0})
        first_prediction = ws.receive_json()
    assert first_prediction["t_end"] == 4.0
    expected = api.post("/v1/predict", json={"sensors": {"torso": data[:100].tolist()}}).json()
    assert first_prediction["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-5)


def test_a_chunks_message_per_tick_gives_the_same_predictions(api: TestClient) -> None:
    """All sensors' 0.2 s chunks in one JSON message: the predictions of one message each."""
    data = recording(6.0)
    with api.websocket_connect("/v1/stream") as ws:
        ws.receive_json()
        one_by_one = stream_recording(ws, data)
    with api.websocket_connect("/v1/stream") as ws:
        ws.receive_json()
        n = next(iter(data.values())).shape[0]
        for first in range(0, n, CHUNK):
            chunks = [
                {"sensor": name, "samples": samples[first : first + CHUNK].tolist(),
                 "t0": first / RATE}
                for name, samples in data.items()
            ]  # fmt: skip
            ws.send_json({"type": "chunks", "chunks": chunks})
        ws.send_json({"type": "samples", "sensor": "end-of-test", "samples": [[0.0] * 3]})
        together = []
        while (message := ws.receive_json())["type"] != "error":
            together.append(message)
    assert [p["t_end"] for p in together] == [p["t_end"] for p in one_by_one] == [4.0, 5.0, 6.0]
    for ours, reference in zip(together, one_by_one, strict=True):
        assert ours["probabilities"] == pytest.approx(reference["probabilities"], abs=1e-6)


def test_a_bad_chunk_stops_the_rest_of_its_message_but_keeps_what_came_before(
    api: TestClient,
) -> None:
    data = recording(5.0, names=["torso"])["torso"]
    with api.websocket_connect("/v1/stream") as ws:
        ws.receive_json()
        ws.send_json(samples_message("torso", data[:90], 0.0))
        chunks = [
            {"sensor": "torso", "samples": data[90:100].tolist()},  # completes the window
            {"sensor": "torso", "samples": [[0.0, 0.0]]},  # 2 channels: refused
            {"sensor": "torso", "samples": data[100:125].tolist()},  # never applied
        ]
        ws.send_json({"type": "chunks", "chunks": chunks})
        prediction, error = ws.receive_json(), ws.receive_json()
        ws.send_json(samples_message("torso", data[100:125]))  # the stream goes on from 4.0 s
        after = ws.receive_json()
    assert (prediction["type"], prediction["t_end"]) == ("prediction", 4.0)
    assert error["type"] == "error" and "rows have 2" in error["detail"]
    assert (after["type"], after["t_end"]) == ("prediction", 5.0)


BAD_FRAMES = [
    ("not json", "{nope", "invalid message"),
    ("unknown type", {"type": "hello"}, "does not match any of the expected tags"),
    ("no sensor", {"type": "samples", "samples": [[0, 0, 0]]}, "sensor: Field required"),
    ("unknown sensor", {"type": "samples", "sensor": "head", "samples": [[0, 0, 0]]}, "known:"),
    ("channels", {"type": "samples", "sensor": "torso", "samples": [[0, 0]]}, "rows have 2"),
    ("NaN", '{"type": "samples", "sensor": "torso", "samples": [[NaN, 0, 0]]}', "non-finite value"),
    ("empty", {"type": "samples", "sensor": "torso", "samples": []}, "got shape (0,)"),
    ("rate", {"type": "samples", "sensor": "torso", "samples": [[0, 0, 0]], "rate_hz": 0}, "rate"),
    (
        "backwards",
        {"type": "samples", "sensor": "torso", "samples": [[0, 0, 0]], "t0": 0.0},
        "must move forward in time",
    ),  # fmt: skip
    ("hop", {"type": "config", "hop_s": 0.0}, "greater than or equal to 0.1"),
    ("empty config", {"type": "config"}, "give hop_s and/or stale_after_s"),
    ("late auth", {"type": "auth", "token": "x" * 20}, "only as the first message"),
    (
        "too big",
        {"type": "samples", "sensor": "torso", "samples": [[0.5, 0.5, 0.5]] * 3000},
        "exceeds 32000",
    ),  # fmt: skip
]


def test_bad_frames_get_error_frames_and_the_stream_goes_on(api: TestClient) -> None:
    data = recording(5.0, names=["torso"])["torso"]
    with api.websocket_connect("/v1/stream") as ws:
        ws.receive_json()
        ws.send_json(samples_message("torso", data[:50], 0.0))
        for name, frame, message in BAD_FRAMES:
            ws.send_text(frame if isinstance(frame, str) else json.dumps(frame))
            reply = ws.receive_json()
            assert reply["type"] == "error", name
            assert message in reply["detail"], (name, reply["detail"])
            assert "Traceback" not in reply["detail"]
        ws.send_json(samples_message("torso", data[50:100]))
        prediction = ws.receive_json()
    assert prediction["type"] == "prediction"
    assert prediction["t_end"] == 4.0


def test_too_many_streams_are_refused_with_1008(bundle_dir: Path) -> None:
    settings = Settings(bundle_dir=bundle_dir, execution_provider="cpu", max_streams=1)
    with TestClient(create_app(settings)) as client:
        with client.websocket_connect("/v1/stream") as first:
            assert first.receive_json()["type"] == "ready"
            with client.websocket_connect("/v1/stream") as second:
                error = second.receive_json()
                assert error["type"] == "error"
                assert "too many streams (at most 1)" in error["detail"]
                with pytest.raises(WebSocketDisconnect) as closed:
                    second.receive_json()
                assert closed.value.code == 1008
        # The slot is free again once the first stream has gone.
        with client.websocket_connect("/v1/stream") as third:
            assert third.receive_json()["type"] == "ready"


def test_idle_streams_time_out(bundle_dir: Path) -> None:
    settings = Settings(bundle_dir=bundle_dir, execution_provider="cpu", stream_idle_timeout_s=0.2)
    with TestClient(create_app(settings)) as client:
        with client.websocket_connect("/v1/stream") as ws:
            ws.receive_json()
            error = ws.receive_json()
            assert error == {"type": "error", "detail": "no message for 0.2 s; closing"}
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 1000


def test_a_lone_stream_does_not_wait_for_a_batch_to_fill(bundle_dir: Path) -> None:
    """With the longest batch wait (1 s), one stream's predictions are not held back: the app
    counts it as the only client that could submit, so its batches go at once."""
    settings = Settings(bundle_dir=bundle_dir, execution_provider="cpu", max_batch_wait_ms=1000)
    with TestClient(create_app(settings)) as client, client.websocket_connect("/v1/stream") as ws:
        ws.receive_json()
        started = time.monotonic()
        predictions = stream_recording(ws, recording(12.0, seed=5))
        elapsed = time.monotonic() - started
    assert [p["t_end"] for p in predictions] == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
    assert elapsed < 4.5  # nine 1 s waits would take 9 s
