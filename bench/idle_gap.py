"""What the whole model costs per call when calls come with pauses between them, as in a server.

`bench.compute_bound` and `bench.precision` time the model back to back: the caches and the
CPU stay warm, so they give its cheapest cost. A server's model thread instead sleeps between
batches (at 200 streams and 1 s hops, a batch every few milliseconds per thread) and wakes up
for each. This times the same batch (every encoder, then the head, one intra-op thread) with
a pause before every call: sleeping (the thread idles, as a model thread waiting for work
does) or spinning in pure Python for as long (the CPU stays busy with other work). CPU time
of the calling thread per call; the pauses themselves are not counted. Settings alternate
within each repeat, so every setting sees the same machine.

Run: `python -m bench.idle_gap [--batches 1 4] [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bench.machine import environment, load_average
from bench.model_thread import WholeModel
from bench.report import (
    RESULTS_DIR,
    format_load,
    markdown_table,
    save_results,
    style_model_cost_axis,
)
from service.runtime import ModelRuntime
from service.settings import DEFAULT_BUNDLE_DIR, PrecisionChoice

GAPS_MS = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


def spin(seconds: float) -> None:
    """Keep the CPU busy in pure Python for `seconds` (the pause without idling)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def cpu_ms_per_call(model: WholeModel, batch: int, calls: int, pause: float, busy: bool) -> float:
    """Mean CPU ms of this thread per model call, each call after a pause of `pause` s."""
    model(batch)  # the first call of a shape is not timed
    total = 0.0
    for _ in range(calls):
        if pause > 0 and busy:
            spin(pause)
        elif pause > 0:
            time.sleep(pause)
        started = time.thread_time()
        model(batch)
        total += time.thread_time() - started
    return 1e3 * total / calls


def settings(gaps_ms: Sequence[float]) -> list[tuple[str, float, bool]]:
    """(label, pause in s, busy) for every sleeping gap, plus spinning at the largest gap."""
    rows = [(f"sleep {g:g} ms" if g else "back to back", g / 1e3, False) for g in gaps_ms]
    if max(gaps_ms) > 0:
        rows.append((f"spin {max(gaps_ms):g} ms", max(gaps_ms) / 1e3, True))
    return rows


def measure(
    model: WholeModel, batches: Sequence[int], gaps_ms: Sequence[float], calls: int, repeats: int
) -> dict[int, dict[str, list[float]]]:
    """CPU ms per prediction (per call / batch), by batch and setting, one value per repeat."""
    rows = settings(gaps_ms)
    costs: dict[int, dict[str, list[float]]] = {b: {r[0]: [] for r in rows} for b in batches}
    for repeat in range(repeats):
        order = rows if repeat % 2 == 0 else rows[::-1]
        for batch in batches:
            for label, pause, busy in order:
                per_call = cpu_ms_per_call(model, batch, calls, pause, busy)
                costs[batch][label].append(per_call / batch)
        print(f"repeat {repeat + 1}/{repeats} done", file=sys.stderr)
    return costs


def table(costs: dict[int, dict[str, list[float]]]) -> str:
    batches = list(costs)
    labels = list(costs[batches[0]])
    rows = []
    for label in labels:
        row: list[object] = [label]
        for batch in batches:
            values = costs[batch][label]
            base = statistics.median(costs[batch][labels[0]])
            median = statistics.median(values)
            row.append(f"{median:.3f} ({min(values):.3f}-{max(values):.3f}), {median / base:.2f}x")
        rows.append(row)
    headers = [
        "pause before each call",
        *(f"batch {b}: CPU ms/prediction, / back to back" for b in batches),
    ]
    return markdown_table(headers, rows)


def plot(costs: dict[int, dict[str, list[float]]], gaps_ms: Sequence[float]) -> Figure:
    figure, axis = plt.subplots(figsize=(5.5, 3.5))
    for batch, by_label in costs.items():
        medians = [statistics.median(v) for k, v in by_label.items() if not k.startswith("spin")]
        axis.plot(list(gaps_ms), medians, marker="o", label=f"batch {batch}, sleeping")
    style_model_cost_axis(axis, "pause before each call (ms)")
    return figure


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE_DIR)
    parser.add_argument("--precision", choices=["auto", "fp32", "int8"], default="auto")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--gaps-ms", type=float, nargs="+", default=list(GAPS_MS))
    parser.add_argument("--calls", type=int, default=200, help="per point and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    gaps = args.gaps_ms
    if gaps[0] != 0 or any(b <= a for a, b in zip(gaps, gaps[1:], strict=False)):
        parser.error("--gaps-ms must start at 0 (back to back, the reference) and increase")
    precision: PrecisionChoice = args.precision
    runtime = ModelRuntime.load(args.bundle, "cpu", 1, precision=precision)
    model = WholeModel(runtime, args.batches)
    load_before = load_average()
    costs = measure(model, args.batches, args.gaps_ms, args.calls, args.repeats)
    load_after = load_average()
    manifest = runtime.manifest
    header = (
        f"Bundle {manifest.model_name} {manifest.model_version}, {runtime.precision} encoders: "
        f"every encoder then the head, CPU, one intra-op thread; CPU time of the calling "
        f"thread per call over {args.calls} calls per point (pauses not counted), median over "
        f"{args.repeats} repeats with the settings interleaved (range in brackets). Load "
        f"average before {format_load(load_before)}, after {format_load(load_after)}."
    )
    markdown = f"### The model after a pause\n\n{header}\n\n{table(costs)}\n"
    print(markdown)
    payload = {
        "bundle": str(args.bundle),
        "precision": runtime.precision,
        "calls": args.calls,
        "ms_per_prediction": {str(b): c for b, c in costs.items()},
        "load_before": load_before,
        "load_after": load_after,
        "environment": environment(),
    }
    save_results(args.out_dir, "idle_gap", payload, plot(costs, args.gaps_ms), markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
