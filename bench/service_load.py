"""The service under load: real server, real sockets, real DSADS recordings at real-time pace.

Each level starts `ralis serve` (uvicorn, one worker, production settings) in its own process
on a free loopback port and drives it from this process with S WebSocket streams, each five
sensors at 25 Hz in 0.2 s chunks replaying DSADS test subjects 6-8 in real time, as
`ralis replay` does: `json` sends one samples message per sensor and chunk, `binary` one
binary frame per chunk time holding the five sensors (`ralis/frames.py`). Then an HTTP
run: C workers POSTing real 5-sensor windows to `/v1/predict` back to back. A saturation
run (streams with a 0.2 s hop) offers more predictions than the CPU can make.

In the same run, the raw compute bound: the bundle's encoders and head called directly with
onnxruntime, same threads, at the batch sizes the server used (from its histograms); the
service's best throughput is reported as a fraction of it.

Run: `python -m bench.service_load [--quick] [--bundle DIR | --tiny-bundle]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from bench.compute_bound import ModelTimer
from bench.http_load import HttpResult, run_http
from bench.machine import environment, load_average
from bench.report import RESULTS_DIR, format_load, markdown_table, save_results
from bench.serverproc import (
    ProcessSample,
    ServerProcess,
    cpu_percent,
    metric_delta,
    resolve_bundle,
    scrape,
)
from bench.stream_load import (
    DEFAULT_DATA,
    TEST_SUBJECTS,
    FrameFormat,
    LoadPlan,
    LoadResult,
    MessageBook,
    first_window_end,
    load_recordings,
    model_views,
    run_streams,
)
from service.settings import Settings

MIB = 1024 * 1024
LATENCY_TARGET_S = 0.1
LATENCY_TARGET_STREAMS = 200
FRACTION_TARGET = 0.7
CLIENT_LAG_WARN_S = 0.05  # a client this late in sending was short of CPU itself


@dataclass
class ServerUse:
    """What the server used during a measured span (summed over its processes: the supervisor
    and workers with `--workers`), and its counters' deltas."""

    cpu_percent: float
    rss_mib: float  # at the end of the span
    max_rss_mib: float  # highest sampled during the run
    peak_rss_mib: float  # VmHWM: high-water mark since the server started
    predictions: float  # ralis_predictions_total
    errors: float  # ralis_errors_total
    head_batch: float  # mean rows per head run
    encoder_batch: dict[str, float]  # mean windows per encoder run
    windows_per_prediction: dict[str, float]
    loop_cpu_percent: float = 0.0  # the main threads' (event loops') share of cpu_percent


@dataclass
class Record:
    """One measured level (streams or HTTP) as it goes into the JSON and the tables."""

    kind: str  # "stream" or "http"
    label: str  # "json", "json-chunks", "binary", "/v1/predict", "/v1/predict/batch"
    level: int  # streams or concurrency
    measure_s: float
    hop_s: float
    connected: int
    refused: dict[str, int]
    expected: int
    received: int
    dropped: int
    client_errors: dict[str, int]
    latency_ms: dict[str, float]
    predictions_per_s: float  # what the client got back
    server_predictions_per_s: float  # ralis_predictions_total over the span
    client_cpu_percent: float
    client_lag_p99_ms: float | None
    messages_per_s: float
    server: ServerUse
    workers: int  # `ralis serve --workers`
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def server_cpu_ms_per_prediction(self) -> float | None:
        """Server CPU time per prediction made: insensitive to how busy the machine is."""
        if self.server_predictions_per_s <= 0:
            return None
        return 10.0 * self.server.cpu_percent / self.server_predictions_per_s

    @property
    def loop_cpu_ms_per_prediction(self) -> float | None:
        """The event loops' CPU time per prediction: the server's work outside the model
        thread (frames, parsing, windows, responses)."""
        if self.server_predictions_per_s <= 0:
            return None
        return 10.0 * self.server.loop_cpu_percent / self.server_predictions_per_s

    @property
    def server_over_model(self) -> float | None:
        """Server CPU per prediction / the raw model's cost at the batch sizes this run formed."""
        model_ms = self.extra.get("model_ms_per_prediction")
        server_ms = self.server_cpu_ms_per_prediction
        return server_ms / model_ms if server_ms and model_ms else None

    @property
    def error_count(self) -> int:
        return sum(self.client_errors.values()) + sum(self.refused.values())


