"""StreamClient against an in-process fake `/v1/stream` (websockets server): batching, times,
reconnect and resend, auth refusal, giving up, backpressure. The real server: test_sdk_server.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve

from ralis.client import AuthenticationError, Backoff, RalisConnectionError, StreamClient
from ralis.client.stream import stream_url
from ralis.client.types import ModelInfo, ViewInfo
from service.frames import decode_frame

VIEWS = ["torso", "right_arm", "left_leg"]
RATE = 25.0
INFO = ModelInfo(
    name="fake",
    version="0",
    classes=["a", "b"],
    window_seconds=4.0,
    views=[ViewInfo(v, "acc", [f"{v}_acc_{a}" for a in "xyz"], RATE, 100) for v in VIEWS],
    execution_provider="none",
)
FAST = Backoff(initial_s=0.01, max_s=0.05, max_attempts=5)


@dataclass
class Received:
    """One message as the fake server saw it: chunks as (sensor, t0, rate, rows)."""

    connection: int
    binary: bool
    chunks: list[tuple[str, float | None, float | None, int]]


@dataclass
class FakeStreamServer:
    """Speaks the server's side: ready first, then records samples; `react` may answer."""

    react: Callable[[FakeStreamServer, ServerConnection, Received], Any] | None = None
    refuse_key: bool = False
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, ws: ServerConnection) -> None:
        number = self.connections
        self.connections += 1
        assert ws.request is not None
        self.headers.append(dict(ws.request.headers))
        if self.refuse_key:
            await ws.send(json.dumps({"type": "error", "detail": "missing or invalid API key"}))
            await ws.close(1008, "missing or invalid API key")
            return
        ready = {"type": "ready", "model_version": "0", "views": VIEWS, "hop_s": 1.0,
                 "stale_after_s": 1.0}  # fmt: skip
        await ws.send(json.dumps(ready))
        async for raw in ws:
            if isinstance(raw, bytes):
                chunks = [
                    (c.sensor, c.t0, c.rate_hz, c.samples.shape[0])
                    for c in decode_frame(raw, VIEWS)
                ]
                message = Received(number, True, chunks)
            else:
                data = json.loads(raw)
                if data["type"] not in ("samples", "chunks"):
                    continue
                items = data["chunks"] if data["type"] == "chunks" else [data]
                message = Received(
                    number,
                    False,
                    [(c["sensor"], c["t0"], c["rate_hz"], len(c["samples"])) for c in items],
                )
            self.received.append(message)
            if self.react is not None:
                await self.react(self, ws, message)

    def chunks(self, connection: int) -> list[tuple[str, float | None, float | None, int]]:
        return [c for r in self.received if r.connection == connection for c in r.chunks]


