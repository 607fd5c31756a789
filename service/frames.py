"""Binary sample frames for `/v1/stream`: several sensors' chunks in one compact frame.

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
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from service.errors import InputError

VERSION = 1
FRAME_HEADER = struct.Struct("<BBH")
CHUNK_HEADER = struct.Struct("<BBHfd")
MAX_CHUNKS = 255
MAX_ROWS = 65535


@dataclass(frozen=True)
class SampleChunk:
    """One sensor's chunk, as a samples message would give it."""

    sensor: str
    samples: npt.NDArray[np.float32]  # (rows, channels)
    t0: float | None = None
    rate_hz: float | None = None


def is_binary_frame(frame: bytes) -> bool:
    """True for a frame in this format (by its version byte)."""
    return len(frame) > 0 and frame[0] == VERSION


def _bad(detail: str) -> InputError:
    return InputError("bad_message", f"invalid binary frame: {detail}")


def decode_frame(frame: bytes, sensors: Sequence[str]) -> list[SampleChunk]:
    """Split a binary frame into chunks; `sensors` are the view names in ready-message order.

    Raises:
        InputError: a frame that does not follow the layout (kind `bad_message`); the values
            themselves (shape, finiteness, time order) are checked where they are used.
    """
    if len(frame) < FRAME_HEADER.size:
        raise _bad(f"{len(frame)} bytes is shorter than the {FRAME_HEADER.size}-byte header")
    version, count, _ = FRAME_HEADER.unpack_from(frame, 0)
    if version != VERSION:
        raise _bad(f"version {version} is not supported; expected {VERSION}")
    if count == 0:
        raise _bad("it holds no chunks")
    chunks: list[SampleChunk] = []
    offset = FRAME_HEADER.size
    for number in range(1, count + 1):
        if offset + CHUNK_HEADER.size > len(frame):
            raise _bad(f"chunk {number} of {count} is cut short (frame of {len(frame)} bytes)")
        view, channels, rows, rate_hz, t0 = CHUNK_HEADER.unpack_from(frame, offset)
        offset += CHUNK_HEADER.size
        if view >= len(sensors):
            raise _bad(
                f"chunk {number}: view index {view} is out of range; the stream's views are "
                f"0-{len(sensors) - 1} ({', '.join(sensors)})"
            )
        values = rows * channels
        if offset + 4 * values > len(frame):
            raise _bad(
                f"chunk {number}: {rows} rows x {channels} channels need {4 * values} bytes; "
                f"{len(frame) - offset} are left"
            )
        samples = np.frombuffer(frame, dtype="<f4", count=values, offset=offset)
        offset += 4 * values
        chunks.append(
            SampleChunk(
                sensor=sensors[view],
                samples=samples.reshape(rows, channels),
                t0=None if math.isnan(t0) else t0,
                rate_hz=None if rate_hz == 0.0 else rate_hz,
            )
        )
    if offset != len(frame):
        raise _bad(f"{len(frame) - offset} bytes follow the last chunk")
    return chunks


def encode_frame(chunks: Sequence[SampleChunk], sensors: Sequence[str]) -> bytes:
    """The binary frame of `chunks` (a client's side of `decode_frame`).

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
        if samples.ndim != 2 or not 1 <= samples.shape[0] <= MAX_ROWS or samples.shape[1] > 255:
            raise ValueError(
                f"samples of shape {samples.shape}: need (rows, channels) with 1-{MAX_ROWS} rows "
                "and at most 255 channels"
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
