"""Binary sample frames for `/v1/stream`: the layout (one copy) and the client's encoder.

A JSON samples message carries one sensor's chunk; at 25 Hz in 0.2 s chunks, five sensors
make 25 messages a second per stream, and per-frame costs dominate the server's CPU. A
binary frame carries the chunks of any number of sensors as float32, with no JSON to parse.

Layout, little-endian:

    frame  = u8 version (1) | u8 chunk count (1-255) | u16 reserved (0) | chunk ...
    chunk  = u8 view index  | u8 channels | u16 rows | f32 rate_hz | f64 t0 | rows x channels f32
             (row-major samples, oldest first)

`view index` is the sensor's position in the ready message's `views`. `rate_hz` 0 means
"the sensor's previous rate, else the model's"; `t0` NaN means "right after the sensor's
previous chunk" (0 for its first), as when a JSON message leaves them out. A frame whose
first byte is not a known version is not a binary frame (JSON sent as bytes starts with `{`
or whitespace).

The server decodes (`service/frames.py`); clients (`ralis.client`, `bench/`) encode here.
Torch-free and server-free: numpy and the standard library only.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

VERSION = 1
FRAME_HEADER = struct.Struct("<BBH")
CHUNK_HEADER = struct.Struct("<BBHfd")
MAX_CHUNKS = 255
MAX_ROWS = 65535
MAX_CHANNELS = 255


class SampleChunk(NamedTuple):
    """One sensor's chunk, as a samples message would give it (a named tuple: the server
    makes one per chunk of every frame)."""

    sensor: str
    samples: npt.NDArray[np.float32]  # (rows, channels)
    t0: float | None = None
    rate_hz: float | None = None


def is_binary_frame(frame: bytes) -> bool:
    """True for a frame in this format (by its version byte)."""
    return len(frame) > 0 and frame[0] == VERSION


def frame_size(chunks: Sequence[tuple[int, int]]) -> int:
    """Bytes of a frame holding chunks of these (rows, channels)."""
    return FRAME_HEADER.size + sum(CHUNK_HEADER.size + 4 * r * c for r, c in chunks)


def encode_frame(chunks: Sequence[SampleChunk], sensors: Sequence[str]) -> bytes:
    """The binary frame of `chunks`; `sensors` are the view names in ready-message order.

    Raises:
        ValueError: an unknown sensor, too many chunks, rows or channels, or non-2-D samples.
    """
    if not 1 <= len(chunks) <= MAX_CHUNKS:
        raise ValueError(f"a frame holds 1-{MAX_CHUNKS} chunks; got {len(chunks)}")
    parts = [FRAME_HEADER.pack(VERSION, len(chunks), 0)]
    for chunk in chunks:
        if chunk.sensor not in sensors:
            raise ValueError(f"unknown sensor {chunk.sensor!r}; known: {', '.join(sensors)}")
        samples = np.ascontiguousarray(chunk.samples, dtype="<f4")
        if (
            samples.ndim != 2
            or not 1 <= samples.shape[0] <= MAX_ROWS
            or samples.shape[1] > MAX_CHANNELS
        ):
            raise ValueError(
                f"samples of shape {samples.shape}: need (rows, channels) with 1-{MAX_ROWS} rows "
                f"and at most {MAX_CHANNELS} channels"
            )
        parts.append(
            CHUNK_HEADER.pack(
                sensors.index(chunk.sensor),
                samples.shape[1],
                samples.shape[0],
                chunk.rate_hz or 0.0,
                math.nan if chunk.t0 is None else chunk.t0,
            )
        )
        parts.append(samples.tobytes())
    return b"".join(parts)