@asynccontextmanager
async def running(fake: FakeStreamServer) -> AsyncIterator[str]:
    async with serve(fake.handle, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/v1/stream"


def prediction(t_end: float) -> str:
    return json.dumps(
        {"type": "prediction", "t_end": t_end, "activity": "a", "probabilities": {"a": 1.0},
         "view_weights": {"torso": 1.0}, "views_used": ["torso"], "model_version": "0",
         "latency_ms": 1.0}
    )  # fmt: skip


def rows(count: int) -> np.ndarray:
    return np.arange(3 * count, dtype=np.float64).reshape(count, 3)


def test_chunks_pushed_together_share_one_binary_frame_with_contiguous_times() -> None:
    fake = FakeStreamServer()

    async def run() -> None:
        async with running(fake) as url:
            async with StreamClient(
                url,
                api_key="k" * 16,
                model_info=INFO,
                send_at="now",
                batch_interval_s=0.05,
                drain_s=0.1,
            ) as stream:
                for _ in range(2):
                    for view in VIEWS:
                        await stream.send(view, rows(5))
                    await stream.flush()
                    await asyncio.sleep(0.1)
                await stream.send("torso", rows(5), t0=10.0, rate_hz=50.0)
                await stream.send("torso", rows(5))

    asyncio.run(run())
    assert fake.headers[0]["authorization"] == "Bearer " + "k" * 16
    assert [r.binary for r in fake.received] == [True] * 3
    assert fake.received[0].chunks == [(v, 0.0, RATE, 5) for v in VIEWS]
    assert fake.received[1].chunks == [(v, pytest.approx(0.2), RATE, 5) for v in VIEWS]
    # A sensor's chunks that follow on in time go out as one.
    assert fake.received[2].chunks == [("torso", 10.0, 50.0, 10)]


def test_json_messages_carry_explicit_times_and_long_pushes_are_split() -> None:
    fake = FakeStreamServer()

    async def run() -> None:
        async with running(fake) as url:
            async with StreamClient(
                url, model_info=INFO, frame_format="json", drain_s=0.1
            ) as stream:
                await stream.send("left_leg", rows(300))  # 12 s: pieces of at most 5 s
                await stream.send("left_leg", rows(10))

    asyncio.run(run())
    # Pieces sent together share `chunks` messages as far as the span limit (8 hops) allows:
    # fewer messages than the pieces, all JSON text; the last 2 s and the next push, which
    # follows on, are one piece (60 rows, within a piece's 5 s).
    assert 2 <= len(fake.received) < 3
    assert not any(r.binary for r in fake.received)
    assert fake.chunks(0) == [
        ("left_leg", 0.0, RATE, 125),
        ("left_leg", 5.0, RATE, 125),
        ("left_leg", 10.0, RATE, 60),
    ]


def test_reconnect_resends_what_the_next_windows_need_and_drops_repeated_predictions() -> None:
    async def react(fake: FakeStreamServer, ws: ServerConnection, message: Received) -> None:
        sensor, t0, rate, count = message.chunks[-1]
        assert t0 is not None and rate is not None
        t_end = round(t0 + count / rate, 6)
        if t_end == int(t_end) and t_end >= 4.0:
            await ws.send(prediction(t_end))
            if message.connection == 0 and t_end == 6.0:
                await ws.close(1001, "server shutting down")

    fake = FakeStreamServer(react=react)
    delivered: list[float] = []

    async def run() -> int:
        async with running(fake) as url:
            async with StreamClient(
                url, model_info=INFO, batch_interval_s=0.0, backoff=FAST, drain_s=1.0
            ) as stream:

                async def collect() -> None:
                    async for p in stream:
                        assert p.t_end is not None
                        delivered.append(p.t_end)

                collector = asyncio.create_task(collect())
                for _ in range(45):  # 9 s in 0.2 s chunks
                    await stream.send("torso", rows(5))
                    await asyncio.sleep(0.01)
            await collector
            return stream.reconnects

    assert asyncio.run(run()) == 1
    assert delivered == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0]  # 6.0 once, though sent twice
    second = fake.chunks(1)
    # Windows after the last prediction (6 s) start at 6 + 1 - 4 = 3 s: resent from there,
    # then everything up to 9 s with no gap and no overlap.
    assert second[0][1] == pytest.approx(3.0)
    ends = [t0 + count / rate for _, t0, rate, count in second]  # type: ignore[operator]
    assert [c[1] for c in second[1:]] == pytest.approx(ends[:-1])
    assert ends[-1] == pytest.approx(9.0)


def test_a_refused_key_is_not_retried() -> None:
    fake = FakeStreamServer(refuse_key=True)

    async def run() -> None:
        async with running(fake) as url:
            with pytest.raises(AuthenticationError, match="invalid API key"):
                async with StreamClient(url, api_key="wrong" * 4, model_info=INFO, backoff=FAST):
                    pass

    asyncio.run(run())
    assert fake.connections == 1


def test_gives_up_after_the_backoff_attempts() -> None:
    async def run() -> None:
        with pytest.raises(RalisConnectionError, match="after 5 attempt"):
            await StreamClient("ws://127.0.0.1:9/v1/stream", model_info=INFO, backoff=FAST).open()

    asyncio.run(run())


def test_send_waits_while_the_queue_is_full() -> None:
    async def run() -> None:
        stream = StreamClient(model_info=INFO, max_queue=2)  # never opened: nothing drains it
        await stream.send("torso", rows(5))
        await stream.send("torso", rows(5))
        assert stream.queued == 2
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(stream.send("torso", rows(5)), 0.2)
        assert stream.send_waits == 1

    asyncio.run(run())


