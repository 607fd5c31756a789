"""Hostile and careless clients against a real server, next to a well-behaved stream.

Replays every finding of the hostile-client review (issue 13) against `ralis serve` on this
machine, one attack at a time, while a neighbouring stream (five sensors, JSON, 0.2 s chunks
in real time, random start phase) keeps sending. For each attack it prints what the attacker
got, the neighbour's prediction latency (p50 / p99 from sending the chunk that completes a
window to receiving its prediction), how many of the neighbour's predictions arrived, and the
server's memory before and after.

    python -m bench.abuse             # the default bundle; about 2 minutes
    python -m bench.abuse --quick     # shorter attacks (the smoke test)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import signal
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from bench.machine import load_average
from bench.report import format_load, markdown_table
from bench.serverproc import ServerProcess, resolve_bundle

RESULTS_DIR = Path(__file__).resolve().parent / "results"
VIEWS = ["torso", "right_arm", "left_arm", "right_leg", "left_leg"]
KEY = "abuse-bench-key-0123456789"
ZERO_ROW = [0, 0, 0]
COMPACT = (",", ":")


# --- the neighbour --------------------------------------------------------------------


@dataclass
class NeighbourReport:
    latencies_s: list[float] = field(default_factory=list)
    expected: int = 0
    closed: str = ""

    @property
    def received(self) -> int:
        return len(self.latencies_s)

    def percentile_ms(self, q: float) -> float:
        return (
            float(np.percentile(self.latencies_s, q)) * 1000 if self.latencies_s else float("nan")
        )


class Neighbour:
    """A well-behaved live stream in two threads (send at real-time pace, receive)."""

    def __init__(self, url: str, seed: int, headers: dict[str, str] | None = None) -> None:
        self.report = NeighbourReport()
        self._url = url
        self._headers = headers or {}
        self._rng = np.random.default_rng(seed)
        self._phase_s = random.Random(seed).uniform(0.0, 1.0)  # random start phase
        self._stop = threading.Event()
        self._sent_at: dict[float, float] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def wait_at_least(self, seconds: float, since: float) -> None:
        """Keep streaming until `seconds` have passed since `since` (time.monotonic())."""
        time.sleep(max(0.0, since + seconds - time.monotonic()))

    def __enter__(self) -> Neighbour:
        """Start streaming; returns once the first prediction came (4 s of samples)."""
        self._thread.start()
        deadline = time.monotonic() + self._phase_s + 10.0
        while not self.report.latencies_s and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        time.sleep(self._phase_s)
        try:
            with connect(self._url, additional_headers=self._headers, open_timeout=30) as ws:
                json.loads(ws.recv(timeout=30))
                reader = threading.Thread(target=self._receive, args=(ws,), daemon=True)
                reader.start()
                self._send(ws)
                time.sleep(1.0)  # the last predictions
        except (ConnectionClosed, OSError, TimeoutError) as exc:
            self.report.closed = f"{type(exc).__name__}: {exc}"[:80]

    def _send(self, ws: ClientConnection) -> None:
        first = 0
        while not self._stop.is_set():
            started = time.perf_counter()
            for view in VIEWS:
                samples = self._rng.normal(size=(5, 3)).round(4).tolist()
                message = {"type": "samples", "sensor": view, "t0": first / 25, "samples": samples}
                ws.send(json.dumps(message))
            first += 5
            if first % 25 == 0 and first >= 100:
                self._sent_at[first / 25] = started
                self.report.expected += 1
            time.sleep(max(0.0, 0.2 - (time.perf_counter() - started)))

    def _receive(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            while True:
                message = json.loads(ws.recv(timeout=60))
                if message.get("type") == "prediction" and message["t_end"] in self._sent_at:
                    latency = time.perf_counter() - self._sent_at[message["t_end"]]
                    self.report.latencies_s.append(latency)


# --- attacks --------------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    name: str
    run: Callable[[ServerProcess, float], str]  # (server, seconds) -> outcome
    env: dict[str, str] = field(default_factory=dict)


def _ready(ws: ClientConnection) -> None:
    message = json.loads(ws.recv(timeout=30))
    if message.get("type") != "ready":
        raise RuntimeError(f"expected ready, got {message}")


def _answer(ws: ClientConnection) -> str:
    """The first non-prediction answer (the error frame), with how many predictions came."""
    predictions = 0
    while (message := json.loads(ws.recv(timeout=60)))["type"] == "prediction":
        predictions += 1
    detail = message.get("detail", message["type"])[:70]
    return f"{predictions} predictions, then: {detail}" if predictions else detail


def one_message(
    message: dict[str, object], config: dict[str, object] | None = None
) -> Callable[[ServerProcess, float], str]:
    def run(server: ServerProcess, _: float) -> str:
        with connect(server.ws_url, max_size=None) as ws:
            _ready(ws)
            if config:
                ws.send(json.dumps({"type": "config", **config}))
            started = time.perf_counter()
            ws.send(json.dumps(message, separators=COMPACT))
            answer = _answer(ws)
        return f"{answer} ({(time.perf_counter() - started) * 1000:.0f} ms)"

    return run


def legal_flood(server: ServerProcess, seconds: float) -> str:
    """The heaviest legal message again and again: 10 s of one sensor at hop 0.1 s."""
    sent, deadline, t0 = 0, time.monotonic() + seconds, 0.0
    with connect(server.ws_url) as ws:
        _ready(ws)
        ws.send(json.dumps({"type": "config", "hop_s": 0.1}))
        while time.monotonic() < deadline:
            ws.send(json.dumps({"type": "samples", "sensor": "right_leg", "t0": t0,
                                "samples": [ZERO_ROW] * 250}, separators=COMPACT))  # fmt: skip
            t0 += 10.0
            last = _answer(ws)
            sent += 1
    return f"{sent} messages; each: {last}"


def unauthenticated_reconnects(server: ServerProcess, seconds: float) -> str:
    """Clients that connect without a key and wait, reconnecting, while real users arrive."""
    stop = threading.Event()

    def squatter() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception), connect(server.ws_url, open_timeout=5) as ws:
                ws.recv(timeout=6)  # the auth timeout closes it

    squatters = [threading.Thread(target=squatter, daemon=True) for _ in range(12)]
    for thread in squatters:
        thread.start()
    admitted = tried = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tried += 1
        with contextlib.suppress(Exception):
            headers = {"Authorization": f"Bearer {KEY}"}
            with connect(server.ws_url, additional_headers=headers, open_timeout=5) as ws:
                if json.loads(ws.recv(timeout=5))["type"] == "ready":
                    admitted += 1
        time.sleep(0.25)
    stop.set()
    return f"real users admitted {admitted} of {tried} (12 squatters, 8 stream slots)"


def slow_connections(server: ServerProcess, seconds: float) -> str:
    """Silent connections, headers a line at a time, bodies that stop halfway."""
    address = ("127.0.0.1", server.port)
    socks: list[socket.socket] = []
    with contextlib.suppress(OSError):
        for kind in range(1500):
            sock = socket.create_connection(address, timeout=5)
            if kind % 3 == 1:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            elif kind % 3 == 2:
                sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             b"application/json\r\nContent-Length: 9000\r\n\r\n{")  # fmt: skip
            socks.append(sock)
    opened = len(socks)
    started = time.monotonic()
    time.sleep(12.0)  # the default header and body timeouts are 10 s
    closed = 0
    for sock in socks:
        sock.setblocking(False)
        try:
            closed += sock.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        sock.close()
    waited = time.monotonic() - started
    with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=10) as response:
        health = response.status
    return f"{closed} of {opened} closed by the server within {waited:.0f} s; /healthz {health}"


def _post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, int]:
    """(status, response bytes) with urllib, which sends the body without 100-continue."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, len(response.read())
    except urllib.error.HTTPError as error:
        return error.code, len(error.read())


