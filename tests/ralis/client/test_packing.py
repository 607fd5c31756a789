"""How `Packer` cuts a stream's chunks into frames and JSON messages (ralis/client/packing.py).

The limits come from the protocol: a frame of at most `max_frame_bytes`, at most 8 hops of
sample time per frame, pieces of at most 5 s, a sensor's contiguous chunks sent as one.
"""

from __future__ import annotations

import json

import numpy as np

from ralis.client.packing import Chunk, Packer
from service.frames import decode_frame

VIEWS = ["torso", "right_arm", "left_leg"]
RATE = 25.0
BINARY = Packer("binary", 64 * 1024)


def rows(count: int, start: int = 0) -> np.ndarray:
    return np.arange(3 * start, 3 * (start + count), dtype=np.float64).reshape(count, 3)


def decoded(payloads: list[str | bytes]) -> list[list[tuple[str, float | None, float | None, int]]]:
    frames = []
    for payload in payloads:
        assert isinstance(payload, bytes)
        frames.append(
            [(c.sensor, c.t0, c.rate_hz, c.samples.shape[0]) for c in decode_frame(payload, VIEWS)]
        )
    return frames


def test_a_resend_is_cut_into_frames_of_at_most_eight_hops() -> None:
    # 0.8 s every second: gaps, so nothing is merged.
    pushed = [Chunk("torso", rows(20), float(t), RATE) for t in range(20)]
    frames = decoded(BINARY.pack(pushed, VIEWS, hop_s=1.0))
    assert [len(f) for f in frames] == [8, 8, 4]
    assert [c[1] for f in frames for c in f] == [float(t) for t in range(20)]


def test_contiguous_chunks_merge_up_to_a_piece_and_in_time_order_across_sensors() -> None:
    # Two sensors, 1 s chunks pushed in turn for 12 s, then torso at another rate.
    pushed = [Chunk(v, rows(25, 25 * t), float(t), RATE) for t in range(12) for v in VIEWS[:2]]
    pushed.append(Chunk("torso", rows(10), 12.0, 50.0))
    payloads = BINARY.pack(pushed, VIEWS, hop_s=1.0)
    # Pieces of at most 5 s (125 rows at 25 Hz), ordered by start time, the rate change apart.
    assert [c for f in decoded(payloads) for c in f] == [
        ("torso", 0.0, RATE, 125), ("right_arm", 0.0, RATE, 125),
        ("torso", 5.0, RATE, 125), ("right_arm", 5.0, RATE, 125),
        ("torso", 10.0, RATE, 50), ("right_arm", 10.0, RATE, 50),
        ("torso", 12.0, 50.0, 10),
    ]  # fmt: skip
    torso = [
        c.samples
        for payload in payloads
        for c in decode_frame(payload, VIEWS)  # type: ignore[arg-type]
        if c.sensor == "torso" and c.rate_hz == RATE
    ]
    np.testing.assert_array_equal(np.concatenate(torso), rows(300))


def test_no_frame_exceeds_the_size_limit_and_no_sample_is_lost() -> None:
    small = Packer("binary", 1024)
    piece = small.piece_rows(RATE, 3)  # what `StreamClient.send` cuts a push into
    assert 0 < piece < 300
    pushed = [
        Chunk(v, rows(min(piece, 300 - first), first), first / RATE, RATE)
        for first in range(0, 300, piece)
        for v in VIEWS
    ]
    payloads = small.pack(pushed, VIEWS, hop_s=1.0)
    assert all(len(p) <= 1024 for p in payloads)
    for view in VIEWS:
        sent = [
            c.samples
            for payload in payloads
            for c in decode_frame(payload, VIEWS)  # type: ignore[arg-type]
            if c.sensor == view
        ]
        np.testing.assert_array_equal(np.concatenate(sent), rows(300))


def test_json_sends_one_samples_message_or_one_chunks_message() -> None:
    packer = Packer("json", 64 * 1024)
    (single,) = packer.pack([Chunk("torso", rows(2), 1.5, RATE)], VIEWS, hop_s=1.0)
    assert json.loads(single) == {
        "type": "samples", "sensor": "torso", "t0": 1.5, "rate_hz": RATE,
        "samples": rows(2).tolist(),
    }  # fmt: skip
    both = [Chunk("torso", rows(2), 0.0, RATE), Chunk("left_leg", rows(2), 0.0, RATE)]
    (message,) = packer.pack(both, VIEWS, hop_s=1.0)
    parsed = json.loads(message)
    assert parsed["type"] == "chunks"
    assert [c["sensor"] for c in parsed["chunks"]] == ["torso", "left_leg"]


def test_a_piece_fits_a_frame_whatever_the_format() -> None:
    # 64 KiB of JSON at <= 25 bytes per value holds fewer rows than 5 s at 1000 Hz.
    assert Packer("json", 64 * 1024).piece_rows(1000.0, 3) < 5000
    assert Packer("binary", 64 * 1024).piece_rows(25.0, 3) == 125
