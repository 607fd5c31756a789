"""Client stream messages, parsed: JSON text or binary frames in, typed commands out.

The schema models in `schemas.py` document the protocol and produce its error messages; a
well-formed samples message (nearly every message of a stream) skips them: its JSON is
parsed once into Python objects and the samples go straight to numpy, which checks their
shape and values where they are used (`timeline.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import pydantic_core
from pydantic import ValidationError

from ralis.frames import MAX_CHUNKS
from service.errors import ServiceError
from service.frames import decode_frame, is_binary_frame
from service.schemas import (
    CLIENT_MESSAGE,
    AuthMessage,
    ChunksMessage,
    ConfigMessage,
    SamplesMessage,
)


class Chunk(Protocol):
    """One sensor's chunk of samples, from a JSON message or a binary frame."""

    @property
    def sensor(self) -> str: ...
    @property
    def samples(self) -> object: ...  # (rows, channels): nested lists or an array
    @property
    def t0(self) -> float | None: ...
    @property
    def rate_hz(self) -> float | None: ...


class JsonChunk(NamedTuple):
    """The chunk of a JSON samples message; its samples are checked when appended."""

    sensor: str
    samples: object
    t0: float | None = None
    rate_hz: float | None = None


Command = ConfigMessage | AuthMessage | Sequence[Chunk]

_SAMPLES_KEYS = frozenset({"type", "sensor", "samples", "t0", "rate_hz"})
_CHUNK_KEYS = frozenset({"sensor", "samples", "t0", "rate_hz"})
_HINT = (
    'expected {"type": "samples", "sensor", "samples", "t0"?, "rate_hz"?}, '
    '{"type": "chunks", "chunks": [{"sensor", "samples", "t0"?, "rate_hz"?}, ...]} or '
    '{"type": "config", "hop_s"?, "stale_after_s"?}'
)


def check_size(raw: str | bytes, max_bytes: int) -> None:
    """Refuse a message over `max_bytes` (UTF-8 bytes for text)."""
    # A character is at most 4 bytes: only long texts need encoding to know their size.
    size = len(raw) if isinstance(raw, bytes) or 4 * len(raw) <= max_bytes else len(raw.encode())
    if size > max_bytes:
        raise ServiceError(
            "message_too_large", f"message of {size} bytes exceeds {max_bytes}; send smaller chunks"
        )


def parse_message(raw: str | bytes, views: Sequence[str]) -> Command:
    """A text or binary frame as a command: config, auth, or the sample chunks it carries.

    Raises:
        ServiceError: a frame that is not a valid message (kind `bad_message`).
    """
    if isinstance(raw, bytes) and is_binary_frame(raw):
        return decode_frame(raw, views)
    try:
        data = pydantic_core.from_json(raw)
    except ValueError:
        data = None  # pydantic's validation below says what is wrong, with the position
    fast = _fast_chunks(data) if data is not None else None
    if fast is not None:
        return fast
    try:
        message = (
            CLIENT_MESSAGE.validate_json(raw)
            if data is None
            else CLIENT_MESSAGE.validate_python(data)
        )
    except ValidationError as exc:
        raise ServiceError("bad_message", _describe(exc)) from None
    if isinstance(message, SamplesMessage):
        return [JsonChunk(message.sensor, message.samples, message.t0, message.rate_hz)]
    if isinstance(message, ChunksMessage):
        return [JsonChunk(c.sensor, c.samples, c.t0, c.rate_hz) for c in message.chunks]
    return message


def _fast_chunks(data: object) -> list[JsonChunk] | None:
    """A well-formed samples or chunks message as chunks; None sends it through full
    validation (which says what is wrong)."""
    if not isinstance(data, dict):
        return None
    kind = data.get("type")
    if kind == "samples" and data.keys() <= _SAMPLES_KEYS:
        chunk = _fast_chunk(data)
        return None if chunk is None else [chunk]
    items = data.get("chunks")
    if kind != "chunks" or data.keys() != {"type", "chunks"} or not isinstance(items, list):
        return None
    if not 1 <= len(items) <= MAX_CHUNKS:
        return None
    chunks = []
    for item in items:
        chunk = _fast_chunk(item) if isinstance(item, dict) and item.keys() <= _CHUNK_KEYS else None
        if chunk is None:
            return None
        chunks.append(chunk)
    return chunks


def _fast_chunk(data: dict[str, Any]) -> JsonChunk | None:
    """One chunk's fields, if their types are right (values are checked when appended)."""
    sensor, samples = data.get("sensor"), data.get("samples")
    t0, rate_hz = data.get("t0"), data.get("rate_hz")
    if not isinstance(sensor, str) or not isinstance(samples, list):
        return None
    if not (_is_number(t0) and _is_number(rate_hz)):
        return None
    return JsonChunk(sensor, samples, None if t0 is None else float(t0),
                     None if rate_hz is None else float(rate_hz))  # fmt: skip


def _is_number(value: object) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _describe(exc: ValidationError) -> str:
    """Pydantic errors as one line without echoing the input."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:3]:
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return f"invalid message ({'; '.join(parts)}); {_HINT}"