def large_bodies(server: ServerProcess, seconds: float) -> str:
    """Eight clients posting the largest valid /v1/predict body, and 4 MiB ones."""
    window = json.dumps({"sensors": dict.fromkeys(VIEWS, np.zeros((400, 3)).tolist()),
                         "sampling_rate_hz": dict.fromkeys(VIEWS, 100.0)}).encode()  # fmt: skip
    huge = json.dumps({"sensors": {"torso": [ZERO_ROW] * 520_000}}, separators=COMPACT).encode()
    statuses: list[int] = []
    deadline = time.monotonic() + seconds

    def client(number: int) -> None:
        while time.monotonic() < deadline:
            statuses.append(
                _post(f"{server.base_url}/v1/predict", huge if number % 2 else window)[0]
            )

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = {code: statuses.count(code) for code in sorted(set(statuses))}
    return f"{len(window) // 1024} KB and {len(huge) >> 20} MiB bodies: status counts {counts}"


def empty_batch(server: ServerProcess, _: float) -> str:
    body = json.dumps({"windows": [{"sensors": {}}] * 279_332}, separators=COMPACT).encode()
    started = time.perf_counter()
    status, _size = _post(f"{server.base_url}/v1/predict/batch", body)
    return f"{len(body) >> 20} MiB: {status} in {(time.perf_counter() - started) * 1000:.0f} ms"


