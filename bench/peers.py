"""RALIS next to general-purpose model servers (LitServe, BentoML) serving the same bundle.

The peers run the bundle's ONNX files themselves (`bench/peers_apps/`: their own decode,
normalisation, per-view encoders over the batch, head, response), with their own dynamic
batching (max 64 per batch, as RALIS), one worker process, one intra-op thread per session
(RALIS's default), inside a separate venv that this script builds (`build/venv-peers`, pinned
versions); nothing of theirs enters the project's dependencies.

One client (this process, one event loop) drives every server on two workloads:
- HTTP windows: C closed-loop workers POST one real 5-sensor 4 s window per request.
- Real-time devices: D devices replaying DSADS test subjects at 25 Hz, a 0.2 s chunk of all
  five sensors every 0.2 s, each starting at a random phase. RALIS: one WebSocket stream per
  device, windows and hops kept by the server, in two variants: one binary frame per 0.2 s
  chunk ("0.2 s frames"), or one frame per hop holding each sensor's last second as one chunk
  ("frame per hop", what the SDK's `StreamClient` sends by default), sent when the hop's last
  chunk is due, i.e. when the other variant sends that chunk. Peers: each device keeps a 4 s
  ring buffer and POSTs it every second (hop), the same in both workloads. Latency: from
  sending the chunk that completes a hop to its prediction arriving.

Rounds are interleaved (RALIS, LitServe, BentoML, RALIS, ...), a fresh server per round, and
repeated; the table gives medians and ranges over repeats, next to the load average and the
raw model cost (the bundle's sessions alone, same threads, at the batch sizes each server
formed), measured in the same run.

Run: `python -m bench.peers [--quick] [--repeats 3]`; `--setup-only` builds the venv.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.asyncio_runner import run
from bench.compute_bound import ModelTimer
from bench.machine import environment, load_average
from bench.report import RESULTS_DIR, format_load, markdown_table, save_results
from bench.serverproc import REPO, free_port, metric_delta, scrape, tree_cpu_seconds
from bench.service_load import metric_sum
from bench.stream_load import (
    DEFAULT_DATA,
    TEST_SUBJECTS,
    MessageBook,
    StreamStats,
    _open,
    load_recordings,
    model_views,
    receive_predictions,
)
from ralis.bundle import load_manifest
from ralis.client.replay import CHUNK_S
from service.settings import DEFAULT_BUNDLE_DIR, Settings

PEERS_VENV = REPO / "build" / "venv-peers"
# What `pip install litserve bentoml onnxruntime numpy` gave on 2026-11-30 (Python 3.11).
PINS = {"litserve": "0.2.19", "bentoml": "1.4.40", "onnxruntime": "1.32.0", "numpy": "2.4.6"}
REPORTED = [*PINS, "fastapi", "uvicorn", "pyzmq"]  # versions printed with the table
APPS = REPO / "bench" / "peers_apps"
SERVERS = ("RALIS", "LitServe", "BentoML")
MAX_BATCH = 64
READY_TIMEOUT_S = 120.0
TIME_EPS_S = 1e-6


class PeersUnavailable(RuntimeError):
    """The peers' venv cannot be built (offline, no PyPI): the comparison cannot run."""


# ----------------------------------------------------------------------------- the peers' venv


def _versions(venv: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys; "
        f"print(json.dumps({{n: m.version(n) for n in {REPORTED!r}}}))"
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    )
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


def ensure_venv(venv: Path = PEERS_VENV, pins: dict[str, str] = PINS) -> dict[str, str]:
    """Build (once) a venv with the pinned peers; returns the installed versions.

    Raises:
        PeersUnavailable: venv or pip failed (typically: no network to PyPI).
    """
    stamp = venv / "ralis-peers-pins.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == pins:
        return _versions(venv)
    requirements = [f"{name}=={version}" for name, version in pins.items()]
    print(f"building {venv} with {' '.join(requirements)} (PyPI; ~2 min)", file=sys.stderr)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
         "--timeout", "30", *requirements],
    ]  # fmt: skip
    for step in steps:
        try:
            subprocess.run(step, capture_output=True, text=True, check=True, timeout=900)
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            tail = "\n".join(detail.strip().splitlines()[-5:])
            raise PeersUnavailable(f"cannot build {venv}: {' '.join(step[:3])}...: {tail}") from exc
    stamp.write_text(json.dumps(pins))
    return _versions(venv)


# ----------------------------------------------------------------------------- servers


