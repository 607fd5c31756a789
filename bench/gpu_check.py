"""GPU check: the CUDA provider's parity against CPU on real windows, then streams on CUDA.

1. Parity: the bundle's encoders and head on the committed real DSADS test windows
   (`tests/fixtures/dsads_windows/windows.npz`, 57 windows, 5 sensors) with onnxruntime's
   CUDA provider and with the CPU provider, over all 31 sensor subsets: largest probability
   and embedding differences, argmax agreement. Fails unless CUDA really ran.
2. Load: `ralis serve --execution-provider cuda` (fresh per level) under S = 1, 10, 100, 1000
   replayed DSADS streams (binary frames, 5 sensors, 0.2 s chunks, real time, hop 1 s).

Prints one Markdown table per part and writes `bench/results/gpu_check.json`. Needs only the
service install (`deploy/install.sh gpu`): no torch, no matplotlib. `bench/gpu_check.sh` is
the one command that installs the GPU profile and runs this; `--provider cpu` runs the same
steps on a machine without a GPU (a smoke test of the script, not a GPU result).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.model_thread import WholeModel
from bench.serverproc import REPO, ServerProcess, metric_delta, scrape
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
from bench.timing import time_call
from service.preprocess import normalise
from service.runtime import CUDA, ModelRuntime
from service.settings import DEFAULT_BUNDLE_DIR, Settings

WINDOWS = REPO / "tests" / "fixtures" / "dsads_windows" / "windows.npz"
SUBSET = REPO / "tests" / "fixtures" / "dsads_subset" / "dsads_subset.zip"
RESULTS = REPO / "bench" / "results"
# The service runs CUDA in full FP32 (service/runtime.py, CUDA_OPTIONS): only summation order
# differs from CPU.
PROBABILITY_TOLERANCE = 1e-3


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


# ----------------------------------------------------------------------------- parity


def parity(bundle: Path, provider: str, threads: int) -> dict[str, Any]:
    """The bundle on `provider` against CPU on the committed windows, all sensor subsets."""
    # Float encoders on both sides: this checks the provider, not the quantisation.
    reference = ModelRuntime.load(bundle, "cpu", threads, precision="fp32")
    tested = ModelRuntime.load(bundle, provider, threads, precision="fp32")  # type: ignore[arg-type]
    views = reference.manifest.views
    with np.load(WINDOWS) as data:
        windows = {
            v.name: np.stack([normalise(v, w.astype(np.float64)) for w in data[f"X_{v.name}"]])
            for v in views
        }  # (N, C, T) per view
    embeddings = {}
    embedding_diff = 0.0
    for view in views:
        ours = reference.encode(view.name, windows[view.name])
        theirs = tested.encode(view.name, windows[view.name])
        embedding_diff = max(embedding_diff, float(np.abs(ours - theirs).max()))
        embeddings[view.name] = (ours, theirs)
    stacked_cpu = np.stack([embeddings[v.name][0] for v in views], axis=1)  # (N, V, D)
    stacked_dev = np.stack([embeddings[v.name][1] for v in views], axis=1)
    n = stacked_cpu.shape[0]
    prob_diff, agree, total, subsets = 0.0, 0, 0, 0
    for size in range(1, len(views) + 1):
        for subset in itertools.combinations(range(len(views)), size):
            mask = np.zeros((n, len(views)), np.bool_)
            mask[:, subset] = True
            cpu = reference.head(stacked_cpu, mask).probabilities
            dev = tested.head(stacked_dev, mask).probabilities
            prob_diff = max(prob_diff, float(np.abs(cpu - dev).max()))
            agree += int((cpu.argmax(1) == dev.argmax(1)).sum())
            total += n
            subsets += 1
    return {
        "provider_requested": provider,
        "provider_used": tested.provider,
        "windows": n,
        "subsets": subsets,
        "max_probability_diff": prob_diff,
        "max_embedding_diff": embedding_diff,
        "argmax_agreement": agree / total,
    }


def model_cost(bundle: Path, provider: str, threads: int, batches: Sequence[int]) -> list[float]:
    """Wall ms per batch of the whole model (every encoder, then the head), median of repeats,
    inputs already in host memory: what the server's model thread pays per batch."""
    # Float encoders on every provider: this compares providers, not precisions.
    runtime = ModelRuntime.load(bundle, provider, threads, precision="fp32")  # type: ignore[arg-type]
    model = WholeModel(runtime, batches)
    costs = []
    for batch in batches:
        costs.append(1e3 * time_call(partial(model, batch), warmup=5, min_seconds=1.0).median)
    return costs


