"""Hostile and careless clients against a real server (issue 13): each finding's regression.

Every test runs `ralis serve` in a subprocess and talks to it over real sockets.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.service.servers import Server

pytestmark = pytest.mark.slow

VIEWS = ["torso", "right_arm", "left_arm", "right_leg", "left_leg"]
KEY = "k" * 24


def _ready(ws: ClientConnection) -> dict[str, object]:
    message: dict[str, object] = json.loads(ws.recv(timeout=10))
    assert message["type"] == "ready", message
    return message


def _samples(rows: int, rate_hz: float, row: list[float] | None = None) -> str:
    message = {"type": "samples", "sensor": "torso", "t0": 0, "rate_hz": rate_hz,
               "samples": [row or [0, 0, 0]] * rows}  # fmt: skip
    return json.dumps(message, separators=(",", ":"))


def _hostile_messages() -> list[tuple[str, str]]:
    """(name, message) pairs from the issue: each must cost bounded work."""
    return [
        ("the issue's 32,000 rows at 1 Hz (256 KB)", _samples(32_000, 1)),
        ("20,000 rows at 1 Hz (160 KB)", _samples(20_000, 1)),
        ("8,000 rows at 2 Hz (64 KB)", _samples(8_000, 2)),
        ("40,000 rows at 2 kHz (800 KB)", _samples(40_000, 2000, [1.5, -2.25, 9.75])),
        ("10,000 rows at 500 Hz (200 KB, 20 s)", _samples(10_000, 500, [1.5, -2.25, 9.75])),
    ]


def _attack(url: str, stop: threading.Event, outcomes: list[str]) -> None:
    """Send the hostile messages one after another, each after the previous one's answer;
    then the heaviest legal message (10 s of one sensor at hop 0.1 s) again and again."""
    with connect(url, max_size=None) as ws:
        _ready(ws)
        ws.send(json.dumps({"type": "config", "hop_s": 0.1, "stale_after_s": 60}))
        for name, message in _hostile_messages():
            ws.send(message)
            answer = json.loads(ws.recv(timeout=30))
            outcomes.append(f"{name}: {answer['type']}: {answer.get('detail', '')[:80]}")
        t0 = 1000.0
        while not stop.is_set():
            ws.send(json.dumps({"type": "samples", "sensor": "right_leg", "t0": t0,
                                "samples": np.zeros((250, 3)).tolist()}))  # fmt: skip
            t0 += 10.0
            while (answer := json.loads(ws.recv(timeout=30)))["type"] == "prediction":
                pass
            outcomes.append(f"legal 10 s chunk: {answer['detail'][:60]}")


def test_one_hostile_message_never_stalls_a_neighbouring_stream(server: Server) -> None:
    stop = threading.Event()
    outcomes: list[str] = []
    attacker = threading.Thread(target=_attack, args=(server.ws_url, stop, outcomes))
    rng = np.random.default_rng(0)
    latencies: list[float] = []
    t_ends: list[float] = []
    health_seconds: list[float] = []
    with connect(server.ws_url) as ws:
        _ready(ws)
        attacker.start()
        time.sleep(0.3)  # the hostile messages are on their way
        chunk_rows, seconds = 5, 8
        for first in range(0, seconds * 25, chunk_rows):
            sent_at = time.perf_counter()
            for view in VIEWS:  # one JSON message per sensor, as a live device sends them
                samples = rng.normal(size=(chunk_rows, 3)).tolist()
                ws.send(json.dumps({"type": "samples", "sensor": view, "t0": first / 25,
                                    "samples": samples}))  # fmt: skip
            if (first + chunk_rows) % 25 == 0 and first + chunk_rows >= 100:
                prediction = json.loads(ws.recv(timeout=10))
                latencies.append(time.perf_counter() - sent_at)
                t_ends.append(prediction["t_end"])
            if first % 50 == 0:
                started = time.perf_counter()
                assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
                health_seconds.append(time.perf_counter() - started)
            time.sleep(max(0.0, 0.2 - (time.perf_counter() - sent_at)))
    stop.set()
    attacker.join(timeout=60)
    assert not attacker.is_alive()
    assert t_ends == [4.0, 5.0, 6.0, 7.0, 8.0], t_ends  # every prediction arrived
    assert max(latencies) < 0.1, (latencies, outcomes)
    # A fresh HTTP connection each time; 30 s once, under the 256 KB message.
    assert max(health_seconds) < 1.0, health_seconds
    expected = ["sampling rate 1 Hz is not accepted", "sampling rate 1 Hz is not accepted",
                "sampling rate 2 Hz is not accepted", "exceeds 262144; send smaller chunks",
                "covers 20 s of sample time"]  # fmt: skip
    for outcome, phrase in zip(outcomes, expected, strict=False):
        assert phrase in outcome, outcomes
    assert any("at most 16 are predicted" in outcome for outcome in outcomes[5:]), outcomes


def test_unauthenticated_connections_hold_no_stream_slot(bundle_dir: Path) -> None:
    running = Server(bundle_dir, {"RALIS_API_KEYS": KEY, "RALIS_MAX_STREAMS": "2",
                                  "RALIS_MAX_PENDING_STREAMS": "8"})  # fmt: skip
    try:
        silent = [connect(running.ws_url, legacy=True) for _ in range(5)]  # never authenticate
        for _ in range(3):  # a real user still gets in, twice over, while they wait
            with connect(
                running.ws_url, additional_headers={"Authorization": f"Bearer {KEY}"}
            ) as a:
                _ready(a)
                with connect(running.ws_url) as b:
                    b.send(json.dumps({"type": "auth", "token": KEY}))
                    _ready(b)
        # The pending room is capped on its own: the 9th waiting connection is refused.
        silent += [connect(running.ws_url, legacy=True) for _ in range(3)]
        with connect(running.ws_url) as refused:
            assert (
                "too many connections authenticating"
                in json.loads(refused.recv(timeout=10))["detail"]
            )
        for ws in silent:
            ws.close()
    finally:
        running.stop()


def test_streams_per_client_address_are_capped(bundle_dir: Path) -> None:
    running = Server(bundle_dir, {"RALIS_MAX_STREAMS_PER_CLIENT": "3"})
    try:
        held = [connect(running.ws_url, legacy=True) for _ in range(3)]
        for ws in held:
            _ready(ws)
        with connect(running.ws_url) as fourth:
            assert (
                "too many streams from your address (at most 3)"
                in json.loads(fourth.recv(timeout=10))["detail"]
            )
        held.pop().close()
        time.sleep(0.2)
        with connect(running.ws_url) as again:
            _ready(again)
        for ws in held:
            ws.close()
    finally:
        running.stop()


def test_origins_outside_the_allow_list_are_refused(bundle_dir: Path) -> None:
    running = Server(bundle_dir, {"RALIS_ALLOWED_ORIGINS": "https://app.example.com"})
    try:
        with connect(running.ws_url, origin="https://app.example.com") as ws:  # type: ignore[arg-type]
            _ready(ws)
        with connect(running.ws_url) as ws:  # no Origin: not a browser, not affected
            _ready(ws)
        with pytest.raises(Exception, match="403"):
            connect(running.ws_url, origin="https://evil.example.com")  # type: ignore[arg-type]
        # The service's own page (same host as the request) is always allowed.
        with connect(running.ws_url, origin=running.url) as ws:  # type: ignore[arg-type]
            _ready(ws)
    finally:
        running.stop()


def _closed_by_server(sock: socket.socket, within_s: float) -> bool:
    sock.settimeout(within_s)
    try:
        while sock.recv(1024):
            pass
        return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_slow_and_silent_connections_are_timed_out(bundle_dir: Path) -> None:
    running = Server(bundle_dir, {"RALIS_HEADER_TIMEOUT_S": "1", "RALIS_BODY_TIMEOUT_S": "1",
                                  "RALIS_KEEP_ALIVE_TIMEOUT_S": "1"})  # fmt: skip
    address = ("127.0.0.1", running.port)
    try:
        silent = socket.create_connection(address)
        partial = socket.create_connection(address)
        partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finish
        trickle = socket.create_connection(address)
        trickle.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                        b"\r\nContent-Length: 1000\r\n\r\n{")  # fmt: skip
        for sock in (silent, partial, trickle):
            assert _closed_by_server(sock, within_s=5.0)
            sock.close()
        # A well-behaved client is unaffected, and a kept-alive idle one is closed.
        kept = socket.create_connection(address)
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert kept.recv(4096).startswith(b"HTTP/1.1 200")
        assert _closed_by_server(kept, within_s=5.0)
        kept.close()
    finally:
        running.stop()


def test_oversized_bodies_get_413_even_without_expect_continue(server: Server) -> None:
    limit = 168_384  # the default model: 5 views x 400 rows x 3 numbers (service/limits.py)
    body = json.dumps({"sensors": {"torso": [[0.0, 0.0, 0.0]] * 60_000}}).encode()
    assert len(body) > limit
    request = urllib.request.Request(  # urllib sends the body without waiting for 100-continue
        f"{server.url}/v1/predict", data=body, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 413
    assert f"exceeds {limit} bytes" in refused.value.read().decode()
    # A real 5-sensor window at 4x the model's rate still fits.
    window = np.random.default_rng(0).normal(size=(400, 3)).round(6).tolist()
    ok = httpx.post(f"{server.url}/v1/predict", timeout=10, json={
        "sensors": dict.fromkeys(VIEWS, window), "sampling_rate_hz": dict.fromkeys(VIEWS, 100.0)
    })  # fmt: skip
    assert ok.status_code == 200, ok.text


def test_a_busy_stream_closes_with_1001_promptly_on_sigterm(bundle_dir: Path) -> None:
    running = Server(bundle_dir, {"RALIS_SHUTDOWN_TIMEOUT_S": "30"})
    with connect(running.ws_url) as ws:
        _ready(ws)
        ws.send(json.dumps({"type": "config", "hop_s": 0.1}))
        for second in range(0, 100, 10):  # a backlog: ten 10 s chunks, 16 windows each
            ws.send(json.dumps({"type": "samples", "sensor": "torso", "t0": float(second),
                                "samples": np.zeros((250, 3)).tolist()}))  # fmt: skip
        started = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=20)
    assert ws.close_code == 1001
    assert time.monotonic() - started < 5.0
    assert running.stop() == 0
