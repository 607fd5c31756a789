"""Soak: 100 streams for 10 minutes with sensors dropping in and out; does memory level off?

`ralis serve` runs in its own process; 100 replay-style streams send real DSADS test
recordings at real-time pace, each sensor switching off and on at random (off 30 % of the
time, ~2 s at a stretch, as `ralis replay --drop-rate`). The server's resident memory is
sampled every few seconds; the growth after the warm-up (the first 60 s) is reported, and
the slope over the last half of the run says whether it has levelled off.

Run: `python -m bench.soak [--quick] [--duration S] [--bundle DIR | --tiny-bundle]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bench.machine import environment, load_average
from bench.report import RESULTS_DIR, format_load, markdown_table, save_results
from bench.serverproc import ServerProcess, metric_delta, resolve_bundle, scrape
from bench.stream_load import (
    DEFAULT_DATA,
    TEST_SUBJECTS,
    LoadPlan,
    MessageBook,
    first_window_end,
    load_recordings,
    model_views,
    run_streams,
)

MIB = 1024 * 1024
# Levelled off: after the warm-up, RSS grows by at most this fraction, and over the last half
# of the run by at most this many MiB per minute.
MAX_GROWTH_FRACTION = 0.05
MAX_LATE_SLOPE_MIB_PER_MIN = 0.5


@dataclass(frozen=True)
class MemoryTrend:
    """RSS after the warm-up: where it started and ended, and how fast it still grew."""

    at_warmup_mib: float
    at_end_mib: float
    max_mib: float
    growth_mib: float
    growth_fraction: float
    late_slope_mib_per_min: float  # least squares over the last half of the run

    @property
    def levelled_off(self) -> bool:
        return (
            self.growth_fraction <= MAX_GROWTH_FRACTION
            and self.late_slope_mib_per_min <= MAX_LATE_SLOPE_MIB_PER_MIN
        )


def memory_trend(
    times_s: Sequence[float], rss_mib: Sequence[float], warmup_s: float
) -> MemoryTrend:
    """The trend of `rss_mib` sampled at `times_s`, ignoring samples before `warmup_s`.

    Raises:
        ValueError: fewer than two samples after the warm-up.
    """
    t = np.asarray(times_s, dtype=np.float64)
    rss = np.asarray(rss_mib, dtype=np.float64)
    after = t >= warmup_s
    if after.sum() < 2:
        raise ValueError(f"need two or more RSS samples after the {warmup_s:g} s warm-up")
    t, rss = t[after], rss[after]
    late = t >= t[0] + (t[-1] - t[0]) / 2
    if late.sum() >= 2 and np.ptp(t[late]) > 0:
        slope_per_s = float(np.polyfit(t[late], rss[late], 1)[0])
    else:
        slope_per_s = 0.0
    growth = float(rss[-1] - rss[0])
    return MemoryTrend(
        at_warmup_mib=float(rss[0]),
        at_end_mib=float(rss[-1]),
        max_mib=float(rss.max()),
        growth_mib=growth,
        growth_fraction=growth / float(rss[0]),
        late_slope_mib_per_min=60.0 * slope_per_s,
    )


def plot(times_s: Sequence[float], rss_mib: Sequence[float], warmup_s: float) -> Figure:
    figure = Figure(figsize=(7, 3.5))
    axes = figure.subplots()
    axes.plot(times_s, rss_mib, marker=".", lw=1)
    axes.axvline(warmup_s, color="grey", ls="--", lw=0.8, label="end of warm-up")
    axes.set(xlabel="seconds since the streams started", ylabel="server RSS (MiB)",
             title="Soak: server resident memory")  # fmt: skip
    axes.legend()
    return figure


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 s instead of 600 s")
    parser.add_argument("--duration", type=float, default=None, help="seconds (default 600)")
    parser.add_argument("--warmup", type=float, default=None, help="excluded seconds (60)")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--drop-rate", type=float, default=0.3, help="fraction of time off")
    parser.add_argument("--sample-every", type=float, default=None, help="RSS sampling (s)")
    parser.add_argument("--frames", choices=["json", "binary"], default="json")
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--tiny-bundle", action="store_true")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--subjects", type=int, nargs="+", default=list(TEST_SUBJECTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 30.0 if args.quick else 600.0
    if args.warmup is None:
        args.warmup = 10.0 if args.quick else 60.0
    if args.sample_every is None:
        args.sample_every = 1.0 if args.quick else 5.0
    if not 0 <= args.drop_rate < 1:
        parser.error(f"--drop-rate must be in [0, 1), got {args.drop_rate}")
    if args.duration <= args.warmup:
        parser.error("--duration must be longer than --warmup")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = load_average()
    times: list[float] = []
    rss: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ralis-soak-") as work:
        bundle = resolve_bundle(args.bundle, args.tiny_bundle, Path(work))
        # Every stream comes from the loopback address: no per-address cap.
        env = {
            "RALIS_MAX_STREAMS": str(max(256, args.streams)),
            "RALIS_MAX_STREAMS_PER_CLIENT": "0",
        }
        with ServerProcess(bundle, env) as server:
            with urllib.request.urlopen(f"{server.base_url}/v1/model", timeout=10) as response:
                info = json.load(response)
            recordings = load_recordings(args.data, args.streams, args.subjects, args.duration)
            book = MessageBook(recordings, model_views(info))
            before = scrape(server.base_url)
            start_sample = server.sample()

            def sample(elapsed: float) -> None:
                times.append(elapsed)
                rss.append(server.sample().rss_bytes / MIB)

            plan = LoadPlan(
                first_t_end=first_window_end(info, 1.0, 0.9),
                streams=args.streams,
                warmup_s=args.warmup,
                measure_s=args.duration - args.warmup,
                drop_rate=args.drop_rate,
                frame_format=args.frames,
                seed=args.seed,
            )
            started = time.monotonic()
            result = run_streams(
                server.ws_url, book, plan, sampler=sample, sample_every_s=args.sample_every
            )
            elapsed = time.monotonic() - started
            end_sample = server.sample()
            delta = metric_delta(before, scrape(server.base_url))
            with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=10) as response:
                healthy = response.status == 200
            exit_code = server.stop()
    load_after = load_average()

    trend = memory_trend(times, rss, args.warmup)
    predictions = sum(v for k, v in delta.items() if k.startswith("ralis_predictions_total{"))
    server_errors = sum(v for k, v in delta.items() if k.startswith("ralis_errors_total{"))
    latencies = result.latencies_s
    p50, p99 = (1000 * np.percentile(latencies, [50, 99])) if latencies.size else (0.0, 0.0)
    cpu = (
        100.0 * (end_sample.cpu_s - start_sample.cpu_s) / (end_sample.wall_s - start_sample.wall_s)
    )
    closes = [s.close_code for s in result.stats if s.close_code not in (None, 1000)]
    error_frames = sum(result.errors.values())
    ok = trend.levelled_off and not error_frames and not closes and healthy and not server_errors

    name = "soak_quick" if args.quick else "soak"
    header = (
        f"{args.streams} streams ({result.connected} connected), {args.frames} frames, each "
        f"sensor off {args.drop_rate:.0%} of the time; {args.duration:g} s, RSS sampled every "
        f"{args.sample_every:g} s, the first {args.warmup:g} s excluded; bundle {info['name']} "
        f"{info['version']}. Load average before {format_load(load_before)}, after "
        f"{format_load(load_after)}."
    )
    table = markdown_table(
        ["RSS at warm-up end (MiB)", "RSS at end (MiB)", "max (MiB)", "growth after warm-up",
         "slope, last half (MiB/min)", "predictions", "error frames", "abnormal closes",
         "server errors", "p50 / p99 latency (ms)", "server CPU %", "healthy after"],
        [[f"{trend.at_warmup_mib:.1f}", f"{trend.at_end_mib:.1f}", f"{trend.max_mib:.1f}",
          f"{trend.growth_mib:+.1f} MiB ({trend.growth_fraction:+.1%})",
          f"{trend.late_slope_mib_per_min:+.2f}", f"{predictions:.0f}", error_frames,
          len(closes), f"{server_errors:.0f}", f"{p50:.1f} / {p99:.1f}", f"{cpu:.0f}",
          "yes" if healthy else "NO"]],
    )  # fmt: skip
    verdict = (
        f"Target, memory levels off (growth after warm-up <= {MAX_GROWTH_FRACTION:.0%} and "
        f"last-half slope <= {MAX_LATE_SLOPE_MIB_PER_MIN:g} MiB/min), no errors, healthy after: "
        f"{'PASS' if ok else 'FAIL'}"
    )
    markdown = "\n".join(
        [f"### Soak{' (quick)' if args.quick else ''}", "", header, "", table, "", verdict]
    )
    print(markdown)
    payload = {
        "quick": args.quick,
        "settings": vars(args)
        | {
            "out_dir": str(args.out_dir),
            "data": str(args.data),
            "bundle": str(bundle),
        },  # fmt: skip
        "environment": {
            **environment(),
            "load_average_before": load_before,
            "load_average_after": load_after,
        },  # fmt: skip
        "samples": {"seconds": times, "rss_mib": rss},
        "trend": {**trend.__dict__, "levelled_off": trend.levelled_off},
        "predictions": predictions,
        "messages_sent": result.messages_sent,
        "error_frames": dict(result.errors),
        "abnormal_closes": closes,
        "server_errors": server_errors,
        "latency_ms": {"p50": float(p50), "p99": float(p99)},
        "server_cpu_percent": cpu,
        "healthy_after": healthy,
        "server_exit_code": exit_code,
        "elapsed_s": elapsed,
        "passed": ok,
    }
    json_path, png_path = save_results(
        args.out_dir, name, payload, plot(times, rss, args.warmup), markdown
    )
    print(f"\nwrote {json_path} and {png_path}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
