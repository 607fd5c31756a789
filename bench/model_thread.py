"""What the whole model costs per batch where the server runs it: off the main thread, next to
a busy event loop.

The server runs the encoders and the head in one worker thread ("ralis-onnx") while the event
loop thread parses frames; onnxruntime releases the GIL inside each session call, and the
worker needs it back after each of the six calls of a batch. This times the same batch three
ways: on the main thread; on a worker thread alone; on a worker thread while the main thread
runs pure Python (the event loop's stand-in, holding the GIL as much as it can). Thread CPU
and wall time per batch, for a few batch-size mixes. Written for the CUDA question in
BENCHMARKS.md section 6 (100 streams cost 11 ms of server CPU per prediction on CUDA, 4 on
CPU), and useful on CPU alike. Needs only the service install (no torch).

Run: `python -m bench.model_thread [--provider cpu|cuda] [--seconds 2]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import format_load, markdown_table
from service.runtime import ModelRuntime
from service.settings import DEFAULT_BUNDLE_DIR

PLACES = ("main thread", "worker thread", "worker thread, busy main thread")
MIXES = {"batch 1": [1], "batch 10": [10], "batches 1-16 in turn": list(range(1, 17))}


class WholeModel:
    """Every encoder over a batch, then the head: what `Predictor._run_model` runs."""

    def __init__(self, runtime: ModelRuntime, batches: Sequence[int]) -> None:
        self.runtime = runtime
        views = runtime.manifest.views
        rng = np.random.default_rng(0)
        self.inputs = {
            batch: (
                {
                    v.name: rng.normal(size=(batch, len(v.channels), v.window_samples)).astype(
                        np.float32
                    )
                    for v in views
                },
                np.ones((batch, len(views)), dtype=np.bool_),
            )
            for batch in set(batches)
        }

    def __call__(self, batch: int) -> None:
        windows, mask = self.inputs[batch]
        names = [v.name for v in self.runtime.manifest.views]
        embeddings = np.stack([self.runtime.encode(n, windows[n]) for n in names], axis=1)
        self.runtime.head(embeddings, mask)


def timed_loop(model: WholeModel, batches: Sequence[int], seconds: float) -> dict[str, float]:
    """Run `model` over `batches` in turn for `seconds`, on the calling thread."""
    for batch in set(batches):  # this thread's first use of each shape is not timed
        model(batch)
    cpu0, wall0, calls = time.thread_time(), time.perf_counter(), 0
    while time.perf_counter() - wall0 < seconds:
        model(batches[calls % len(batches)])
        calls += 1
    return {
        "cpu_ms_per_batch": 1e3 * (time.thread_time() - cpu0) / calls,
        "wall_ms_per_batch": 1e3 * (time.perf_counter() - wall0) / calls,
        "calls": calls,
    }


def measure(
    model: WholeModel, batches: Sequence[int], place: str, seconds: float
) -> dict[str, float]:
    if place == "main thread":
        return timed_loop(model, batches, seconds)
    result: dict[str, float] = {}
    stop = threading.Event()

    def worker() -> None:
        result.update(timed_loop(model, batches, seconds))
        stop.set()

    thread = threading.Thread(target=worker, name="ralis-onnx")
    thread.start()
    if place.endswith("busy main thread"):
        spins = 0
        while not stop.is_set():
            spins += 1  # pure Python: holds the GIL except at the interpreter's switch points
    thread.join()
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--precision", choices=["auto", "fp32", "int8"], default="auto",
                        help="the encoders' (RALIS_PRECISION)")  # fmt: skip
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE_DIR)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads")
    parser.add_argument("--seconds", type=float, default=2.0, help="per cell")
    parser.add_argument("--out", type=Path, default=None, help="JSON results file")
    parser.add_argument(
        "--switch-interval-ms", type=float, default=None,
        help="sys.setswitchinterval for this run (default: Python's 5 ms)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    previous_interval = sys.getswitchinterval()
    if args.switch_interval_ms is not None:
        sys.setswitchinterval(args.switch_interval_ms / 1e3)
    try:
        return run(args)
    finally:
        sys.setswitchinterval(previous_interval)


def run(args: argparse.Namespace) -> int:

    runtime = ModelRuntime.load(args.bundle, args.provider, args.threads, precision=args.precision)
    all_batches = sorted({b for mix in MIXES.values() for b in mix})
    model = WholeModel(runtime, all_batches)
    load_before = os.getloadavg()
    cells: list[dict[str, Any]] = []
    for mix, batches in MIXES.items():
        for place in PLACES:
            cell = measure(model, batches, place, args.seconds)
            cells.append({"mix": mix, "place": place, **cell})
    rows = [
        [c["mix"], c["place"], f"{c['cpu_ms_per_batch']:.2f}", f"{c['wall_ms_per_batch']:.2f}",
         c["calls"]]
        for c in cells
    ]  # fmt: skip
    print(
        f"Whole model per batch on {runtime.provider} ({runtime.precision} encoders), "
        f"{args.threads} intra-op thread(s), "
        f"{args.seconds:g} s per cell; switch interval {1e3 * sys.getswitchinterval():g} ms; "
        f"load average before {format_load(load_before)}, after {format_load(os.getloadavg())}.\n"
    )
    headers = ["batches", "where", "thread CPU ms/batch", "wall ms/batch", "batches run"]
    print(markdown_table(headers, rows))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"provider": runtime.provider, "threads": args.threads, "cells": cells,
                   "switch_interval_s": sys.getswitchinterval(),
                   "load_before": load_before, "load_after": os.getloadavg()}  # fmt: skip
        args.out.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