def huge_values(server: ServerProcess, _: float) -> str:
    body = json.dumps({"sensors": {"torso": [[1e308, 1e308, 1e308]] * 100}}).encode()
    return f"HTTP {_post(f'{server.base_url}/v1/predict', body)[0]}; stream: " + one_message(
        {"type": "samples", "sensor": "torso", "samples": [[3e38, 3e38, 3e38]] * 100}
    )(server, 0)


def memory_per_stream(server: ServerProcess, _: float) -> str:
    """One sensor lagging, four at 2 kHz, stale_after_s 60: the buffer budget stops it."""
    before = server.sample().rss_bytes
    streams = []
    answers = []
    for _stream in range(10):
        ws = connect(server.ws_url, max_size=None, legacy=True)
        _ready(ws)
        ws.send(json.dumps({"type": "config", "stale_after_s": 60}))
        ws.send(json.dumps({"type": "samples", "sensor": "left_leg", "samples": [ZERO_ROW] * 5}))
        for second in range(0, 60, 5):
            for view in VIEWS[:4]:
                ws.send(json.dumps({"type": "samples", "sensor": view, "t0": float(second),
                                    "rate_hz": 2000, "samples": [ZERO_ROW] * 10_000},
                                   separators=COMPACT))  # fmt: skip
        with contextlib.suppress(TimeoutError):
            while True:
                answers.append(json.loads(ws.recv(timeout=2)).get("detail", ""))
        streams.append(ws)
    grown = (server.sample().rss_bytes - before) / len(streams) / 1e6
    for ws in streams:
        ws.close()
    refused = sum("would take the stream's buffer" in a for a in answers)
    return f"{grown:.1f} MB per stream; {refused} chunks refused by the 4 MiB budget"


def small_findings(server: ServerProcess, _: float) -> str:
    url = f"{server.base_url}/v1/predict"
    over = json.dumps({"sensors": {"torso": [ZERO_ROW] * 60_000}}).encode()
    name = json.dumps({"sensors": {"x" * 3_800_000: [ZERO_ROW]}}).encode()
    plain = json.dumps({"sensors": {"torso": [ZERO_ROW] * 100}}).encode()
    named_status, named_bytes = _post(url, name)
    return (
        f"urllib oversized: {_post(url, over)[0]}; 3.8 MB name: {named_status}, "
        f"{named_bytes}-byte answer; text/plain: {_post(url, plain, 'text/plain')[0]}"
    )


def busy_shutdown(bundle: Path) -> str:
    with ServerProcess(bundle, env={"RALIS_SHUTDOWN_TIMEOUT_S": "30"}) as server:
        with connect(server.ws_url) as ws:
            _ready(ws)
            ws.send(json.dumps({"type": "config", "hop_s": 0.1}))
            for second in range(0, 200, 10):
                ws.send(json.dumps({"type": "samples", "sensor": "torso", "t0": float(second),
                                    "samples": [ZERO_ROW] * 250}))  # fmt: skip
            started = time.monotonic()
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                while True:
                    ws.recv(timeout=40)
            took = time.monotonic() - started
            code = ws.close_code
        status = server.stop()
    return f"closed {code} after {took:.1f} s; exit status {status}"


