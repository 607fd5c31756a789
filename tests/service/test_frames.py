"""Binary samples frames: layout round trip, refusals, and streams that use them."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ralis.frames import SampleChunk, encode_frame, is_binary_frame
from service.app import create_app
from service.errors import InputError
from service.frames import decode_frame
from service.settings import Settings
from tests.service.testclient import TestClient

SENSORS = ["torso", "right_arm", "left_arm", "right_leg", "left_leg"]
RATE = 25.0


def test_round_trip_keeps_sensors_samples_and_optional_fields() -> None:
    rng = np.random.default_rng(0)
    chunks = [
        SampleChunk("left_leg", rng.normal(size=(5, 3)).astype(np.float32), t0=12.4, rate_hz=25.0),
        SampleChunk("torso", rng.normal(size=(7, 3)).astype(np.float32)),
    ]
    frame = encode_frame(chunks, SENSORS)
    assert is_binary_frame(frame)
    assert len(frame) == 4 + (16 + 5 * 3 * 4) + (16 + 7 * 3 * 4)
    decoded = decode_frame(frame, SENSORS)
    assert [c.sensor for c in decoded] == ["left_leg", "torso"]
    assert decoded[0].t0 == 12.4 and decoded[0].rate_hz == 25.0
    assert decoded[1].t0 is None and decoded[1].rate_hz is None
    for original, back in zip(chunks, decoded, strict=True):
        np.testing.assert_array_equal(back.samples, original.samples)


def test_the_layout_is_the_documented_one() -> None:
    samples = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    frame = encode_frame([SampleChunk("right_arm", samples, t0=0.5)], SENSORS)
    assert frame[:4] == bytes([1, 1, 0, 0])  # version, chunk count, reserved
    view, channels, rows, rate, t0 = struct.unpack_from("<BBHfd", frame, 4)
    assert (view, channels, rows, rate, t0) == (1, 3, 1, 0.0, 0.5)
    assert struct.unpack_from("<3f", frame, 20) == (1.0, 2.0, 3.0)


def test_json_sent_as_bytes_is_not_a_binary_frame() -> None:
    assert not is_binary_frame(b'{"type": "config", "hop_s": 1}')
    assert not is_binary_frame(b" {}")
    assert not is_binary_frame(b"")


def _frame(*chunks: tuple[int, int, int, int]) -> bytes:
    """A frame from (view, channels, rows, floats actually present) chunk headers."""
    parts = [struct.pack("<BBH", 1, len(chunks), 0)]
    for view, channels, rows, present in chunks:
        parts.append(struct.pack("<BBHfd", view, channels, rows, 0.0, math.nan))
        parts.append(np.zeros(present, dtype="<f4").tobytes())
    return b"".join(parts)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"\x01\x01", "shorter than the 4-byte header"),
        (b"\x02\x01\x00\x00", "version 2 is not supported"),
        (b"\x01\x00\x00\x00", "holds no chunks"),
        (b"\x01\x02\x00\x00" + _frame((0, 3, 5, 15))[4:], "chunk 2 of 2 is cut short"),
        (_frame((9, 3, 5, 15)), "view index 9 is out of range"),
        (_frame((0, 3, 5, 14)), "need 60 bytes; 56 are left"),
        (_frame((0, 3, 5, 15)) + b"\x00", "1 bytes follow the last chunk"),
    ],
)
def test_malformed_frames_are_refused_with_what_was_wrong(frame: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        decode_frame(frame, SENSORS)
    assert info.value.kind == "bad_message"
    assert info.value.detail.startswith("invalid binary frame: ")


# --- over the app ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(bundle_dir: Path) -> Iterator[TestClient]:
    settings = Settings(bundle_dir=bundle_dir, execution_provider="cpu", max_batch_wait_ms=0.0)
    with TestClient(create_app(settings)) as client:
        yield client


def _json_message(sensor: str, samples: np.ndarray, t0: float) -> dict[str, Any]:
    return {"type": "samples", "sensor": sensor, "samples": samples.tolist(), "t0": t0}


def test_binary_frames_give_the_same_predictions_as_json_messages(api: TestClient) -> None:
    rng = np.random.default_rng(3)
    # float32-exact values, so both encodings carry the same numbers.
    data = {n: rng.normal(0.0, 3.0, size=(125, 3)).astype(np.float32) for n in SENSORS[:3]}
    predictions: dict[str, list[dict[str, Any]]] = {}
    for kind in ("json", "binary"):
        with api.websocket_connect("/v1/stream") as ws:
            views = ws.receive_json()["views"]
            for first in range(0, 125, 5):
                t0 = first / RATE
                if kind == "binary":
                    chunks = [SampleChunk(n, d[first : first + 5], t0=t0) for n, d in data.items()]
                    ws.send_bytes(encode_frame(chunks, views))
                else:
                    for name, samples in data.items():
                        ws.send_json(_json_message(name, samples[first : first + 5], t0))
            predictions[kind] = [ws.receive_json() for _ in range(2)]
    assert [p["t_end"] for p in predictions["binary"]] == [4.0, 5.0]
    for json_p, binary_p in zip(predictions["json"], predictions["binary"], strict=True):
        assert binary_p["type"] == "prediction"
        assert binary_p["views_used"] == json_p["views_used"] == SENSORS[:3]
        assert binary_p["probabilities"] == pytest.approx(json_p["probabilities"], abs=1e-6)


def test_a_bad_chunk_names_itself_and_the_stream_goes_on(api: TestClient) -> None:
    samples = np.zeros((5, 3), np.float32)
    with api.websocket_connect("/v1/stream") as ws:
        views = ws.receive_json()["views"]
        good = SampleChunk("torso", samples, t0=0.0)
        nan = SampleChunk("left_leg", np.full((5, 3), np.nan, np.float32), t0=0.0)
        ws.send_bytes(encode_frame([good, nan], views))
        error = ws.receive_json()
        assert error["type"] == "error"
        assert error["detail"].startswith("chunk 2 of 2: ")
        assert "non-finite" in error["detail"]
        ws.send_bytes(b"\x01\x00\x00\x00")
        assert "holds no chunks" in ws.receive_json()["detail"]
        # The stream is still usable: a JSON config message is accepted silently, and a
        # chunk going on from the good one is taken.
        ws.send_text(json.dumps({"type": "config", "hop_s": 1.0}))
        ws.send_bytes(encode_frame([SampleChunk("torso", samples)], views))
        ws.send_text(json.dumps({"type": "samples", "sensor": "end", "samples": [[0.0] * 3]}))
        assert "unknown sensor 'end'" in ws.receive_json()["detail"]


def test_appending_a_frames_chunks_then_collecting_matches_adding_them_one_by_one() -> None:
    from tests.service.test_timeline import VIEWS, make_state, recording

    data = recording(9.0)
    one_by_one, frame_wise = make_state(), make_state()
    added, collected = [], []
    for first in range(0, 225, 5):
        for name, samples in data.items():
            added += one_by_one.add(name, samples[first : first + 5], t0=first / RATE)
            frame_wise.append(name, samples[first : first + 5], t0=first / RATE)
        collected += frame_wise.collect()
    assert frame_wise.collect() == []  # nothing new since
    assert [w.t_end for w in collected] == [w.t_end for w in added] == [4, 5, 6, 7, 8, 9]
    for a, c in zip(added, collected, strict=True):
        assert list(c.windows) == [v.name for v in VIEWS]
        for name in c.windows:
            np.testing.assert_array_equal(c.windows[name], a.windows[name])


@pytest.mark.parametrize(
    ("t0", "rate_hz", "kind", "message"),
    [
        (1e300, None, "stream_time", "2\\^32"),
        (-1e300, None, "stream_time", "2\\^32"),
        (2.0**33, None, "stream_time", "2\\^32"),
        # A tiny rate once stretched one sample past 2**32 s; the rate floor now stops it first.
        (0.0, 1e-300, "bad_rate", "sampling rate 1e-300 Hz"),
    ],
)
def test_times_beyond_float_resolution_are_refused_not_looped_on(
    t0: float, rate_hz: float | None, kind: str, message: str
) -> None:
    # A window end past 2**32 s cannot advance by a hop in float64: once this spun forever.
    from tests.service.test_timeline import make_state

    state = make_state()
    with pytest.raises(InputError, match=message) as info:
        state.add("torso", [[0.0, 0.0, 0.0]], t0=t0, rate_hz=rate_hz)
    assert info.value.kind == kind
    assert state.add("torso", np.zeros((100, 3)), t0=0.0)[0].t_end == 4.0


def test_unix_time_in_seconds_is_still_accepted() -> None:
    from tests.service.test_timeline import make_state

    state = make_state()
    due = state.add("torso", np.zeros((125, 3)), t0=1.76e9)
    assert [w.t_end for w in due] == pytest.approx([1.76e9 + 4.0, 1.76e9 + 5.0], abs=1e-6)
