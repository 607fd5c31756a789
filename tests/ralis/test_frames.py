"""The binary frame layout and the client's encoder (the server's decoder: tests/service)."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from ralis.frames import (
    CHUNK_HEADER,
    FRAME_HEADER,
    VERSION,
    SampleChunk,
    encode_frame,
    frame_size,
    is_binary_frame,
)

SENSORS = ["torso", "right_arm", "left_arm", "right_leg", "left_leg"]


def test_layout_is_little_endian_and_fixed_size() -> None:
    assert (FRAME_HEADER.size, CHUNK_HEADER.size) == (4, 16)
    samples = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    frame = encode_frame([SampleChunk("left_arm", samples, t0=1.5, rate_hz=50.0)], SENSORS)
    assert frame[:4] == struct.pack("<BBH", VERSION, 1, 0)
    assert frame[4:20] == struct.pack("<BBHfd", 2, 3, 1, 50.0, 1.5)
    assert frame[20:] == struct.pack("<3f", 1.0, 2.0, 3.0)
    assert len(frame) == frame_size([(1, 3)])
    assert is_binary_frame(frame) and not is_binary_frame(b'{"type": "samples"}')


def test_absent_t0_and_rate_are_nan_and_zero() -> None:
    frame = encode_frame([SampleChunk("torso", np.zeros((2, 3), np.float32))], SENSORS)
    _, _, rows, rate_hz, t0 = CHUNK_HEADER.unpack_from(frame, FRAME_HEADER.size)
    assert rows == 2 and rate_hz == 0.0 and math.isnan(t0)


def test_encode_refuses_unknown_sensors_and_bad_shapes() -> None:
    with pytest.raises(ValueError, match="unknown sensor 'head'"):
        encode_frame([SampleChunk("head", np.zeros((1, 3), np.float32))], SENSORS)
    with pytest.raises(ValueError, match="shape"):
        encode_frame([SampleChunk("torso", np.zeros(3, np.float32))], SENSORS)
    with pytest.raises(ValueError, match="1-255 chunks"):
        encode_frame([], SENSORS)
