"""Time per operator type inside a head file, by onnxruntime's own profiler (batch 1).

Run from the repo root: `python bench/results/head_matmul_2026-12-03/head_profile.py HEAD.onnx
[HEAD.onnx ...]`. The einsum head as shipped until 2026-12-03:
`git show 2c32016:service/default_bundle/head.onnx > /tmp/head_einsum.onnx`.
Random embeddings, every view present, one intra-op thread, 500 timed runs after 50 warm-up.
"""

from __future__ import annotations

import collections
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bench.machine import load_average

RUNS = 500


def profile(path: Path) -> None:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    _, views, dim = session.get_inputs()[0].shape
    feeds = {
        "embeddings": np.random.default_rng(0).standard_normal((1, views, dim)).astype(np.float32),
        "view_mask": np.ones((1, views), dtype=bool),
    }
    for _ in range(50):
        session.run(None, feeds)
    session.end_profiling()  # drop the warm-up from the trace
    options.enable_profiling = True
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(RUNS):
        session.run(None, feeds)
    trace = Path(session.end_profiling())
    events = json.loads(trace.read_text())
    os.remove(trace)
    by_op: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"]
    runs = [event["dur"] for event in events if event.get("name") == "model_run"]
    total = sum(by_op.values())
    print(f"{path}: model_run median {np.median(runs):.0f} us, operators {total / RUNS:.0f} us")
    print("| operator | us per run | share |")
    print("|---|---|---|")
    for op, micros in by_op.most_common(6):
        print(f"| {op} | {micros / RUNS:.1f} | {100 * micros / total:.1f}% |")
    print()


def main() -> None:
    print(f"load average before {load_average()}")
    for name in sys.argv[1:]:
        profile(Path(name))
    print(f"load average after {load_average()}")


if __name__ == "__main__":
    main()