class TreeServer:
    """A server command in its own session (process group): ready wait, tree CPU, group stop."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        port: int,
        ready_path: str,
        predict_path: str,
        env: dict[str, str],
        cwd: Path = REPO,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.ready_path = ready_path
        self.predict_url = self.base_url + predict_path
        self.env = dict(os.environ, **env)
        self.cwd = cwd
        self._log = tempfile.NamedTemporaryFile("w+", prefix=f"peers-{name}-", suffix=".log")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, cwd=self.cwd, env=self.env, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + self.ready_path, timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"{self.name} not ready within {READY_TIMEOUT_S:g} s:\n{self.log_tail()}"
        )

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return tree_cpu_seconds(self.process.pid)

    def processes(self) -> int:
        from bench.serverproc import process_tree

        assert self.process is not None
        return len(process_tree(self.process.pid))

    def stop(self) -> None:
        """SIGTERM to the whole group (LitServe's workers outlive a lone parent), then SIGKILL."""
        if self.process is None:
            return
        pgid = self.process.pid  # start_new_session: the group id is the leader's pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(pgid, signal.SIGKILL)  # stragglers of the group
        except ProcessLookupError:
            pass
        self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(Path(self._log.name).read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> TreeServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._log.close()


def make_server(
    name: str,
    bundle: Path,
    venv: Path,
    stats_file: Path,
    threads: int,
    precision: str,
    batch_wait_ms: float,
) -> TreeServer:
    """RALIS (`ralis serve`, production settings) or a peer serving the same bundle, with the
    same encoder files (`precision`, chosen as RALIS_PRECISION chooses) and the same wait for
    a batch to fill (RALIS and LitServe; BentoML adapts its own)."""
    port = free_port()
    peer_env = {
        "PEER_BUNDLE": str(bundle.resolve()),
        "PEER_PRECISION": precision,
        "PEER_STATS_FILE": str(stats_file),
        "PEER_INTRA_OP_THREADS": str(threads),
        "BENTOML_DO_NOT_TRACK": "True",
        "BENTOML_HOME": str(stats_file.parent / "bentoml-home"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if name == "RALIS":
        command = [
            sys.executable, "-m", "ralis.cli", "serve", "--bundle", str(bundle), "--host",
            "127.0.0.1", "--port", str(port), "--execution-provider", "cpu", "--log-level",
            "warning",
        ]  # fmt: skip
        # 200 devices come from one address: lift the per-client stream cap, nothing else.
        env = {
            "RALIS_MAX_STREAMS": "600",
            "RALIS_MAX_STREAMS_PER_CLIENT": "0",
            "RALIS_PRECISION": precision,
            "RALIS_MAX_BATCH_WAIT_MS": str(batch_wait_ms),
        }
        return TreeServer(name, command, port, "/readyz", "/v1/predict", env)
    python = str(venv / "bin" / "python")
    if name == "LitServe":
        command = [
            python, str(APPS / "litserve_app.py"), "--port", str(port),
            "--max-batch-size", str(MAX_BATCH), "--batch-timeout", str(batch_wait_ms / 1e3),
        ]  # fmt: skip
        return TreeServer(name, command, port, "/health", "/predict", peer_env)
    if name == "BentoML":
        command = [
            str(venv / "bin" / "bentoml"), "serve", "bentoml_app:BundleService", "--host",
            "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
        return TreeServer(name, command, port, "/readyz", "/predict", peer_env, cwd=APPS)
    raise ValueError(f"unknown server {name!r}; known: {', '.join(SERVERS)}")


def request_body(name: str, window: dict[str, Any]) -> bytes:
    """One window as each server's API takes it (BentoML's batchable API takes a list)."""
    body = {"windows": [{"sensors": window}]} if name == "BentoML" else {"sensors": window}
    return json.dumps(body).encode()


# ----------------------------------------------------------------------------- one measurement


@dataclass
class Span:
    """What the client saw and the server used in one measured span."""

    workload: str
    server: str
    repeat: int
    measure_s: float
    expected: int = 0
    received: int = 0
    latencies_s: list[float] = field(default_factory=list)
    lags_s: list[float] = field(
        default_factory=list
    )  # how late a device sent (client short of CPU)
    errors: Counter[str] = field(default_factory=Counter)
    bytes_sent: int = 0
    bytes_received: int = 0

    def count_received(self, message_bytes: int) -> None:
        """A measured prediction frame of `message_bytes` arrived (server to client)."""
        self.bytes_received += ws_frame_bytes(message_bytes, False)

    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    load_start: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    encoder_batch: dict[str, float] = field(default_factory=dict)
    head_batch: float = 0.0
    windows_per_prediction: dict[str, float] = field(default_factory=dict)
    server_processes: int = 0
    model_s_per_prediction: float | None = None  # filled after the round

    def per_prediction(self, value: float) -> float | None:
        return value / self.received if self.received else None

    def summary(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies_s)
        p50, p99 = (1e3 * float(np.percentile(lat, q)) for q in (50, 99)) if lat.size else (0, 0)
        cpu = self.per_prediction(self.server_cpu_s)
        model = self.model_s_per_prediction
        return {
            "predictions_per_s": self.received / self.measure_s,
            "delivered": f"{self.received}/{self.expected}",
            "delivered_fraction": self.received / self.expected if self.expected else 0.0,
            "p50_ms": p50,
            "p99_ms": p99,
            "server_cpu_ms": None if cpu is None else 1e3 * cpu,
            "model_ms": None if model is None else 1e3 * model,
            "server_over_model": None if cpu is None or not model else cpu / model,
            "client_cpu_ms": None if cpu is None else 1e3 * self.client_cpu_s / self.received,
            "sent_kb": None if cpu is None else self.bytes_sent / self.received / 1e3,
            "received_kb": None if cpu is None else self.bytes_received / self.received / 1e3,
            "errors": sum(self.errors.values()),
            "lag_p99_ms": 1e3 * float(np.percentile(self.lags_s, 99)) if self.lags_s else None,
            "batch": self.head_batch,
            "load_1min": (self.load_start[0] + self.load_end[0]) / 2,
        }


class Probe:
    """Marks the start and end of a span: server tree CPU, client CPU, load, batch counters."""

    def __init__(self, server: TreeServer, stats_file: Path, views: Sequence[str]) -> None:
        self.server = server
        self.stats_file = stats_file
        self.views = views
        self.marks: dict[str, dict[str, Any]] = {}

    def _counters(self) -> dict[str, float]:
        if self.server.name == "RALIS":
            return scrape(self.server.base_url)
        try:
            stats: dict[str, float] = json.loads(self.stats_file.read_text())
        except (OSError, ValueError):
            stats = {"batches": 0, "rows": 0}
        return stats

    def mark(self, name: str) -> None:
        times = os.times()
        self.marks[name] = {
            "server_cpu": self.server.cpu_seconds(),
            "client_cpu": times.user + times.system,
            "load": load_average(),
            "counters": self._counters(),
        }

    def fill(self, span: Span) -> None:
        start, end = self.marks["start"], self.marks["end"]
        span.server_cpu_s = end["server_cpu"] - start["server_cpu"]
        span.client_cpu_s = end["client_cpu"] - start["client_cpu"]
        span.load_start, span.load_end = start["load"], end["load"]
        span.server_processes = self.server.processes()
        if self.server.name == "RALIS":
            delta = metric_delta(start["counters"], end["counters"])
            rows = metric_sum(delta, "ralis_head_batch_size_sum")
            runs = metric_sum(delta, "ralis_head_batch_size_count")
            span.head_batch = rows / runs if runs else 0.0
            for view in self.views:
                windows = metric_sum(delta, "ralis_encoder_batch_size_sum", view=view)
                calls = metric_sum(delta, "ralis_encoder_batch_size_count", view=view)
                if calls and rows:
                    span.encoder_batch[view] = windows / calls
                    span.windows_per_prediction[view] = windows / rows
        else:  # every request holds all views: one encoder row per view per prediction
            rows = end["counters"]["rows"] - start["counters"]["rows"]
            runs = end["counters"]["batches"] - start["counters"]["batches"]
            span.head_batch = rows / runs if runs else 0.0
            span.encoder_batch = dict.fromkeys(self.views, span.head_batch)
            span.windows_per_prediction = dict.fromkeys(self.views, 1.0)


async def _at(when: float, action: Callable[[], None]) -> None:
    await asyncio.sleep(max(0.0, when - time.perf_counter()))
    await asyncio.to_thread(action)  # a scrape must not stall the senders


# ----------------------------------------------------------------------------- the one client


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON bodies: the lean client every server gets.

    httpx's async pool costs milliseconds of CPU per request at 64 connections
    (encode/httpx#3215), and the client shares the machine's 2 cores with the server.
    Bytes counted are the real ones on the socket: request line, headers and body.
    """

    def __init__(self, url: str) -> None:
        rest = url.split("://", 1)[1]
        hostport, _, path = rest.partition("/")
        self.host, _, port = hostport.partition(":")
        self.port = int(port or 80)
        self.head = (
            f"POST /{path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\n"
            "Content-Length: "
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[str, int, int]:
        """POST `body`; returns (status or error name, bytes sent, bytes received)."""
        request = self.head + str(len(body)).encode() + b"\r\n\r\n" + body
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            self.writer.write(request)
            header = await self.reader.readuntil(b"\r\n\r\n")
            status = header[9:12].decode()
            lowered = header.lower()
            if b"transfer-encoding: chunked" in lowered:
                size, payload = 0, 0
                while True:
                    line = await self.reader.readuntil(b"\r\n")
                    size = int(line.split(b";")[0], 16)
                    payload += len(line) + len(await self.reader.readexactly(size + 2))
                    if size == 0:
                        break
            else:
                start = lowered.index(b"content-length:") + 15
                length = int(lowered[start : lowered.index(b"\r\n", start)])
                payload = len(await self.reader.readexactly(length))
            if b"connection: close" in lowered:
                await self.close()
            return status, len(request), len(header) + payload
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            await self.close()
            return type(exc).__name__, len(request), 0

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def ws_frame_bytes(payload: int, masked: bool) -> int:
    """A WebSocket frame's size on the wire (RFC 6455: header, extended length, client mask)."""
    header = 2 + (2 if 126 <= payload < 65536 else 8 if payload >= 65536 else 0)
    return header + (4 if masked else 0) + payload


async def _windows(
    url: str, bodies: Sequence[bytes], concurrency: int, warmup_s: float, span: Span, probe: Probe
) -> None:
    """C closed-loop workers, each on its own keep-alive connection, POSTing one window each."""
    begin = time.perf_counter()
    measure_from, measure_to = begin + warmup_s, begin + warmup_s + span.measure_s

    async def worker(index: int) -> None:
        connection = HttpConnection(url)
        n = index
        while (sent := time.perf_counter()) < measure_to:
            status, up, down = await connection.post(bodies[n % len(bodies)])
            n += concurrency
            done = time.perf_counter()
            if measure_from <= sent and done < measure_to:
                span.expected += 1
                span.bytes_sent += up
                span.bytes_received += down
                if status == "200":
                    span.received += 1
                    span.latencies_s.append(done - sent)
                else:
                    span.errors[status] += 1
        await connection.close()

    await asyncio.gather(
        *(worker(i) for i in range(concurrency)),
        _at(measure_from, lambda: probe.mark("start")),
        _at(measure_to, lambda: probe.mark("end")),
    )


@dataclass(frozen=True)
class DevicePlan:
    devices: int
    warmup_s: float
    measure_s: float
    seed: int
    window_s: float = 4.0
    hop_s: float = 1.0
    grace_s: float = 5.0
    frame_per_hop: bool = False  # RALIS devices: one frame per hop, else one per 0.2 s chunk

    @property
    def ticks(self) -> int:
        return round((self.warmup_s + self.measure_s) / CHUNK_S)


class RingBook:
    """Each device's 4 s ring buffer as a request body, by (recording, last chunk); cached."""

    def __init__(self, book: MessageBook, server: str, window_chunks: int) -> None:
        self.book = book
        self.server = server
        self.window_chunks = window_chunks
        self._bodies: dict[tuple[int, int], bytes] = {}

    def body(self, recording: int, last_chunk: int) -> bytes:
        n = self.book.chunks_per_recording
        key = (recording, last_chunk % n)
        if key not in self._bodies:
            rows = self.book.recordings[recording].rows
            size = self.book.chunk_rows
            chunks = [(last_chunk - k) % n for k in range(self.window_chunks - 1, -1, -1)]
            ring = np.concatenate([rows[c * size : (c + 1) * size] for c in chunks])
            window = {v.name: ring[:, v.columns].tolist() for v in self.book.views}
            self._bodies[key] = request_body(self.server, window)
        return self._bodies[key]


async def _devices(
    server: TreeServer, book: MessageBook, plan: DevicePlan, span: Span, probe: Probe
) -> None:
    """D real-time devices: RALIS over WebSocket (binary frames), peers POSTing ring buffers."""
    streaming = server.name == "RALIS"
    frame_ticks = hop_ticks = round(plan.hop_s / CHUNK_S)
    if not plan.frame_per_hop:
        frame_ticks = 1
    rng = random.Random(plan.seed)
    phases = [rng.uniform(0.0, plan.hop_s) for _ in range(plan.devices)]  # random, not spread
    stats = [StreamStats() for _ in range(plan.devices)]
    window_ticks = round(plan.window_s / CHUNK_S)
    rings = RingBook(book, server.name, window_ticks)
    all_views = list(range(len(book.views)))
    sockets: list[ClientConnection | None] = []
    receivers: list[asyncio.Task[None]] = []
    if streaming:
        gate = asyncio.Semaphore(25)
        ws_url = server.base_url.replace("http", "ws", 1) + "/v1/stream"
        sockets = list(await asyncio.gather(*(_open(ws_url, s, plan.hop_s, gate) for s in stats)))
        receivers = [
            asyncio.create_task(receive_predictions(ws, stats[i], span.count_received))
            for i, ws in enumerate(sockets)
            if ws is not None
        ]
    connections = [HttpConnection(server.predict_url) for _ in range(plan.devices)]
    locks = [asyncio.Lock() for _ in range(plan.devices)]
    posts: list[asyncio.Task[None]] = []
    begin = time.perf_counter() + 0.5
    measure_from = begin + plan.warmup_s
    measure_to = measure_from + plan.measure_s

    async def post(device: int, body: bytes, t_end: float) -> None:
        # A device whose previous POST is still out opens no second connection: it waits.
        async with locks[device]:
            status, up, down = await connections[device].post(body)
        if status == "200":
            stats[device].arrived[t_end] = time.perf_counter()
        elif t_end in stats[device].measured:
            stats[device].errors[status] += 1
        if t_end in stats[device].measured:
            span.bytes_sent += up
            span.bytes_received += down

    async def device(index: int) -> None:
        ws = sockets[index] if streaming else None
        if streaming and ws is None:
            return
        recording = index % len(book.recordings)
        first_chunk = (index // len(book.recordings)) * plan.ticks
        start = begin + phases[index]
        for tick in range(plan.ticks):
            due = start + (tick + 1) * CHUNK_S
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            t_end = round((tick + 1) * CHUNK_S, 6)
            completes = (tick + 1) % hop_ticks == 0 and tick + 1 >= window_ticks
            if streaming and (tick + 1) % frame_ticks == 0:
                first = tick + 1 - frame_ticks  # the frame's first chunk
                t0 = round(first * CHUNK_S, 6)
                payload = book.frame(recording, all_views, first_chunk + first, t0, frame_ticks)
            elif streaming:
                continue  # held for the hop's frame
            elif completes:
                payload = rings.body(recording, first_chunk + tick)  # the device encodes it
            else:
                continue  # a peer device only buffers this chunk
            now = time.perf_counter()
            in_span = measure_from <= now < measure_to
            if completes and in_span:
                stats[index].measured.add(t_end)
                span.lags_s.append(now - due)
            if completes:
                stats[index].sent_at[t_end] = now
            if in_span and streaming:
                span.bytes_sent += ws_frame_bytes(len(payload), True)
            if ws is not None:
                try:
                    await ws.send(payload, text=False)
                except ConnectionClosed:
                    return
            else:
                posts.append(asyncio.create_task(post(index, payload, t_end)))

    await asyncio.gather(
        *(device(i) for i in range(plan.devices)),
        _at(measure_from, lambda: probe.mark("start")),
        _at(measure_to, lambda: probe.mark("end")),
    )
    deadline = time.perf_counter() + plan.grace_s
    while time.perf_counter() < deadline and any(not s.measured <= s.arrived.keys() for s in stats):
        await asyncio.sleep(0.05)
    for task in posts:
        task.cancel()
    await asyncio.gather(*posts, return_exceptions=True)
    await asyncio.gather(*(c.close() for c in connections))
    await asyncio.gather(*(ws.close() for ws in sockets if ws is not None), return_exceptions=True)
    await asyncio.gather(*receivers, return_exceptions=True)
    for s in stats:
        span.expected += len(s.measured)
        span.received += len(s.measured & s.arrived.keys())
        span.latencies_s += [s.arrived[t] - s.sent_at[t] for t in s.measured if t in s.arrived]
        span.errors.update(s.errors)
        if s.refused:
            span.errors[f"refused: {s.refused}"] += 1
        if s.close_code not in (None, 1000):
            span.errors[f"closed {s.close_code}"] += 1


# ----------------------------------------------------------------------------- rounds


@dataclass(frozen=True)
class Workload:
    name: str  # as printed
    kind: str  # "windows" or "devices"
    level: int  # concurrency or devices
    frame_per_hop: bool = False  # devices: RALIS sends one frame per hop


def run_round(
    name: str,
    repeat: int,
    workloads: Sequence[Workload],
    args: argparse.Namespace,
    bundle: Path,
    book: MessageBook,
    windows: Sequence[dict[str, Any]],
    work: Path,
) -> list[Span]:
    """A fresh server, every workload once; returns one span per workload."""
    stats_file = work / f"{name}-{repeat}.json"
    views = [v.name for v in book.views]
    bodies = [request_body(name, w) for w in windows]
    spans = []
    with make_server(
        name, bundle, args.venv, stats_file, args.threads, args.precision, args.batch_wait_ms
    ) as server:
        for workload in workloads:
            probe = Probe(server, stats_file, views)
            if workload.kind == "windows":
                span = Span(workload.name, name, repeat, args.http_duration)
                run(_windows(server.predict_url, bodies, workload.level, args.http_warmup, span,
                             probe))  # fmt: skip
            else:
                span = Span(workload.name, name, repeat, args.duration)
                plan = DevicePlan(
                    workload.level,
                    args.warmup,
                    args.duration,
                    seed=repeat,
                    frame_per_hop=workload.frame_per_hop,
                )
                run(_devices(server, book, plan, span, probe))
            probe.fill(span)
            spans.append(span)
            s = span.summary()
            print(
                f"  {workload.name:<22} {name:<8} {s['predictions_per_s']:7.1f} pred/s "
                f"{s['delivered']:>11}  p50 {s['p50_ms']:7.1f} p99 {s['p99_ms']:7.1f} ms  "
                f"server {s['server_cpu_ms'] or 0:5.2f} ms/pred  batch {s['batch']:4.1f}  "
                f"errors {dict(span.errors) or 0}  load {span.load_end[0]:.2f}",
                file=sys.stderr,
            )
    return spans


def add_model_cost(spans: Sequence[Span], timer: ModelTimer) -> None:
    """The bundle's sessions alone at each span's batch sizes (same threads as the servers)."""
    for span in spans:
        if span.head_batch and span.encoder_batch:
            bound = timer.bound(span.encoder_batch, span.head_batch, span.windows_per_prediction)
            span.model_s_per_prediction = bound.seconds_per_prediction


# ----------------------------------------------------------------------------- report


def _spread(values: Sequence[float | None], fmt: str) -> str:
    """'median (min-max)' of the values that exist; one value alone; '-' for none."""
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    middle = format(statistics.median(present), fmt)
    if len(present) == 1:
        return middle
    return f"{middle} ({format(min(present), fmt)}-{format(max(present), fmt)})"


def results_table(spans: Sequence[Span], workloads: Sequence[Workload]) -> str:
    rows = []
    for workload in workloads:
        for name in SERVERS:
            mine = [s for s in spans if s.workload == workload.name and s.server == name]
            if not mine:
                continue
            summaries = [s.summary() for s in mine]

            def col(key: str, fmt: str, ss: list[dict[str, Any]] = summaries) -> str:
                return _spread([s[key] for s in ss], fmt)

            delivered = sum(s.received for s in mine), sum(s.expected for s in mine)
            rows.append([
                workload.name, name, col("predictions_per_s", ".0f"),
                f"{delivered[0]}/{delivered[1]}", col("p50_ms", ".1f"), col("p99_ms", ".1f"),
                col("server_cpu_ms", ".2f"), col("model_ms", ".2f"),
                col("server_over_model", ".1f"), col("batch", ".1f"),
                col("client_cpu_ms", ".2f"), col("sent_kb", ".1f"), col("received_kb", ".2f"),
                str(sum(s["errors"] for s in summaries)), col("lag_p99_ms", ".0f"),
                col("load_1min", ".1f"),
            ])  # fmt: skip
    headers = [
        "workload", "server", "predictions/s", "delivered", "p50 (ms)", "p99 (ms)",
        "server CPU ms/pred", "model CPU ms/pred", "server / model", "mean batch",
        "client CPU ms/pred", "KB sent/pred", "KB recv/pred", "errors", "send lag p99 (ms)",
        "load (1 min)",
    ]  # fmt: skip
    return markdown_table(headers, rows)


def ratio_table(spans: Sequence[Span], workloads: Sequence[Workload]) -> str:
    """Peer / RALIS within each repeat (same minutes, same load), then median and range."""
    rows = []
    for workload in workloads:
        for name in SERVERS[1:]:
            cpu, p50, p99, rate = [], [], [], []
            for ours in (s for s in spans if s.workload == workload.name and s.server == "RALIS"):
                theirs = next(
                    (s for s in spans if s.workload == workload.name and s.server == name
                     and s.repeat == ours.repeat), None,
                )  # fmt: skip
                if theirs is None:
                    continue
                a, b = ours.summary(), theirs.summary()
                if a["server_cpu_ms"] and b["server_cpu_ms"]:
                    cpu.append(b["server_cpu_ms"] / a["server_cpu_ms"])
                if a["p50_ms"] and b["p50_ms"]:
                    p50.append(b["p50_ms"] / a["p50_ms"])
                    p99.append(b["p99_ms"] / a["p99_ms"])
                if a["predictions_per_s"]:
                    rate.append(b["predictions_per_s"] / a["predictions_per_s"])
            if cpu or p50:
                rows.append([workload.name, name, _spread(cpu, ".2f"), _spread(p50, ".2f"),
                             _spread(p99, ".2f"), _spread(rate, ".2f")])  # fmt: skip
    headers = [
        "workload", "peer", "server CPU/pred, peer / RALIS", "p50, peer / RALIS",
        "p99, peer / RALIS", "predictions/s, peer / RALIS",
    ]  # fmt: skip
    return markdown_table(headers, rows)


def plot(summaries: Sequence[dict[str, Any]], workload_names: Sequence[str]) -> Figure:
    """Server CPU and p99 per workload and server (medians over repeats) from span summaries
    (`Span.summary()` with `workload` and `server`, as saved in the JSON)."""
    figure = Figure(figsize=(12, 4.5))
    cpu, latency = figure.subplots(1, 2)
    width = 0.8 / len(SERVERS)
    for k, name in enumerate(SERVERS):
        xs, cpus, p99s = [], [], []
        for i, workload in enumerate(workload_names):
            mine = [s for s in summaries if s["workload"] == workload and s["server"] == name]
            if mine:
                xs.append(i + k * width)
                cpus.append(statistics.median(s["server_cpu_ms"] or 0 for s in mine))
                p99s.append(statistics.median(s["p99_ms"] for s in mine))
        cpu.bar(xs, cpus, width, label=name)
        latency.bar(xs, p99s, width, label=name)
    latency.set_yscale("log")  # an overloaded peer's seconds next to tens of milliseconds
    labels = [w.replace(", ", "\n") for w in workload_names]
    for axis, title in ((cpu, "server CPU ms per prediction"), (latency, "p99 latency (ms, log)")):
        axis.set_xticks([i + width for i in range(len(workload_names))], labels)
        axis.set_title(title)
        axis.legend(fontsize=8)
    return figure


def replot(json_path: Path) -> Path:
    """Redraw the figure of a saved run (`--replot peers.json`) next to its JSON."""
    payload = json.loads(json_path.read_text())
    spans = payload["spans"]
    names = list(dict.fromkeys(s["workload"] for s in spans))  # run order
    png_path = json_path.with_suffix(".png")
    plot(spans, names).savefig(png_path, dpi=120, bbox_inches="tight")
    return png_path


def git_commit() -> str:
    """HEAD, the last commit that changed the server's code, and uncommitted changes to it."""

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    server = git("log", "-1", "--format=%h", "--", "service", "ralis") or "unknown"
    dirty = git("status", "--porcelain", "--", "service", "ralis")
    return f"{head} (service/ and ralis/ as of {server}" + (
        ", with uncommitted changes)" if dirty else ", clean)"
    )


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat, small levels (~2 min)")
    parser.add_argument("--setup-only", action="store_true", help="build the peers' venv, stop")
    parser.add_argument("--venv", type=Path, default=PEERS_VENV)
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE_DIR)
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "int8"],
        default="auto",
        help="encoder files every server uses (auto: int8 where the bundle has them, on CPU)",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="DSADS zip or folder")
    parser.add_argument("--subjects", type=int, nargs="+", default=list(TEST_SUBJECTS))
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=list(SERVERS))
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--concurrency", type=int, nargs="+", default=None)
    parser.add_argument("--devices", type=int, nargs="+", default=None)
    parser.add_argument("--http-warmup", type=float, default=None)
    parser.add_argument("--http-duration", type=float, default=None)
    parser.add_argument("--warmup", type=float, default=None, help="device warm-up (s, >= 4)")
    parser.add_argument("--duration", type=float, default=None, help="device measured span (s)")
    parser.add_argument(
        "--batch-wait-ms",
        type=float,
        default=Settings.model_fields["max_batch_wait_ms"].default,
        help="RALIS's max_batch_wait_ms and LitServe's batch_timeout (default: RALIS's default)",
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--replot", type=Path, default=None, metavar="JSON",
                        help="redraw a saved run's figure from its peers.json")  # fmt: skip
    args = parser.parse_args(argv)
    defaults: dict[str, Any] = {
        "repeats": 1 if args.quick else 3,
        "concurrency": [16] if args.quick else [16, 64],
        "devices": [20] if args.quick else [200],
        "http_warmup": 1.0 if args.quick else 3.0,
        "http_duration": 3.0 if args.quick else 12.0,
        "warmup": 6.0 if args.quick else 8.0,
        "duration": 4.0 if args.quick else 20.0,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.threads = Settings.model_fields["intra_op_threads"].default
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.replot is not None:
        print(f"wrote {replot(args.replot)}", file=sys.stderr)
        return 0
    try:
        versions = ensure_venv(args.venv)
    except PeersUnavailable as exc:
        print(f"peers unavailable: {exc}", file=sys.stderr)
        return 2
    print("peers' venv " + ", ".join(f"{k} {v}" for k, v in versions.items()), file=sys.stderr)
    if args.setup_only:
        return 0
    commit = git_commit()
    load_before = load_average()
    started = time.monotonic()
    manifest = load_manifest(args.bundle, verify=False)
    info = {
        "views": [
            {"name": v.name, "modality": v.modality, "channels": v.channels,
             "sampling_rate_hz": v.sampling_rate_hz, "window_samples": v.window_samples}
            for v in manifest.views
        ]
    }  # fmt: skip
    views = model_views(info)
    window_samples = manifest.views[0].window_samples
    seconds = args.warmup + args.duration + 10.0
    recordings = load_recordings(args.data, max(args.devices), args.subjects, seconds)
    book = MessageBook(recordings, views)
    rows = book.chunks_per_recording * book.chunk_rows
    windows = []
    for i in range(64):  # the HTTP workload's windows: real, all five sensors
        recording, k = i % len(book.recordings), i // len(book.recordings)
        end = window_samples + (k * window_samples) % (rows - window_samples)
        windows.append(book.window(recording, end, window_samples))
    workloads = [Workload(f"HTTP windows, c={c}", "windows", c) for c in args.concurrency]
    for d in args.devices:
        workloads += [
            Workload(f"{d} devices, 0.2 s frames", "devices", d),
            Workload(f"{d} devices, frame per hop", "devices", d, frame_per_hop=True),
        ]

    spans: list[Span] = []
    with tempfile.TemporaryDirectory(prefix="ralis-peers-") as tmp:
        work = Path(tmp)
        for repeat in range(args.repeats):
            print(f"repeat {repeat + 1}/{args.repeats}", file=sys.stderr)
            ours: list[Span] = []
            for name in args.servers:
                ours += run_round(name, repeat, workloads, args, args.bundle, book, windows, work)
            # Raw model cost in the same minutes as this repeat's rounds, same threads.
            # CPU time (process_time), like the servers' figures: the busy machine's waits for a
            # core would inflate wall time. One intra-op thread runs on the calling thread.
            timer = ModelTimer(
                args.bundle,
                args.threads,
                min_seconds=0.3,
                clock=time.process_time,
                precision=args.precision,
            )
            add_model_cost(ours, timer)
            spans += ours
    load_after = load_average()
    commit_after = git_commit()
    if commit_after != commit:
        commit = f"{commit} at the start, {commit_after} at the end"

    wait_ms = args.batch_wait_ms
    title = "### RALIS against general-purpose model servers" + (" (quick)" if args.quick else "")
    header = (
        f"Commit {commit}; bundle {manifest.model_name} {manifest.model_version}; "
        f"{os.cpu_count()} CPUs; load average before {format_load(load_before)}, after "
        f"{format_load(load_after)}. Peers: "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f". Every server: one worker process, {args.threads} intra-op thread(s) per session, "
        f"batches of up to {MAX_BATCH} (RALIS {wait_ms:g} ms wait; LitServe batch_timeout "
        f"{wait_ms:g} ms, fast_queue; BentoML adaptive "
        f"batching). {args.repeats} repeat(s) of interleaved rounds "
        f"({', '.join(args.servers)}), a fresh server per round; HTTP: {args.http_warmup:g} s "
        f"warm-up + {args.http_duration:g} s measured; devices: {args.warmup:g} s + "
        f"{args.duration:g} s. Cells: median (min-max) over repeats; 'delivered' sums them."
    )
    lines = [title, "", header, "", results_table(spans, workloads), ""]
    if "RALIS" in args.servers and len(args.servers) > 1:
        lines += ["Ratios within each repeat (same minutes, same machine load):", ""]
        lines += [ratio_table(spans, workloads), ""]
    lines += [
        "server CPU: user+system of the server's whole process tree (/proc); model: CPU "
        "time of the bundle's sessions alone at that server's mean batch (bench.compute_bound, "
        "same threads), timed after each repeat; client CPU: this process (HTTP client or "
        "WebSocket streams, and the devices' encoding); bytes: HTTP requests and responses "
        "with their headers, WebSocket frames with their headers (TCP/IP excluded).",
    ]
    markdown = "\n".join(lines)
    print(markdown)
    payload = {
        "quick": args.quick,
        "commit": commit,
        "versions": versions,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "environment": {
            **environment(),
            "load_average_before": load_before,
            "load_average_after": load_after,
        },  # fmt: skip
        "spans": [
            {**{k: v for k, v in asdict(s).items() if k != "latencies_s"}, **s.summary()}
            for s in spans
        ],
        "elapsed_s": time.monotonic() - started,
    }
    name = "peers_quick" if args.quick else "peers"
    figure = plot(payload["spans"], [w.name for w in workloads])
    json_path, png_path = save_results(args.out_dir, name, payload, figure, markdown)
    print(f"\nwrote {json_path} and {png_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
