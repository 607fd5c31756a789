"""Client stream messages: the fast path for samples agrees with full schema validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from service.errors import ServiceError
from service.messages import JsonChunk, check_size, parse_message
from service.schemas import (
    CLIENT_MESSAGE,
    AuthMessage,
    ChunksMessage,
    ConfigMessage,
    SamplesMessage,
)

VIEWS = ("torso", "left_leg")


@pytest.mark.parametrize(
    "message",
    [
        {"type": "samples", "sensor": "torso", "samples": [[1, 2.5, -3]]},
        {"type": "samples", "sensor": "torso", "samples": [[1, 2, 3]] * 5, "t0": 3, "rate_hz": 50},
        {"type": "samples", "sensor": "nope", "samples": [[0.1, 0.2, 0.3]], "t0": 1.5},
    ],
)
def test_well_formed_samples_give_the_schema_models_values(message: dict[str, object]) -> None:
    (chunk,) = parse_message(json.dumps(message), VIEWS)  # type: ignore[misc]
    model = CLIENT_MESSAGE.validate_json(json.dumps(message))
    assert isinstance(model, SamplesMessage) and isinstance(chunk, JsonChunk)
    assert (chunk.sensor, chunk.t0, chunk.rate_hz) == (model.sensor, model.t0, model.rate_hz)
    np.testing.assert_array_equal(np.asarray(chunk.samples, float), np.asarray(model.samples))


def test_a_chunks_message_gives_the_schema_models_chunks_in_order() -> None:
    message = {
        "type": "chunks",
        "chunks": [
            {"sensor": "torso", "samples": [[1, 2.5, -3]] * 5, "t0": 1.0, "rate_hz": 25},
            {"sensor": "left_leg", "samples": [[0, 0, 9.8]] * 5, "t0": 1.0},
            {"sensor": "torso", "samples": [[4, 5, 6]]},
        ],
    }
    chunks = parse_message(json.dumps(message), VIEWS)
    model = CLIENT_MESSAGE.validate_json(json.dumps(message))
    assert isinstance(model, ChunksMessage) and isinstance(chunks, list)
    assert len(chunks) == len(model.chunks) == 3
    for chunk, expected in zip(chunks, model.chunks, strict=True):
        assert isinstance(chunk, JsonChunk)
        assert (chunk.sensor, chunk.t0, chunk.rate_hz) == (
            expected.sensor,
            expected.t0,
            expected.rate_hz,
        )
        np.testing.assert_array_equal(np.asarray(chunk.samples, float), expected.samples)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"type": "chunks", "chunks": []}', "chunks: List should have at least 1 item"),
        ('{"type": "chunks", "chunks": [{"sensor": "torso"}]}', "chunks.0.samples: Field required"),
        (
            '{"type": "chunks", "chunks": [{"sensor": "t", "samples": [[1]], "extra": 1}]}',
            "chunks.0.extra",
        ),  # fmt: skip
        (
            json.dumps({"type": "chunks", "chunks": [{"sensor": "t", "samples": [[1]]}] * 256}),
            "at most 255 items",
        ),  # fmt: skip
        ('{"type": "chunks", "chunks": [], "t0": 1}', "invalid message"),
    ],
)
def test_malformed_chunks_messages_say_what_is_wrong(raw: str, expected: str) -> None:
    with pytest.raises(ServiceError, match=expected) as info:
        parse_message(raw, VIEWS)
    assert info.value.kind == "bad_message"
    assert '{"type": "chunks"' in info.value.detail


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"type": "samples", "sensor": 5, "samples": [[1, 2, 3]]}', "sensor: Input should be"),
        ('{"type": "samples", "sensor": "t", "samples": [[1, 2, 3]], "extra": 1}', "extra"),
        ('{"type": "samples", "sensor": ', "invalid message"),
        ('{"type": "hello"}', "invalid message"),
    ],
)
def test_anything_else_goes_through_the_schema_and_its_errors(raw: str, expected: str) -> None:
    with pytest.raises(ServiceError, match=expected) as info:
        parse_message(raw, VIEWS)
    assert info.value.kind == "bad_message"
    assert 'expected {"type": "samples"' in info.value.detail


def test_config_and_auth_messages() -> None:
    config = parse_message('{"type": "config", "hop_s": 0.5}', VIEWS)
    assert isinstance(config, ConfigMessage) and config.hop_s == 0.5
    auth = parse_message('{"type": "auth", "token": "k"}', VIEWS)
    assert isinstance(auth, AuthMessage) and auth.token == "k"


def test_sizes_count_utf8_bytes() -> None:
    check_size("é" * 500, 1000)  # 1000 bytes: fits
    with pytest.raises(ServiceError, match="message of 1002 bytes exceeds 1000"):
        check_size("é" * 501, 1000)
    with pytest.raises(ServiceError, match="exceeds"):
        check_size(b"x" * 1001, 1000)
