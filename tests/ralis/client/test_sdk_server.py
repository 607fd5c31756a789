"""The client SDK against a real `ralis serve` (the committed default model, real DSADS data):
HTTP results and errors, a stream of a real recording, reconnect across a server restart,
and backpressure while the server is stopped."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ralis.client import (
    AsyncRalisClient,
    AuthenticationError,
    Backoff,
    BadRequestError,
    Prediction,
    RalisClient,
    StreamClient,
    dsads,
)
from service.settings import DEFAULT_BUNDLE_DIR
from tests.service.servers import Server, free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
WINDOWS = REPO / "tests" / "fixtures" / "dsads_windows" / "windows.npz"
RECORDING = REPO / "service" / "ui" / "recording.json"  # p7, 10 s per activity, 25 Hz
KEY = "a-test-key-of-sixteen+"
SENSORS = list(dsads.POSITIONS)
CHUNK_ROWS = 5  # 0.2 s at 25 Hz


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    if not (DEFAULT_BUNDLE_DIR / "manifest.json").is_file():
        pytest.skip("no default bundle committed")
    running = Server(DEFAULT_BUNDLE_DIR)
    try:
        yield running
    finally:
        running.stop()


def recording(start_s: float, seconds: float) -> dict[str, np.ndarray]:
    """`seconds` of the live page's real recording from `start_s`, (rows, 3) per sensor."""
    data = json.loads(RECORDING.read_text())
    first = round(start_s * dsads.RATE_HZ)
    last = first + round(seconds * dsads.RATE_HZ)
    return {s: np.asarray(data["samples"][s], dtype=np.float64)[first:last] for s in SENSORS}


async def push(stream: StreamClient, samples: dict[str, np.ndarray], pause_s: float) -> None:
    """Every sensor's next 0.2 s chunk, tick after tick, as a hub would push them."""
    total = min(len(v) for v in samples.values())
    for first in range(0, total, CHUNK_ROWS):
        for sensor, values in samples.items():
            await stream.send(sensor, values[first : first + CHUNK_ROWS])
        await asyncio.sleep(pause_s)


async def collect(stream: StreamClient, into: list[Prediction]) -> None:
    async for prediction in stream:
        into.append(prediction)


def t_ends(predictions: list[Prediction]) -> list[float]:
    return [p.t_end if p.t_end is not None else -1.0 for p in predictions]


def test_http_clients_predict_real_windows(server: Server) -> None:
    with np.load(WINDOWS) as data:
        running = [i for i, y in enumerate(data["y"]) if dsads.ACTIVITIES[y] == "running_treadmill"]
        windows = [
            {s: data[f"X_{s}"][i] for s in ("torso", "right_arm", "left_leg")} for i in running
        ]
    with RalisClient(server.url) as client:
        info = client.model_info()
        assert info.classes == list(dsads.ACTIVITIES)
        assert [v.name for v in info.views] == SENSORS
        single = client.predict(windows[0])
        assert single.activity == "running_treadmill"
        assert single.views_used == ["torso", "right_arm", "left_leg"]
        batch = client.predict_batch(windows)
        assert [p.activity for p in batch] == ["running_treadmill"] * len(windows)
        np.testing.assert_allclose(
            list(batch[0].probabilities.values()), list(single.probabilities.values()), atol=1e-5
        )
        with pytest.raises(BadRequestError) as refused:
            client.predict({"leftleg": windows[0]["torso"]})
        assert refused.value.status == 422 and "known: torso" in refused.value.detail

    async def run() -> None:
        async with AsyncRalisClient(server.url) as client:
            assert (await client.predict(windows[0])).activity == "running_treadmill"

    asyncio.run(run())


@pytest.mark.parametrize("frame_format", ["binary", "json"])
def test_a_stream_of_a_real_recording(server: Server, frame_format: str) -> None:
    samples = recording(30.0, 20.0)  # running on a treadmill, then rowing
    predictions: list[Prediction] = []

    async def run() -> StreamClient:
        async with StreamClient(server.ws_url, frame_format=frame_format) as stream:  # type: ignore[arg-type]
            collector = asyncio.create_task(collect(stream, predictions))
            await push(stream, samples, pause_s=0.01)
        await collector
        return stream

    stream = asyncio.run(run())
    assert t_ends(predictions) == [float(t) for t in range(4, 21)]
    assert all(p.views_used == SENSORS for p in predictions)
    by_t = {p.t_end: p.activity for p in predictions}
    running = [by_t[float(t)] == "running_treadmill" for t in range(4, 11)]
    rowing = [by_t[float(t)] == "rowing" for t in range(14, 21)]
    assert sum(running) >= 6 and sum(rowing) >= 6, by_t
    # 100 ticks of five chunks: at most one frame or JSON `chunks` message per tick.
    assert stream.frames_sent <= 100


