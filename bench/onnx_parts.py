"""ONNX parts for the benchmarks: `training.export`'s exporter and a tuned CPU session."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from training.export import export_onnx

__all__ = ["export_onnx", "ort_session"]


def ort_session(path: Path, threads: int) -> ort.InferenceSession:
    """A CPU session with `threads` intra-op threads and no inter-op parallelism."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