# ----------------------------------------------------------------------------- load


def metric_sum(values: dict[str, float], name: str) -> float:
    return sum(v for k, v in values.items() if k.startswith(name + "{"))


def load_level(
    bundle: Path, provider: str, book: MessageBook, info: dict[str, Any], streams: int,
    args: argparse.Namespace,
) -> dict[str, Any]:  # fmt: skip
    """One fresh server on `provider`, `streams` binary streams, warm-up + measured span."""
    min_fraction = Settings.model_fields["min_window_fraction"].default
    plan = LoadPlan(
        streams=streams, warmup_s=args.warmup, measure_s=args.duration, frame_format="binary",
        first_t_end=first_window_end(info, 1.0, min_fraction),
    )  # fmt: skip
    env = {"RALIS_MAX_STREAMS": str(max(streams + 64, 256)), "RALIS_MAX_STREAMS_PER_CLIENT": "0"}
    marks: dict[str, Any] = {}
    with ServerProcess(bundle, env, execution_provider=provider) as server:

        def mark(name: str) -> None:
            times = os.times()
            marks[name] = (server.sample(), times.user + times.system, time.monotonic(),
                           scrape(server.base_url))  # fmt: skip

        result = run_streams(server.ws_url, book, plan, lambda: mark("start"), lambda: mark("end"))
        alive = server.alive()
    (p0, c0, w0, m0), (p1, c1, w1, m1) = marks["start"], marks["end"]
    delta = metric_delta(m0, m1)
    predictions = metric_sum(delta, "ralis_predictions_total")
    head_rows = metric_sum(delta, "ralis_head_batch_size_sum")
    head_runs = metric_sum(delta, "ralis_head_batch_size_count")
    latencies = result.latencies_s
    p50, p99 = (1e3 * float(np.percentile(latencies, q)) for q in (50, 99)) if latencies.size else (
        float("nan"), float("nan"))  # fmt: skip
    lags = result.lags_s
    server_cpu = p1.cpu_s - p0.cpu_s
    return {
        "streams": streams,
        "connected": result.connected,
        "received": result.received,
        "expected": result.expected,
        "errors": sum(result.errors.values()) + sum(result.refused.values()) + (not alive),
        "predictions_per_s": result.predictions_per_s,
        "p50_ms": p50,
        "p99_ms": p99,
        "server_cpu_percent": 100 * server_cpu / (p1.wall_s - p0.wall_s),
        "server_cpu_ms_per_prediction": 1e3 * server_cpu / predictions if predictions else None,
        "mean_batch": head_rows / head_runs if head_runs else 0.0,
        "server_rss_mib": p1.rss_bytes / 2**20,
        "client_cpu_percent": 100 * (c1 - c0) / (w1 - w0),
        "client_lag_p99_ms": 1e3 * float(np.percentile(lags, 99)) if lags.size else None,
    }


def load_table(levels: Sequence[dict[str, Any]]) -> str:
    rows = [
        [lv["streams"], f"{lv['connected']}", f"{lv['predictions_per_s']:.1f}",
         f"{lv['received']}/{lv['expected']}", lv["errors"], f"{lv['p50_ms']:.1f}",
         f"{lv['p99_ms']:.1f}", f"{lv['server_cpu_percent']:.0f}",
         "-" if lv["server_cpu_ms_per_prediction"] is None
         else f"{lv['server_cpu_ms_per_prediction']:.2f}",
         f"{lv['mean_batch']:.1f}", f"{lv['server_rss_mib']:.0f}",
         f"{lv['client_cpu_percent']:.0f}",
         "-" if lv["client_lag_p99_ms"] is None else f"{lv['client_lag_p99_ms']:.1f}"]
        for lv in levels
    ]  # fmt: skip
    return table(
        ["streams", "connected", "predictions/s", "delivered", "errors", "p50 (ms)", "p99 (ms)",
         "server CPU %", "server CPU ms/pred", "mean batch", "server RSS (MiB)", "client CPU %",
         "client lag p99 (ms)"],
        rows,
    )  # fmt: skip