ATTACKS = [
    Attack("256 KB message: 32,000 rows at 1 Hz", one_message(
        {"type": "samples", "sensor": "torso", "samples": [ZERO_ROW] * 32_000, "t0": 0,
         "rate_hz": 1})),
    Attack("64 KB message: 8,000 rows at 2 Hz, hop 0.1 s", one_message(
        {"type": "samples", "sensor": "torso", "samples": [ZERO_ROW] * 8_000, "t0": 0,
         "rate_hz": 2}, {"hop_s": 0.1})),
    Attack("heaviest legal message, back to back (10 s, hop 0.1 s)", legal_flood),
    Attack("1e308 / 3e38 values (HTTP, stream)", huge_values),
    Attack("8 clients: largest valid and 4 MiB /v1/predict bodies", large_bodies),
    Attack("4 MiB batch of 279,332 empty windows", empty_batch),
    Attack("1,500 silent / partial-header / stalled-body connections", slow_connections),
    Attack("lagging sensor + four at 2 kHz, stale_after_s 60 (10 streams)", memory_per_stream),
    Attack("urllib 413, 3.8 MB sensor name, text/plain", small_findings),
    Attack("unauthenticated reconnects, 8 slots, API keys on", unauthenticated_reconnects,
           {"RALIS_API_KEYS": KEY, "RALIS_MAX_STREAMS": "8"}),
]  # fmt: skip


def run_attacks(bundle: Path, seconds: float) -> Iterator[list[object]]:
    """One table row per attack; servers are shared by attacks with the same settings."""
    groups: dict[tuple[tuple[str, str], ...], list[Attack]] = {}
    for attack in ATTACKS:
        groups.setdefault(tuple(sorted(attack.env.items())), []).append(attack)
    for seed, (env_items, attacks) in enumerate(groups.items()):
        env = dict(env_items)
        headers = {"Authorization": f"Bearer {KEY}"} if "RALIS_API_KEYS" in env else None
        with ServerProcess(bundle, env=env) as server:
            for number, attack in enumerate(attacks):
                before = server.sample().rss_bytes
                with Neighbour(server.ws_url, seed * 100 + number, headers) as neighbour:
                    started = time.monotonic()
                    try:
                        outcome = attack.run(server, seconds)
                    except Exception as exc:  # an attack that breaks is a finding, not a crash
                        outcome = f"attack failed: {type(exc).__name__}: {exc}"[:120]
                    neighbour.wait_at_least(seconds, started)
                after = server.sample().rss_bytes
                report = neighbour.report
                yield [attack.name, outcome, f"{report.received}/{report.expected}",
                       f"{report.percentile_ms(50):.0f} / {report.percentile_ms(99):.0f}",
                       f"{before / 1e6:.0f} -> {after / 1e6:.0f}", server.alive()]  # fmt: skip
    yield ["SIGTERM with a stream busy with a backlog", busy_shutdown(bundle), "-", "-", "-", "-"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s attacks instead of 8 s")
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--tiny-bundle", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    seconds = 3.0 if args.quick else 8.0
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="ralis-abuse-") as work:
        bundle = resolve_bundle(args.bundle, args.tiny_bundle, Path(work))
        rows = []
        for row in run_attacks(bundle, seconds):
            rows.append(row)
            print(" | ".join(str(cell) for cell in row), flush=True)
    headers = ["attack", "outcome", "neighbour predictions", "neighbour p50 / p99 ms",
               "server RSS MB before -> after", "server alive"]  # fmt: skip
    table = markdown_table(headers, rows)
    lines = [
        f"load average before / after: {format_load(load_before)} / {format_load(load_average())}",
        "",
        table,
    ]
    text = "\n".join(lines)
    print(text)
    name = "abuse_quick" if args.quick else "abuse"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{name}.md").write_text(text + "\n")
    payload = {"load_before": load_before, "headers": headers, "rows": rows}
    (args.out_dir / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
