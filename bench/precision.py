"""The whole model in float and in int8 encoders: CPU per prediction, side by side.

`python -m bench.precision [--bundle DIR] [--repeats 3]` times every encoder and then the
head (what the server's model thread runs per batch) at several batch sizes, with the
bundle's float encoders and with its int8 ones, one intra-op thread, CPU time. The two
precisions alternate within each repeat (which goes first alternates too), so both see the
same machine; the table gives the medians over repeats, their ranges, and the float / int8
ratio. The accuracy side is the quantiser's parity record (the bundle's manifest) and
`python -m bench.served_accuracy --precision fp32|int8`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bench.machine import environment, load_average
from bench.model_thread import WholeModel
from bench.report import format_load, markdown_table, save_results, style_model_cost_axis
from bench.timing import time_call
from ralis.bundle import load_manifest
from service.runtime import ModelRuntime
from service.settings import DEFAULT_BUNDLE_DIR, PrecisionChoice

PRECISIONS: tuple[PrecisionChoice, ...] = ("fp32", "int8")
BATCHES = (1, 4, 16, 64)
RESULTS_DIR = Path("bench/results")


def measure(
    bundle: Path, batches: Sequence[int], repeats: int, seconds: float
) -> dict[str, dict[int, list[float]]]:
    """CPU ms per prediction, per precision and batch, one value per repeat."""
    models = {
        p: WholeModel(ModelRuntime.load(bundle, "cpu", 1, precision=p), batches) for p in PRECISIONS
    }
    costs: dict[str, dict[int, list[float]]] = {p: {b: [] for b in batches} for p in PRECISIONS}
    for repeat in range(repeats):
        order = PRECISIONS if repeat % 2 == 0 else PRECISIONS[::-1]
        for batch in batches:
            for precision in order:
                timing = time_call(
                    partial(models[precision], batch),
                    warmup=3,
                    min_seconds=seconds,
                    clock=time.process_time,
                )
                costs[precision][batch].append(1e3 * timing.median / batch)
        print(f"repeat {repeat + 1}/{repeats} done", file=sys.stderr)
    return costs


def _cell(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def table(costs: dict[str, dict[int, list[float]]]) -> str:
    rows = []
    for batch in costs["fp32"]:
        ratios = [f / q for f, q in zip(costs["fp32"][batch], costs["int8"][batch], strict=True)]
        rows.append(
            [
                batch,
                _cell(costs["fp32"][batch]),
                _cell(costs["int8"][batch]),
                f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})",
            ]
        )
    headers = ["batch", "fp32 ms/prediction", "int8 ms/prediction", "fp32 / int8"]
    return markdown_table(headers, rows)


def plot(costs: dict[str, dict[int, list[float]]]) -> Figure:
    figure, axis = plt.subplots(figsize=(5.5, 3.5))
    for precision in PRECISIONS:
        batches = list(costs[precision])
        medians = [statistics.median(costs[precision][b]) for b in batches]
        axis.plot(batches, medians, marker="o", label=f"{precision} encoders")
    axis.set_xscale("log", base=2)
    style_model_cost_axis(axis, "batch size (windows)")
    return figure


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE_DIR)
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0, help="per point and repeat")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--name", default="precision")
    args = parser.parse_args(argv)
    load_before = load_average()
    costs = measure(args.bundle, args.batches, args.repeats, args.seconds)
    load_after = load_average()
    manifest = load_manifest(args.bundle)
    parity: dict[str, Any] = manifest.int8.parity if manifest.int8 else {}
    header = (
        f"Bundle {manifest.model_name} {manifest.model_version}: every encoder then the head "
        f"(random inputs; int8 arithmetic does not depend on the values), CPU, one intra-op "
        f"thread, CPU time per call, median of calls over {args.seconds:g} s per point; "
        f"{args.repeats} repeats with the precisions interleaved. Load average before "
        f"{format_load(load_before)}, after {format_load(load_after)}."
    )
    markdown = f"### Float and int8 encoders\n\n{header}\n\n{table(costs)}\n"
    if manifest.int8 and parity:
        markdown += (
            f"\nThe quantiser's parity record ({manifest.int8.parity_data}): "
            f"top class agreement {100 * parity['argmax_agreement_all_views']:.2f}% with all "
            f"views, {100 * parity['argmax_agreement_single_view_mean']:.2f}% per single view.\n"
        )
    print(markdown)
    payload = {
        "bundle": str(args.bundle),
        "ms_per_prediction": {p: {str(b): v for b, v in c.items()} for p, c in costs.items()},
        "parity": parity,
        "load_before": load_before,
        "load_after": load_after,
        "environment": environment(),
    }
    save_results(args.out_dir, args.name, payload, plot(costs), markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