def test_send_refuses_what_the_server_would() -> None:
    async def run() -> None:
        stream = StreamClient(model_info=INFO)
        with pytest.raises(ValueError, match="unknown sensor 'head'; known: torso"):
            await stream.send("head", rows(5))
        with pytest.raises(ValueError, match=r"expected \(rows >= 1, 3\)"):
            await stream.send("torso", np.zeros((5, 2)))
        await stream.send("torso", rows(5), t0=2.0)
        with pytest.raises(ValueError, match="must move forward in time"):
            await stream.send("torso", rows(5), t0=1.0)

    asyncio.run(run())


def test_stream_url_from_a_base_url() -> None:
    assert stream_url("http://h:8000") == "ws://h:8000/v1/stream"
    assert stream_url("https://h/") == "wss://h/v1/stream"
    assert stream_url("ws://h:1/v1/stream") == "ws://h:1/v1/stream"


def test_by_default_chunks_go_out_once_per_hop_one_per_sensor() -> None:
    """Three sensors push 0.2 s each every tick: one frame per hop (1 s), sent when the
    chunks that reach the window end arrive, each sensor's second merged into one chunk."""
    fake = FakeStreamServer()
    arrived: list[int] = []

    async def run() -> int:
        async with running(fake) as url:
            async with StreamClient(url, model_info=INFO, drain_s=0.1) as stream:
                for _ in range(10):
                    for view in VIEWS:
                        await stream.send(view, rows(5))
                    await asyncio.sleep(0.1)  # room for a loaded machine: sent after 10 ms
                    arrived.append(len(fake.received))
                return stream.frames_sent

    assert asyncio.run(run()) == 2
    # Nothing went out before the fifth tick's chunks reached 1 s.
    assert arrived == [0, 0, 0, 0, 1, 1, 1, 1, 1, 2]
    assert [r.chunks for r in fake.received] == [
        [(v, pytest.approx(float(k)), RATE, 25) for v in VIEWS] for k in range(2)
    ]


def test_a_sensor_reaching_the_window_end_late_is_sent_at_once() -> None:
    """A lagging sensor is not held for another hop: the window waits for it."""
    fake = FakeStreamServer()

    async def run() -> list[int]:
        seen = []
        async with running(fake) as url:
            async with StreamClient(url, model_info=INFO, drain_s=0.1) as stream:
                for _ in range(5):
                    await stream.send("torso", rows(5))
                await asyncio.sleep(0.1)
                seen.append(len(fake.received))
                for _ in range(5):
                    await stream.send("left_leg", rows(5))
                await asyncio.sleep(0.1)
                seen.append(len(fake.received))
                await stream.send("left_leg", rows(5))  # held: no window end reached
                await asyncio.sleep(0.1)
                seen.append(len(fake.received))
                await stream.flush()  # sends what is held
                await asyncio.sleep(0.1)
                seen.append(len(fake.received))
        return seen

    assert asyncio.run(run()) == [1, 2, 2, 3]
    assert [r.chunks for r in fake.received] == [
        [("torso", 0.0, RATE, 25)],
        [("left_leg", 0.0, RATE, 25)],
        [("left_leg", pytest.approx(1.0), RATE, 5)],
    ]


def test_pushed_samples_are_copied_for_resends() -> None:
    fake = FakeStreamServer()
    buffer = rows(5)

    async def run() -> list[np.ndarray]:
        async with running(fake) as url:
            async with StreamClient(url, model_info=INFO, drain_s=0.1) as stream:
                await stream.send("torso", buffer)
                buffer[:] = -1.0  # a ring buffer the caller reuses
                await stream.flush()
                return [c.samples for c in stream._history]

    kept = asyncio.run(run())
    np.testing.assert_array_equal(kept[0], rows(5))


def test_a_failing_block_closes_at_once_without_draining() -> None:
    fake = FakeStreamServer()

    async def run() -> float:
        loop = asyncio.get_running_loop()
        async with running(fake) as url:
            with pytest.raises(RuntimeError, match="sensor fell off"):
                async with StreamClient(url, model_info=INFO, drain_s=5.0) as stream:
                    await stream.send("torso", rows(5))
                    started = loop.time()
                    raise RuntimeError("sensor fell off")
        return loop.time() - started

    assert asyncio.run(run()) < 1.0
