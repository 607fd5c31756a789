"""Export a torch module to ONNX as `training.export` does, and open it in onnxruntime."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import onnx
import onnxruntime as ort
import torch
from torch import nn

OPSET = 18  # as training.export


def export_onnx(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    inputs: Sequence[str],
    outputs: Sequence[str],
) -> None:
    """torch.export-based ONNX export with a dynamic batch axis (training.export's settings)."""
    batch = torch.export.Dim("batch", min=1)
    # The exporter logs one warning per missing torchvision op; none is used here.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and renaming notes
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_shapes={name: {0: batch} for name in inputs},
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    onnx.checker.check_model(onnx.load(str(path)))


def ort_session(path: Path, threads: int) -> ort.InferenceSession:
    """A CPU session with `threads` intra-op threads and no inter-op parallelism."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
