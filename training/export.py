"""Export a checkpoint as a model bundle: per-encoder ONNX files, a head ONNX file, a manifest."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import shutil
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import torch

from model.export import EncoderForExport, HeadForExport
from ralis.bundle import (
    ENCODER_INPUT,
    ENCODER_OUTPUT,
    HEAD_INPUTS,
    HEAD_OUTPUTS,
    MANIFEST_NAME,
    Manifest,
    ViewSpec,
    sha256_of,
    write_manifest,
)
from training.checkpoint import Checkpoint

log = logging.getLogger(__name__)

OPSET = 18
HEAD_FILE = "head.onnx"


@dataclass(frozen=True)
class ParityReport:
    """Largest onnxruntime-vs-torch differences over every non-empty view subset."""

    max_probability_diff: float
    argmax_agreement: float
    subsets_checked: int
    samples_per_subset: int


def export_onnx(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    inputs: Sequence[str],
    outputs: Sequence[str],
) -> None:
    """torch.export-based ONNX export with a dynamic batch axis on every input."""
    module.eval()
    batch = torch.export.Dim("batch", min=1)
    # The exporter logs one warning per missing torchvision op; none is used here.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    dynamic_shapes = {name: {0: batch} for name in inputs}
    with warnings.catch_warnings():
        # The exporter is chatty (deprecations inside torch, axis renaming notes).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_shapes=dynamic_shapes,
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    onnx.checker.check_model(onnx.load(str(path)))


def export_bundle(
    checkpoint: Checkpoint,
    out_dir: Path,
    model_name: str = "ralis",
    model_version: str = "0.1.0",
    training_data: str = "",
    metrics: dict[str, float] | None = None,
) -> Manifest:
    """Write the bundle into `out_dir` (created or emptied) and return its manifest."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    model = checkpoint.model.eval()
    config = model.config
    window_samples = {
        v.name: checkpoint.window_samples.get(
            v.name, round(checkpoint.train_config.window_seconds * v.sampling_rate_hz)
        )
        for v in checkpoint.views
    }
    window_seconds = max(window_samples[v.name] / v.sampling_rate_hz for v in checkpoint.views)
    encoder_files: dict[str, str] = {}
    for view in config.views:
        if view.group in encoder_files:
            continue
        file_name = f"encoder_{view.group}.onnx"
        example = torch.zeros(2, view.in_channels, window_samples[view.name])
        export_onnx(
            EncoderForExport(model, view.group),
            (example,),
            out_dir / file_name,
            [ENCODER_INPUT],
            [ENCODER_OUTPUT],
        )
        encoder_files[view.group] = file_name
    embeddings = torch.randn(2, config.num_views, config.embed_dim)
    mask = torch.ones(2, config.num_views, dtype=torch.bool)
    export_onnx(
        HeadForExport.of(model),
        (embeddings, mask),
        out_dir / HEAD_FILE,
        list(HEAD_INPUTS),
        list(HEAD_OUTPUTS),
    )
    views = []
    for info, view in zip(checkpoint.views, config.views, strict=True):
        views.append(
            ViewSpec(
                name=info.name,
                modality=info.modality,  # type: ignore[arg-type]
                channels=list(info.channels),
                sampling_rate_hz=info.sampling_rate_hz,
                window_samples=window_samples[info.name],
                norm_mean=[float(v) for v in checkpoint.normalizer.mean[info.name]],
                norm_std=[float(v) for v in checkpoint.normalizer.std[info.name]],
                encoder_file=encoder_files[view.group],
            )
        )
    files = sorted({HEAD_FILE, *encoder_files.values()})
    manifest = Manifest(
        model_name=model_name,
        model_version=model_version,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        training_data=training_data or checkpoint.train_config.data,
        classes=checkpoint.class_names,
        window_seconds=window_seconds,
        embedding_dim=config.embed_dim,
        opset=OPSET,
        views=views,
        head_file=HEAD_FILE,
        sha256={name: sha256_of(out_dir / name) for name in files},
        metrics=metrics or {},
    )
    write_manifest(out_dir, manifest)
    return manifest


def view_subset_masks(rows: int, num_views: int) -> Iterator[npt.NDArray[np.bool_]]:
    """`(rows, num_views)` masks of every non-empty view subset, smallest subsets first."""
    for size in range(1, num_views + 1):
        for combo in itertools.combinations(range(num_views), size):
            mask = np.zeros((rows, num_views), dtype=bool)
            mask[:, list(combo)] = True
            yield mask


def check_parity(
    checkpoint: Checkpoint,
    bundle_dir: Path,
    windows: dict[str, np.ndarray] | None = None,
    num_samples: int = 32,
    seed: int = 0,
) -> ParityReport:
    """Compare onnxruntime with torch for every non-empty subset of views.

    Args:
        windows: normalised windows per view `(N, C, T)`; random ones when None.
    """
    model = checkpoint.model.eval()
    config = model.config
    manifest = Manifest.model_validate_json((bundle_dir / MANIFEST_NAME).read_text())
    rng = np.random.default_rng(seed)
    if windows is None:
        windows = {
            v.name: rng.standard_normal((num_samples, len(v.channels), v.window_samples)).astype(
                np.float32
            )
            for v in manifest.views
        }
    n = next(iter(windows.values())).shape[0]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sessions = {
        f: ort.InferenceSession(str(bundle_dir / f), options, providers=["CPUExecutionProvider"])
        for f in {v.encoder_file for v in manifest.views} | {manifest.head_file}
    }
    embeddings = np.stack(
        [
            sessions[v.encoder_file].run([ENCODER_OUTPUT], {ENCODER_INPUT: windows[v.name]})[0]
            for v in manifest.views
        ],
        axis=1,
    )
    max_diff, agree, subsets = 0.0, 0, 0
    with torch.no_grad():
        x = {name: torch.from_numpy(array) for name, array in windows.items()}
        for mask in view_subset_masks(n, config.num_views):
            reference = torch.softmax(model.predict_logits(x, torch.from_numpy(mask)), -1)
            embeddings_input, mask_input = HEAD_INPUTS
            onnx_probs = sessions[manifest.head_file].run(
                [HEAD_OUTPUTS[0]], {embeddings_input: embeddings, mask_input: mask}
            )[0]
            max_diff = max(max_diff, float(np.abs(onnx_probs - reference.numpy()).max()))
            agree += int((onnx_probs.argmax(-1) == reference.numpy().argmax(-1)).sum())
            subsets += 1
    return ParityReport(max_diff, agree / (subsets * n), subsets, n)
