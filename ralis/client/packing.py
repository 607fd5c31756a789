"""Packing a stream's chunks into as few frames (or JSON messages) as the server's limits allow.

`StreamClient` decides *when* to send; this module decides *how*: each sensor's chunks that
follow on in time are joined (up to a piece's size), and the result is cut into binary frames
(`ralis/frames.py`) or JSON `chunks` messages within the frame size, the chunk count and a span
of sample time that keeps a resend under the server's windows-per-message limit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from ralis.frames import CHUNK_HEADER, FRAME_HEADER, MAX_CHUNKS, MAX_ROWS, SampleChunk, encode_frame

FrameFormat = Literal["binary", "json"]

# A pushed chunk is split into pieces of at most this much sample time (the server accepts
# up to RALIS_MAX_CHUNK_SPAN_S, 10 s by default).
MAX_PIECE_SPAN_S = 5.0
# One frame covers at most this many hops of sample time, so that a resend after a reconnect
# stays under the server's windows-per-message limit (RALIS_MAX_WINDOWS_PER_MESSAGE, 16).
MAX_FRAME_SPAN_HOPS = 8
JSON_BYTES_PER_VALUE = 25  # an upper bound on one float64 in JSON, with its separator
TIME_EPS_S = 1e-6
# Bytes of a frame kept free of samples, for JSON keys and numbers longer than expected.
FRAME_SLACK_BYTES = 200


@dataclass(frozen=True)
class Chunk:
    """A piece of one sensor's samples with its sample time, ready to send."""

    sensor: str
    samples: npt.NDArray[np.float64]  # (rows, channels)
    t0: float
    rate_hz: float

    @property
    def t_end(self) -> float:
        return self.t0 + int(self.samples.shape[0]) / self.rate_hz


@dataclass(frozen=True)
class Packer:
    """Packs chunks for one stream: `frame_format` and the largest frame it may send."""

    frame_format: FrameFormat
    max_frame_bytes: int

    @property
    def value_bytes(self) -> int:
        """Bytes one sample value takes in a frame (at most, in JSON)."""
        return 4 if self.frame_format == "binary" else JSON_BYTES_PER_VALUE

    def piece_rows(self, rate_hz: float, channels: int) -> int:
        """Most rows per sent piece: within the span limit, the row field and a frame."""
        room = self.max_frame_bytes - FRAME_HEADER.size - CHUNK_HEADER.size - FRAME_SLACK_BYTES
        by_bytes = room // (self.value_bytes * max(channels, 1))
        return max(1, min(MAX_ROWS, math.floor(MAX_PIECE_SPAN_S * rate_hz), by_bytes))

    def pack(
        self, chunks: Sequence[Chunk], views: Sequence[str], hop_s: float
    ) -> list[str | bytes]:
        """Frames (binary) or messages (JSON) carrying `chunks`, merged (`merged`): as few as
        the size, chunk-count and span limits allow; `views` are the stream's sensors in the
        server's order, `hop_s` its hop."""
        payloads: list[str | bytes] = []
        group: list[Chunk] = []
        size, first_t0 = FRAME_HEADER.size, math.inf
        max_span = MAX_FRAME_SPAN_HOPS * hop_s
        for chunk in self.merged(chunks):
            chunk_size = CHUNK_HEADER.size + self.value_bytes * chunk.samples.size
            if group and (
                len(group) == MAX_CHUNKS
                or size + chunk_size > self.max_frame_bytes
                or chunk.t_end - min(first_t0, chunk.t0) > max_span
            ):
                payloads.append(self._payload(group, views))
                group, size, first_t0 = [], FRAME_HEADER.size, math.inf
            group.append(chunk)
            size += chunk_size
            first_t0 = min(first_t0, chunk.t0)
        if group:
            payloads.append(self._payload(group, views))
        return payloads

    def merged(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        """`chunks` with each run of one sensor's chunks that follow on in time at one rate
        joined (up to a piece's size), ordered by start time (stable): when they fill several
        frames, no sensor gets further ahead of the others than in the order pushed, which
        could make the server take a lagging sensor for stale."""
        by_sensor: dict[str, list[Chunk]] = {}
        for chunk in chunks:
            by_sensor.setdefault(chunk.sensor, []).append(chunk)
        merged: list[Chunk] = []
        for runs in by_sensor.values():
            run = [runs[0]]
            limit = self.piece_rows(runs[0].rate_hz, runs[0].samples.shape[1])
            rows = runs[0].samples.shape[0]
            for chunk in runs[1:]:
                last = run[-1]
                rows += chunk.samples.shape[0]
                if (
                    chunk.rate_hz != last.rate_hz
                    or abs(chunk.t0 - last.t_end) > TIME_EPS_S
                    or rows > limit
                ):
                    merged.append(_join(run))
                    run, rows = [], chunk.samples.shape[0]
                    limit = self.piece_rows(chunk.rate_hz, chunk.samples.shape[1])
                run.append(chunk)
            merged.append(_join(run))
        merged.sort(key=lambda chunk: chunk.t0)
        return merged

    def _payload(self, chunks: Sequence[Chunk], views: Sequence[str]) -> str | bytes:
        if self.frame_format == "binary":
            return _frame(chunks, views)
        return _json_message(chunks)


def _join(run: Sequence[Chunk]) -> Chunk:
    """One chunk holding a run of one sensor's contiguous chunks."""
    if len(run) == 1:
        return run[0]
    samples = np.concatenate([c.samples for c in run])
    return Chunk(run[0].sensor, samples, run[0].t0, run[0].rate_hz)


def _json_message(chunks: Sequence[Chunk]) -> str:
    items = [
        {"sensor": c.sensor, "t0": c.t0, "rate_hz": c.rate_hz, "samples": c.samples.tolist()}
        for c in chunks
    ]
    if len(items) == 1:
        return json.dumps({"type": "samples", **items[0]})
    return json.dumps({"type": "chunks", "chunks": items})


def _frame(chunks: Sequence[Chunk], views: Sequence[str]) -> bytes:
    return encode_frame(
        [SampleChunk(c.sensor, c.samples.astype(np.float32), c.t0, c.rate_hz) for c in chunks],
        views,
    )
