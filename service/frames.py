"""Decoding binary sample frames for `/v1/stream` (the layout: `ralis/frames.py`).

A binary frame carries the chunks of any number of sensors as float32, with no JSON to
parse; `ralis.frames` holds the one definition of its layout and the client's `encode_frame`.
Here the server splits a frame back into chunks and refuses frames that break the layout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ralis.frames import CHUNK_HEADER, FRAME_HEADER, VERSION, SampleChunk, is_binary_frame
from service.errors import InputError

__all__ = ["SampleChunk", "decode_frame", "is_binary_frame"]


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
    # Headers and samples are whole multiples of 4 bytes, so every chunk's samples are a
    # slice of one float32 view of the frame: one view per frame, not one per chunk.
    floats = np.frombuffer(frame, dtype="<f4", count=(len(frame) - offset) // 4, offset=offset)
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
        first = (offset - FRAME_HEADER.size) // 4
        samples = floats[first : first + values]
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