# ----------------------------------------------------------------------------- helpers


def metric_sum(values: dict[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    total = 0.0
    for key, value in values.items():
        if key.startswith(name + "{") and all(w in key for w in wanted):
            total += value
    return total


def server_use(
    before: ProcessSample,
    after: ProcessSample,
    max_rss: int,
    delta: dict[str, float],
    views: Sequence[str],
) -> ServerUse:
    head_rows = metric_sum(delta, "ralis_head_batch_size_sum")
    head_runs = metric_sum(delta, "ralis_head_batch_size_count")
    encoder_batch: dict[str, float] = {}
    per_prediction: dict[str, float] = {}
    for view in views:
        windows = metric_sum(delta, "ralis_encoder_batch_size_sum", view=view)
        runs = metric_sum(delta, "ralis_encoder_batch_size_count", view=view)
        if runs:
            encoder_batch[view] = windows / runs
            per_prediction[view] = windows / head_rows if head_rows else 0.0
    return ServerUse(
        cpu_percent=cpu_percent(before, after),
        rss_mib=after.rss_bytes / MIB,
        max_rss_mib=max(max_rss, after.rss_bytes) / MIB,
        peak_rss_mib=after.peak_rss_bytes / MIB,
        predictions=metric_sum(delta, "ralis_predictions_total"),
        errors=metric_sum(delta, "ralis_errors_total"),
        head_batch=head_rows / head_runs if head_runs else 0.0,
        encoder_batch=encoder_batch,
        windows_per_prediction=per_prediction,
        loop_cpu_percent=cpu_percent(before, after, main_thread=True),
    )


def percentiles_ms(seconds: npt.NDArray[np.float64]) -> dict[str, float]:
    if seconds.size == 0:
        return {}
    p50, p95, p99 = np.percentile(seconds, [50, 95, 99])
    return {
        "p50": 1000 * float(p50),
        "p95": 1000 * float(p95),
        "p99": 1000 * float(p99),
        "max": 1000 * float(seconds.max()),
        "count": float(seconds.size),
    }


class SpanProbe:
    """Server and client samples at the start and end of a measured span (scrapes in a thread)."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self._pool = ThreadPoolExecutor(1)
        self.process: dict[str, ProcessSample] = {}
        self.client: dict[str, float] = {}
        self.scrapes: dict[str, Future[dict[str, float]]] = {}
        self.max_rss = 0

    def mark(self, name: str) -> None:
        self.process[name] = self.server.sample()
        times = os.times()
        self.client[name] = times.user + times.system
        self.client[name + "_wall"] = time.monotonic()
        self.scrapes[name] = self._pool.submit(scrape, self.server.base_url)

    def sample_rss(self, _elapsed: float = 0.0) -> None:
        self.max_rss = max(self.max_rss, self.server.sample().rss_bytes)

    def client_cpu_percent(self) -> float:
        wall = self.client["end_wall"] - self.client["start_wall"]
        return 100.0 * (self.client["end"] - self.client["start"]) / wall

    def use(self, views: Sequence[str]) -> ServerUse:
        delta = metric_delta(self.scrapes["start"].result(), self.scrapes["end"].result())
        self._pool.shutdown()
        return server_use(self.process["start"], self.process["end"], self.max_rss, delta, views)


def server_env(args: argparse.Namespace) -> dict[str, str]:
    # Every stream comes from this machine's loopback address: no per-address cap.
    env = {"RALIS_MAX_STREAMS": str(args.max_streams), "RALIS_MAX_STREAMS_PER_CLIENT": "0"}
    if args.intra_op_threads is not None:
        env["RALIS_INTRA_OP_THREADS"] = str(args.intra_op_threads)
    # Always explicit, so that a RALIS_MODEL_THREADS inherited from the shell cannot make the
    # server differ from what the report says.
    env["RALIS_MODEL_THREADS"] = str(model_threads_of(args))
    if args.gil_switch_interval_ms is not None:
        env["RALIS_GIL_SWITCH_INTERVAL_MS"] = str(args.gil_switch_interval_ms)
    env["RALIS_MAX_BATCH_WAIT_MS"] = str(batch_wait_ms_of(args))
    env["RALIS_PRECISION"] = args.precision
    return env


def setting_of(args: argparse.Namespace, name: str) -> Any:
    """The server setting `name` as this run sets it: its flag, else the service's default."""
    value = getattr(args, name)
    return Settings.model_fields[name].default if value is None else value


def model_threads_of(args: argparse.Namespace) -> int:
    return int(setting_of(args, "model_threads"))


def batch_wait_ms_of(args: argparse.Namespace) -> float:
    return float(setting_of(args, "max_batch_wait_ms"))


def parallel_batches(workers: int, model_threads: int, intra_op_threads: int) -> int:
    """How many batches can compute at once, one core each: every worker's model threads,
    capped by the cores this process may use, each batch using its session's intra-op pool
    (whose cost the raw-model timer already includes)."""
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    per_batch = intra_op_threads or cores  # 0: onnxruntime's choice, a thread per core
    return max(1, min(workers * model_threads, cores // per_batch))


def model_info(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/v1/model", timeout=10) as response:
        info: dict[str, Any] = json.load(response)
    return info


# ----------------------------------------------------------------------------- runs


def stream_level(
    args: argparse.Namespace,
    bundle: Path,
    book: MessageBook,
    info: dict[str, Any],
    streams: int,
    frame_format: FrameFormat,
    hop_s: float = 1.0,
) -> Record:
    """One fresh server, `streams` streams for warm-up + measured span."""
    min_fraction = Settings.model_fields["min_window_fraction"].default
    plan = LoadPlan(
        first_t_end=first_window_end(info, hop_s, min_fraction),
        streams=streams,
        warmup_s=args.warmup,
        measure_s=args.duration,
        hop_s=hop_s,
        frame_format=frame_format,
        grace_s=args.grace,
        phase_spread_s=args.phase_spread,
    )
    with ServerProcess(bundle, server_env(args), workers=args.workers) as server:
        probe = SpanProbe(server)
        result: LoadResult = run_streams(
            server.ws_url,
            book,
            plan,
            on_measure_start=lambda: probe.mark("start"),
            on_measure_end=lambda: probe.mark("end"),
            sampler=probe.sample_rss,
            sample_every_s=1.0,
        )
        use = probe.use([v.name for v in book.views])
        alive = server.alive()
    lags = result.lags_s
    errors = dict(result.errors)
    closes = [s.close_code for s in result.stats if s.close_code not in (None, 1000)]
    for code in closes:
        errors[f"closed {code}"] = errors.get(f"closed {code}", 0) + 1
    if not alive:
        errors["server died"] = 1
    return Record(
        kind="stream",
        label=frame_format,
        level=streams,
        measure_s=args.duration,
        hop_s=hop_s,
        connected=result.connected,
        refused=dict(result.refused),
        expected=result.expected,
        received=result.received,
        dropped=result.dropped,
        client_errors=errors,
        latency_ms=percentiles_ms(result.latencies_s),
        predictions_per_s=result.predictions_per_s,
        server_predictions_per_s=use.predictions / args.duration,
        client_cpu_percent=probe.client_cpu_percent(),
        client_lag_p99_ms=1000 * float(np.percentile(lags, 99)) if lags.size else None,
        messages_per_s=result.messages_sent / (args.warmup + args.duration),
        server=use,
        workers=server.workers,
    )


def http_bodies(
    book: MessageBook, window_samples: int, count: int, per_request: int
) -> list[bytes]:
    """`count` request bodies of real 5-sensor windows (a batch of `per_request` if > 1)."""
    rows = book.chunks_per_recording * book.chunk_rows
    windows = []
    for i in range(count * per_request):
        recording, k = i % len(book.recordings), i // len(book.recordings)
        end = window_samples + (k * window_samples) % (rows - window_samples)
        windows.append({"sensors": book.window(recording, end, window_samples)})
    if per_request == 1:
        return [json.dumps(w).encode() for w in windows]
    return [
        json.dumps({"windows": windows[i : i + per_request]}).encode()
        for i in range(0, len(windows), per_request)
    ]


def http_level(
    args: argparse.Namespace,
    server: ServerProcess,
    bodies: Sequence[bytes],
    concurrency: int,
    path: str,
    per_request: int,
    views: Sequence[str],
) -> Record:
    probe = SpanProbe(server)
    warmup = args.http_warmup

    # run_http measures its own span; mark the server around the same span from timers.
    start_timer = threading.Timer(warmup, probe.mark, ("start",))
    end_timer = threading.Timer(warmup + args.http_duration, probe.mark, ("end",))
    start_timer.start()
    end_timer.start()
    result: HttpResult = run_http(
        server.base_url + path, bodies, concurrency, warmup, args.http_duration, per_request
    )
    end_timer.join()
    use = probe.use(views)
    errors = {k: v for k, v in result.statuses.items() if k != "200"}
    return Record(
        kind="http",
        label=path,
        level=concurrency,
        measure_s=args.http_duration,
        hop_s=0.0,
        connected=concurrency,
        refused={},
        expected=sum(result.statuses.values()) * per_request,
        received=result.ok * per_request,
        dropped=0,
        client_errors=errors,
        latency_ms=percentiles_ms(result.latency_array),
        predictions_per_s=result.predictions_per_s,
        server_predictions_per_s=use.predictions / args.http_duration,
        client_cpu_percent=probe.client_cpu_percent(),
        client_lag_p99_ms=None,
        messages_per_s=sum(result.statuses.values()) / args.http_duration,
        server=use,
        workers=server.workers,
        extra={"requests_per_s": sum(result.statuses.values()) / args.http_duration},
    )


# ----------------------------------------------------------------------------- report


def _cpu_ms(record: Record) -> list[str]:
    """Server CPU per prediction, and the event loop's part of it."""
    return [
        "-" if value is None else f"{value:.2f}"
        for value in (record.server_cpu_ms_per_prediction, record.loop_cpu_ms_per_prediction)
    ]


def _model_cells(record: Record) -> list[str]:
    """The raw model's ms per prediction at this run's batch sizes, and the server's ratio."""
    model_ms = record.extra.get("model_ms_per_prediction")
    ratio = record.server_over_model
    return [
        "-" if model_ms is None else f"{model_ms:.2f}",
        "-" if ratio is None else f"{ratio:.1f}x",
    ]


def _ms(latency: dict[str, float], key: str) -> str:
    return f"{latency[key]:.1f}" if key in latency else "-"


def stream_table(records: Sequence[Record]) -> str:
    rows = []
    for r in records:
        refused = sum(r.refused.values())
        rows.append(
            [
                r.label,
                r.level,
                r.workers,
                f"{r.hop_s:g}",
                f"{r.connected}" + (f" ({refused} refused)" if refused else ""),
                f"{r.messages_per_s:,.0f}",
                f"{r.predictions_per_s:.1f}",
                f"{r.server_predictions_per_s:.1f}",
                f"{r.received}/{r.expected}",
                r.dropped,
                sum(r.client_errors.values()),
                _ms(r.latency_ms, "p50"),
                _ms(r.latency_ms, "p95"),
                _ms(r.latency_ms, "p99"),
                _ms(r.latency_ms, "max"),
                f"{r.server.cpu_percent:.0f}",
                *_cpu_ms(r),
                *_model_cells(r),
                f"{r.server.max_rss_mib:.0f}",
                f"{r.server.head_batch:.1f}",
                f"{r.client_cpu_percent:.0f}",
                "-" if r.client_lag_p99_ms is None else f"{r.client_lag_p99_ms:.1f}",
            ]
        )
    headers = [
        "frames", "streams", "workers", "hop (s)", "connected", "messages/s", "predictions/s",
        "server pred/s", "received/expected", "dropped", "errors", "p50 (ms)", "p95 (ms)",
        "p99 (ms)", "max (ms)", "server CPU %", "server CPU ms/pred", "event loop ms/pred",
        "model ms/pred",
        "server / model", "server RSS (MiB)", "mean batch", "client CPU %",
        "client lag p99 (ms)",
    ]  # fmt: skip
    return markdown_table(headers, rows)


def http_table(records: Sequence[Record]) -> str:
    rows = [
        [
            r.label,
            r.level,
            r.workers,
            f"{r.extra['requests_per_s']:.0f}",
            f"{r.predictions_per_s:.0f}",
            f"{r.server_predictions_per_s:.0f}",
            sum(r.client_errors.values()),
            _ms(r.latency_ms, "p50"),
            _ms(r.latency_ms, "p95"),
            _ms(r.latency_ms, "p99"),
            f"{r.server.cpu_percent:.0f}",
            *_cpu_ms(r),
            *_model_cells(r),
            f"{r.server.max_rss_mib:.0f}",
            f"{r.server.head_batch:.1f}",
            f"{r.client_cpu_percent:.0f}",
        ]
        for r in records
    ]
    headers = [
        "endpoint", "concurrency", "workers", "requests/s", "predictions/s", "server pred/s",
        "errors", "p50 (ms)", "p95 (ms)", "p99 (ms)", "server CPU %", "server CPU ms/pred",
        "event loop ms/pred", "model ms/pred", "server / model", "server RSS (MiB)",
        "mean batch", "client CPU %",
    ]  # fmt: skip
    return markdown_table(headers, rows)


def _describe(r: Record) -> str:
    what = (
        f"{r.level} streams, {r.label} frames, hop {r.hop_s:g} s"
        if r.kind == "stream"
        else (f"{r.label}, concurrency {r.level}")
    )
    return what


def plot(streams: Sequence[Record], http: Sequence[Record]) -> Figure:
    figure = Figure(figsize=(13, 4))
    latency, cpu, web = figure.subplots(1, 3)
    for index, label in enumerate(sorted({r.label for r in streams if r.hop_s == 1.0})):
        rs = [r for r in streams if r.label == label and r.hop_s == 1.0 and r.latency_ms]
        levels, color = [r.level for r in rs], f"C{index}"
        for key, style in (("p50", ":"), ("p95", "--"), ("p99", "-")):
            latency.plot(levels, [r.latency_ms[key] for r in rs], style, marker="o",
                         color=color, label=f"{label} {key}")  # fmt: skip
        cpu.plot(levels, [r.server.cpu_percent for r in rs], marker="o", color=color,
                 label=f"{label} server")  # fmt: skip
        cpu.plot(levels, [r.client_cpu_percent for r in rs], "--", marker="x", color=color,
                 label=f"{label} client")  # fmt: skip
    latency.axhline(1000 * LATENCY_TARGET_S, color="grey", lw=0.8)
    latency.set(xscale="log", yscale="log", xlabel="streams", ylabel="latency (ms)",
                title="stream latency (completing chunk -> prediction)")  # fmt: skip
    latency.legend(fontsize=7)
    cpu.set(xscale="log", xlabel="streams", ylabel="CPU % (of one core)", title="CPU use")
    cpu.legend(fontsize=7)
    for label in sorted({r.label for r in http}):
        rs = [r for r in http if r.label == label]
        web.plot([r.level for r in rs], [r.predictions_per_s for r in rs], marker="o",
                 label=f"{label} predictions/s")  # fmt: skip
    web.set(xscale="log", xlabel="concurrency", ylabel="predictions/s", title="HTTP")
    web.legend(fontsize=7)
    return figure


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small levels, short spans (~1 min)")
    parser.add_argument("--bundle", type=Path, default=None, help="model bundle to serve")
    parser.add_argument(
        "--tiny-bundle", action="store_true", help="serve the tiny random test bundle instead"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="DSADS zip or folder")
    parser.add_argument("--subjects", type=int, nargs="+", default=list(TEST_SUBJECTS))
    parser.add_argument("--streams", type=int, nargs="+", default=None)
    parser.add_argument(
        "--formats", nargs="+", choices=["json", "json-chunks", "binary"], default=None
    )
    parser.add_argument("--warmup", type=float, default=None, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=None, help="measured seconds per level")
    parser.add_argument("--grace", type=float, default=5.0, help="wait for late predictions (s)")
    parser.add_argument(
        "--saturation-streams", type=int, default=None,
        help="streams of the saturation run (0: skip it)",
    )  # fmt: skip
    parser.add_argument("--saturation-hop", type=float, default=0.2)
    parser.add_argument(
        "--phase-spread", type=float, default=None,
        help="streams start at random phases within this many seconds (default: one hop); "
        "0.2 = synchronised streams whose hops complete within 0.2 s",
    )  # fmt: skip
    parser.add_argument("--http-concurrency", type=int, nargs="+", default=None)
    parser.add_argument("--http-batch-windows", type=int, default=16,
                        help="windows per /v1/predict/batch request (0: skip)")  # fmt: skip
    parser.add_argument("--http-warmup", type=float, default=None)
    parser.add_argument("--http-duration", type=float, default=None)
    parser.add_argument("--max-streams", type=int, default=600, help="RALIS_MAX_STREAMS")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes (RALIS_WORKERS)")  # fmt: skip
    parser.add_argument("--intra-op-threads", type=int, default=None,
                        help="RALIS_INTRA_OP_THREADS (default: the service's)")  # fmt: skip
    parser.add_argument("--model-threads", type=int, default=None,
                        help="RALIS_MODEL_THREADS (default: the service's)")  # fmt: skip
    parser.add_argument(
        "--gil-switch-interval-ms", type=float, default=None,
        help="RALIS_GIL_SWITCH_INTERVAL_MS (default: the service's)",
    )  # fmt: skip
    parser.add_argument("--precision", choices=["auto", "fp32", "int8"], default="auto",
                        help="RALIS_PRECISION (the raw model cost uses the same)")  # fmt: skip
    parser.add_argument("--max-batch-wait-ms", type=float, default=None,
                        help="RALIS_MAX_BATCH_WAIT_MS (default: the service's)")  # fmt: skip
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    quick = args.quick
    defaults: dict[str, Any] = {
        "streams": [1, 10] if quick else [1, 10, 50, 100, 200, 500],
        "formats": ["json", "binary"],
        "warmup": 4.0 if quick else 10.0,
        "duration": 5.0 if quick else 30.0,
        "saturation_streams": 20 if quick else 200,
        "http_concurrency": [1, 4] if quick else [1, 4, 16, 64],
        "http_warmup": 1.0 if quick else 3.0,
        "http_duration": 3.0 if quick else 15.0,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    threads = setting_of(args, "intra_op_threads")
    model_threads = model_threads_of(args)
    switch_ms = setting_of(args, "gil_switch_interval_ms")
    load_before = load_average()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ralis-bench-") as work:
        bundle = resolve_bundle(args.bundle, args.tiny_bundle, Path(work))
        with ServerProcess(bundle, server_env(args), workers=args.workers) as server:
            info = model_info(server.base_url)
        views = model_views(info)
        view_names = [v.name for v in views]
        window_samples = info["views"][0]["window_samples"]
        needed = max([*args.streams, args.saturation_streams, 1])
        seconds = args.warmup + args.duration + args.grace + 5.0
        book = MessageBook(load_recordings(args.data, needed, args.subjects, seconds), views)

        streams: list[Record] = []
        for frame_format in args.formats:
            for level in args.streams:
                record = stream_level(args, bundle, book, info, level, frame_format)
                streams.append(record)
                print(stream_table([record]).splitlines()[-1], file=sys.stderr)
        if args.saturation_streams:
            record = stream_level(
                args, bundle, book, info, args.saturation_streams, "binary", args.saturation_hop
            )
            streams.append(record)
            print(stream_table([record]).splitlines()[-1], file=sys.stderr)

        http: list[Record] = []
        with ServerProcess(bundle, server_env(args), workers=args.workers) as server:
            bodies = http_bodies(book, window_samples, 64, 1)
            for concurrency in args.http_concurrency:
                record = http_level(args, server, bodies, concurrency, "/v1/predict", 1, view_names)
                http.append(record)
                print(http_table([record]).splitlines()[-1], file=sys.stderr)
            if args.http_batch_windows:
                batch_bodies = http_bodies(book, window_samples, 8, args.http_batch_windows)
                concurrency = max(args.http_concurrency)
                record = http_level(
                    args, server, batch_bodies, min(concurrency, 4), "/v1/predict/batch",
                    args.http_batch_windows, view_names,
                )  # fmt: skip
                http.append(record)

        # The raw compute bound at the batch sizes of the run that made the most predictions/s.
        best = max([*streams, *http], key=lambda r: r.server_predictions_per_s)
        timer = ModelTimer(
            bundle, threads, min_seconds=0.2 if args.quick else 1.0, precision=args.precision
        )
        bound = timer.bound(
            best.server.encoder_batch, best.server.head_batch, best.server.windows_per_prediction
        )
        # Each run's own model cost, at the batch sizes that run formed: the denominator of
        # "server CPU per prediction <= 2x the model".
        for record in [*streams, *http]:
            if record.server.head_batch > 0:
                own = timer.bound(
                    record.server.encoder_batch,
                    record.server.head_batch,
                    record.server.windows_per_prediction,
                )
                record.extra["model_ms_per_prediction"] = 1e3 * own.seconds_per_prediction
        # The bound at batch 1 too: what a lone prediction costs.
        single = timer.bound(
            dict.fromkeys(best.server.encoder_batch, 1.0), 1.0, best.server.windows_per_prediction
        )
    load_after = load_average()
    parallel = parallel_batches(args.workers, model_threads, threads)
    fraction = best.server_predictions_per_s / (parallel * bound.predictions_per_s)

    name = "service_load_quick" if args.quick else "service_load"
    if args.workers > 1:
        name += f"_workers{args.workers}"  # a 1 vs N comparison keeps both result files
    header = (
        f"Bundle {info['name']} {info['version']} ({len(views)} views, window "
        f"{info['window_seconds']:g} s, {info['precision']} encoders); server: `ralis serve`, "
        f"uvicorn, {args.workers} worker{'s' if args.workers > 1 else ''} (server CPU and RSS "
        f"summed over its processes), model threads {model_threads}, intra-op threads "
        f"{threads}, GIL switch interval {switch_ms:g} ms, batch wait up to "
        f"{batch_wait_ms_of(args):g} ms, "
        f"RALIS_MAX_STREAMS={args.max_streams} per worker, other settings default; client: "
        f"this process, one event loop. Streams start at random phases within "
        f"{'one hop' if args.phase_spread is None else f'{args.phase_spread:g} s'}; "
        f"{args.warmup:g} s warm-up + "
        f"{args.duration:g} s measured per level, a fresh server per level. Load average "
        f"before {format_load(load_before)}, after {format_load(load_after)}."
    )
    accepted = [r for r in streams if r.connected and not r.refused]
    clean = all(r.dropped == 0 and r.error_count == 0 for r in accepted if r.hop_s == 1.0)
    lines = [f"### Service under load{' (quick)' if args.quick else ''}", "", header, ""]
    lines += ["WebSocket streams (latency: completing chunk sent -> prediction received):", ""]
    lines += [stream_table(streams), "", "HTTP (closed loop, real 5-sensor windows):", ""]
    lines += [http_table(http), ""]
    encoder_us = ", ".join(f"{v} {1e6 * s:.0f}" for v, s in bound.encoder_s_per_window.items())
    lines += [
        "Raw compute bound (same sessions and threads, no server):",
        "",
        markdown_table(
            [
                "at batch",
                "encoders (us/window)",
                "head (us/row)",
                "us/prediction",
                "predictions/s",
            ],  # fmt: skip
            [
                [
                    f"{bound.head_batch:.1f} (the server's, {_describe(best)})",
                    encoder_us,
                    f"{1e6 * bound.head_s_per_row:.0f}",
                    f"{1e6 * bound.seconds_per_prediction:.0f}",
                    f"{bound.predictions_per_s:.0f}",
                ],  # fmt: skip
                [
                    "1",
                    ", ".join(f"{v} {1e6 * s:.0f}" for v, s in single.encoder_s_per_window.items()),
                    f"{1e6 * single.head_s_per_row:.0f}",
                    f"{1e6 * single.seconds_per_prediction:.0f}",
                    f"{single.predictions_per_s:.0f}",
                ],  # fmt: skip
            ],
        ),
        "",
    ]
    at_target = [
        r for r in streams if r.level == LATENCY_TARGET_STREAMS and r.hop_s == 1.0 and r.latency_ms
    ]
    lines.append(
        f"Target, no errors or dropped predictions at any accepted stream count (hop 1 s): "
        f"{'PASS' if clean else 'FAIL'}"
    )
    for r in at_target:
        ok = r.latency_ms["p99"] < 1000 * LATENCY_TARGET_S and r.dropped == 0
        lines.append(
            f"Target, p99 < {1000 * LATENCY_TARGET_S:.0f} ms at {LATENCY_TARGET_STREAMS} streams "
            f"({r.label}): {'PASS' if ok else 'FAIL'}, {r.latency_ms['p99']:.1f} ms"
        )
    lines.append(
        f"Target, throughput at saturation >= {FRACTION_TARGET:.0%} of the raw compute bound: "
        f"{'PASS' if fraction >= FRACTION_TARGET else 'FAIL'}, {fraction:.0%} "
        f"({best.server_predictions_per_s:.0f} of {parallel * bound.predictions_per_s:.0f} "
        f"predictions/s{f' = {parallel} model threads' if parallel > 1 else ''}; "
        f"{_describe(best)})"
    )
    cpu_ms = best.server_cpu_ms_per_prediction
    if cpu_ms:
        model_ms = 1e3 * bound.seconds_per_prediction
        lines.append(
            f"Model share of the server's CPU at saturation: {model_ms:.2f} of {cpu_ms:.2f} ms "
            f"per prediction = {model_ms / cpu_ms:.0%} (the rest: sockets, frames, windows, "
            "event loop)"
        )
    lagging = [r for r in streams if (r.client_lag_p99_ms or 0) > 1000 * CLIENT_LAG_WARN_S]
    if lagging:
        lines.append(
            "Client short of CPU (send lag p99 > 50 ms), offered load below nominal at: "
            + ", ".join(_describe(r) for r in lagging)
        )
    markdown = "\n".join(lines)
    print(markdown)

    payload = {
        "quick": args.quick,
        "bundle": {"path": str(bundle), "name": info["name"], "version": info["version"]},
        "settings": {
            "workers": args.workers,
            "phase_spread_s": args.phase_spread,
            "model_threads": model_threads,
            "intra_op_threads": threads,
            "gil_switch_interval_ms": switch_ms,
            "max_batch_wait_ms": batch_wait_ms_of(args),
            "max_streams": args.max_streams,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "http_warmup_s": args.http_warmup,
            "http_duration_s": args.http_duration,
        },
        "environment": {
            **environment(),
            "load_average_before": load_before,
            "load_average_after": load_after,
        },  # fmt: skip
        "streams": [asdict(r) for r in streams],
        "http": [asdict(r) for r in http],
        "compute_bound": {
            "at_server_batch": {**asdict(bound), "predictions_per_s": bound.predictions_per_s},
            "at_batch_1": {**asdict(single), "predictions_per_s": single.predictions_per_s},
            "best_run": _describe(best),
            "service_predictions_per_s": best.server_predictions_per_s,
            "parallel_model_threads": parallel,
            "fraction": fraction,
        },
        "targets": {"no_errors_or_drops": clean, "fraction": fraction},
        "server_cpu_ms_per_prediction": {
            _describe(r): r.server_cpu_ms_per_prediction for r in [*streams, *http]
        },
        "event_loop_cpu_ms_per_prediction": {
            _describe(r): r.loop_cpu_ms_per_prediction for r in [*streams, *http]
        },
        "elapsed_s": time.monotonic() - started,
    }
    json_path, png_path = save_results(args.out_dir, name, payload, plot(streams, http), markdown)
    print(f"\nwrote {json_path} and {png_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