def gpu_name() -> str:
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        return done.stdout.strip().replace("\n", "; ") or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "none (nvidia-smi not found)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE_DIR)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--warmup", type=float, default=6.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument(
        "--data", type=Path, default=None,
        help="DSADS zip (default: the full one if present, else the committed subset)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (CPU parts)")
    parser.add_argument(
        "--compare-cpu", action="store_true",
        help="after the provider's levels, the same levels on CPU (same machine, same run)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu_check.json")
    args = parser.parse_args(argv)
    if args.data is None:
        args.data = DEFAULT_DATA if DEFAULT_DATA.is_file() else SUBSET
    subjects = TEST_SUBJECTS if args.data == DEFAULT_DATA else (1, 2)
    started = time.monotonic()

    check = parity(args.bundle, args.provider, args.threads)
    used_cuda = check["provider_used"] == CUDA
    ok = (
        check["argmax_agreement"] == 1.0
        and check["max_probability_diff"] <= PROBABILITY_TOLERANCE
        and (used_cuda or args.provider == "cpu")
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    lines = [
        f"### GPU check ({args.provider}): {gpu_name()}",
        "",
        f"Commit {commit}; "
        f"{os.cpu_count()} CPUs; load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())}.",
        "",
        f"Parity against CPU, {check['windows']} real windows x {check['subsets']} sensor subsets:",
        "",
        table(
            ["provider used", "max |dprob|", "max |dembedding|", "argmax agreement", "verdict"],
            [
                [
                    check["provider_used"],
                    f"{check['max_probability_diff']:.2e}",
                    f"{check['max_embedding_diff']:.2e}",
                    f"{check['argmax_agreement']:.2%}",
                    "PASS" if ok else "FAIL",
                ]
            ],
        ),  # fmt: skip
        "",
    ]
    batches = (1, 16, 64, 256)
    costs = {name: model_cost(args.bundle, name, args.threads, batches)
             for name in dict.fromkeys([args.provider, "cpu"])}  # fmt: skip
    lines += [
        "Raw model, wall ms per batch (every encoder + head, median; per prediction in brackets):",
        "",
        table(["provider"] + [f"batch {b}" for b in batches],
              [[name] + [f"{c:.2f} ({c / b:.3f})" for c, b in zip(cost, batches, strict=True)]
               for name, cost in costs.items()]),
        "",
    ]  # fmt: skip
    check["model_ms_per_batch"] = {"batches": list(batches), **costs}
    print("\n".join(lines), flush=True)
    if not ok:
        print(f"parity FAILED (tolerance {PROBABILITY_TOLERANCE:g}, CUDA used: {used_cuda})")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"parity": check, "ok": False}, indent=2) + "\n")
        return 1

    with ServerProcess(args.bundle, execution_provider=args.provider) as server:
        with urllib.request.urlopen(f"{server.base_url}/v1/model", timeout=10) as r:
            info = json.load(r)
    book = MessageBook(
        load_recordings(args.data, max(args.streams), subjects, args.warmup + args.duration + 10),
        model_views(info),
    )
    providers = [args.provider] + (["cpu"] if args.compare_cpu and args.provider != "cpu" else [])
    levels: dict[str, list[dict[str, Any]]] = {}
    for provider in providers:  # each table as soon as it is measured: a timeout keeps it
        levels[provider] = []
        for streams in args.streams:
            level = load_level(args.bundle, provider, book, info, streams, args)
            levels[provider].append(level)
            print(f"  {provider}, {streams} streams: {level['received']}/{level['expected']}, "
                  f"p99 {level['p99_ms']:.1f} ms", file=sys.stderr)  # fmt: skip
        print(
            f"Streams on {provider} (binary frames, 5 sensors, hop 1 s, {args.warmup:g} s "
            f"warm-up + {args.duration:g} s measured, a fresh server per level, data "
            f"{args.data.name}):\n\n{load_table(levels[provider])}\n",
            flush=True,
        )
    print(f"elapsed {time.monotonic() - started:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"parity": check, "ok": True, "levels": levels[args.provider],
               "levels_by_provider": levels, "gpu": gpu_name(),
               "load_average": os.getloadavg(), "provider": args.provider}  # fmt: skip
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