def test_reconnect_across_a_server_restart_resumes_with_complete_windows() -> None:
    """The server stops mid-stream (1001) and comes back on the same port: the predictions go
    on at the next t_end, every window complete (all five sensors, the same probabilities as
    an uninterrupted stream), none repeated."""
    if not (DEFAULT_BUNDLE_DIR / "manifest.json").is_file():
        pytest.skip("no default bundle committed")
    env = {"RALIS_API_KEYS": KEY, "RALIS_STREAM_AUTH_TIMEOUT_S": "1"}
    port = free_port()
    samples = recording(30.0, 20.0)
    first = Server(DEFAULT_BUNDLE_DIR, env=env, port=port)
    second: Server | None = None
    resumed: list[Prediction] = []
    reference: list[Prediction] = []

    async def interrupted() -> int:
        nonlocal second
        backoff = Backoff(initial_s=0.2, max_s=1.0, max_attempts=200)
        async with StreamClient(first.ws_url, api_key=KEY, backoff=backoff) as stream:
            collector = asyncio.create_task(collect(stream, resumed))
            pusher = asyncio.create_task(push(stream, samples, pause_s=0.03))
            while (stream.last_t_end or 0.0) < 8.0:
                await asyncio.sleep(0.02)
            await asyncio.to_thread(first.stop)
            second = await asyncio.to_thread(Server, DEFAULT_BUNDLE_DIR, env, port)
            await pusher
        await collector
        return stream.reconnects

    try:
        assert asyncio.run(interrupted()) == 1
        assert second is not None

        async def uninterrupted() -> None:
            assert second is not None
            async with StreamClient(second.ws_url, api_key=KEY) as stream:
                collector = asyncio.create_task(collect(stream, reference))
                await push(stream, samples, pause_s=0.0)
            await collector

        asyncio.run(uninterrupted())

        async def wrong_key() -> None:
            assert second is not None
            with pytest.raises(AuthenticationError):
                async with StreamClient(second.ws_url, api_key="not-the-key-at-all"):
                    pass

        asyncio.run(wrong_key())
        with RalisClient(second.url) as client, pytest.raises(AuthenticationError) as refused:
            client.model_info()
        assert refused.value.status == 401
    finally:
        first.stop()
        if second is not None:
            second.stop()

    assert t_ends(resumed) == [float(t) for t in range(4, 21)]
    assert all(p.views_used == SENSORS for p in resumed)
    assert t_ends(reference) == t_ends(resumed)
    for got, expected in zip(resumed, reference, strict=True):
        assert got.activity == expected.activity
        np.testing.assert_allclose(
            [got.probabilities[c] for c in dsads.ACTIVITIES],
            [expected.probabilities[c] for c in dsads.ACTIVITIES],
            atol=1e-5,
        )


def test_send_waits_while_the_server_does_not_read(server: Server) -> None:
    """SIGSTOP the server: the socket buffers fill, then the bounded queue, then `send`
    waits; SIGCONT: everything queued goes out and its predictions come back."""
    rate = 2000.0  # large chunks fill the socket buffers quickly
    chunk = np.random.default_rng(0).normal(size=(round(2.5 * rate), 3))
    predictions: list[Prediction] = []
    progress = {"sent": 0, "release": False}

    async def run() -> tuple[int, bool]:
        async with StreamClient(
            server.ws_url, max_queue=4, batch_interval_s=0.0, drain_s=30.0
        ) as stream:
            collector = asyncio.create_task(collect(stream, predictions))

            async def pusher() -> None:
                while not progress["release"] and progress["sent"] < 2000:
                    await stream.send("torso", chunk, rate_hz=rate)
                    progress["sent"] += 1

            os.kill(server.process.pid, signal.SIGSTOP)
            try:
                task = asyncio.create_task(pusher())
                blocked = False
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not task.done():
                    before = progress["sent"]
                    await asyncio.sleep(1.0)
                    if progress["sent"] == before and stream.queued == stream.max_queue:
                        blocked = True
                        break
                sent_while_stopped = progress["sent"]
            finally:
                os.kill(server.process.pid, signal.SIGCONT)
            progress["release"] = True
            await asyncio.wait_for(task, 60)
        await collector
        return sent_while_stopped, blocked

    sent, blocked = asyncio.run(run())
    assert blocked and 0 < sent < 2000
    stream_seconds = progress["sent"] * 2.5
    # Every sent second came back as predictions once the server ran again.
    assert t_ends(predictions)[-1] == pytest.approx(np.floor(stream_seconds))
    assert len(predictions) >= 0.9 * (stream_seconds - 4)
