"""The model bundle under onnxruntime: one session per encoder file and one for the head."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from ralis.bundle import (
    ENCODER_INPUT,
    ENCODER_OUTPUT,
    HEAD_INPUTS,
    HEAD_OUTPUTS,
    BundleError,
    Manifest,
    Precision,
    ViewSpec,
    load_manifest,
)
from service.settings import ExecutionProvider, PrecisionChoice

logger = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
# Full FP32 on CUDA: with onnxruntime's default TF32 convolutions the H200 moved probabilities by
# up to 0.04 from CPU on real windows (BENCHMARKS.md, GPU check), and a model this small gains
# nothing measurable from tensor cores.
CUDA_OPTIONS = {"use_tf32": "0", "cudnn_conv_algo_search": "HEURISTIC"}


def batch_bucket(rows: int) -> int:
    """The batch size a CUDA session runs `rows` at: the next power of two.

    cuDNN prepares its convolutions once per input shape, at a cost of many milliseconds of
    CPU; with every batch size from 1 to 64 in play, 100 streams on an H200 spent 11-13 ms of
    server CPU per prediction preparing them (BENCHMARKS.md, GPU check). Powers of two leave
    7 shapes up to 64, all prepared at start-up; the padding costs the GPU next to nothing.
    """
    return 1 << (rows - 1).bit_length()


def _pad_rows(array: npt.NDArray[Any], rows: int) -> npt.NDArray[Any]:
    """`array` with its first row repeated up to `rows` rows (valid inputs, never NaN)."""
    extra = rows - array.shape[0]
    return array if extra == 0 else np.concatenate([array, np.repeat(array[:1], extra, axis=0)])


class HeadResult(NamedTuple):
    """The head's outputs for a batch."""

    probabilities: npt.NDArray[np.float32]  # (B, K)
    logits: npt.NDArray[np.float32]  # (B, K)
    view_weights: npt.NDArray[np.float32]  # (B, V)
    fused: npt.NDArray[np.float32]  # (B, D)


def choose_precision(requested: PrecisionChoice, manifest: Manifest, provider: str) -> Precision:
    """The encoders' precision: "auto" takes the int8 encoders on CPU when the bundle has them
    (2.1-4.1x less model CPU, the top class unchanged on 99% of test windows; BENCHMARKS.md
    section 15)
    and the float ones on CUDA, whose provider runs quantised convolutions no faster."""
    if requested == "auto":
        return "int8" if manifest.has_int8 and provider == CPU else "fp32"
    return requested


def choose_providers(requested: ExecutionProvider, available: list[str]) -> list[str]:
    """onnxruntime providers for a request: CUDA first when asked for (or auto) and present."""
    if requested == "cpu":
        return [CPU]
    if CUDA in available:
        return [CUDA, CPU]
    if requested == "cuda":
        logger.warning(
            "execution_provider 'cuda' requested but onnxruntime offers only %s "
            "(install onnxruntime-gpu on a machine with a CUDA GPU); falling back to CPU",
            ", ".join(available),
        )
    return [CPU]


@dataclass(frozen=True)
class _Session:
    session: ort.InferenceSession
    file: str


class ModelRuntime:
    """Loaded, verified and warmed-up ONNX sessions of a bundle."""

    def __init__(
        self,
        bundle_dir: Path,
        manifest: Manifest,
        encoders: dict[str, _Session],
        head: _Session,
        provider: str,
        precision: Precision = "fp32",
    ) -> None:
        self.bundle_dir = bundle_dir
        self.manifest = manifest
        self._encoders = encoders  # by view name; views sharing a file share a session
        self._head = head
        self.provider = provider
        self.precision = precision  # of the encoders; the head always runs in float
        self._bucketed = provider == CUDA  # on CPU, padding would cost compute and save nothing

    @classmethod
    def load(
        cls,
        bundle_dir: Path,
        execution_provider: ExecutionProvider = "auto",
        intra_op_threads: int = 0,
        max_batch_size: int = 64,
        precision: PrecisionChoice = "auto",
    ) -> ModelRuntime:
        """Verify the bundle's hashes, open its sessions, check their I/O and warm them up
        (on CUDA at every batch bucket up to `max_batch_size`).

        Raises:
            BundleError: the bundle is missing, tampered with, does not match the contract,
                or has no int8 encoders where `precision` asks for them.
        """
        manifest = load_manifest(bundle_dir, verify=True)
        providers = choose_providers(execution_provider, ort.get_available_providers())
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        # Idle intra-op threads would spin for work and take the CPU the event loop needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # onnxruntime's own warnings go to stderr, not our logs

        by_file: dict[str, _Session] = {}

        def open_session(file: str) -> _Session:
            if file not in by_file:
                try:
                    session = ort.InferenceSession(
                        str(bundle_dir / file),
                        sess_options=options,
                        providers=[(p, CUDA_OPTIONS) if p == CUDA else p for p in providers],
                    )
                except Exception as exc:  # onnxruntime raises its own untyped errors
                    raise BundleError(
                        f"{bundle_dir / file}: onnxruntime cannot load it: {exc}"
                    ) from exc
                by_file[file] = _Session(session, file)
            return by_file[file]

        # The head (always float) opens first: the provider it actually got, not the one
        # requested, decides the encoders' precision, so a CUDA provider that fails to
        # initialise still leaves the CPU with the int8 encoders "auto" promises it.
        head = open_session(manifest.head_file)
        actual = head.session.get_providers()[0]
        if providers[0] == CUDA and actual != CUDA:
            logger.warning("CUDA execution provider failed to initialise; running on %s", actual)
        chosen = choose_precision(precision, manifest, actual)
        encoders = {
            view.name: open_session(manifest.encoder_file(view, chosen)) for view in manifest.views
        }
        for view in manifest.views:
            _check_encoder_io(encoders[view.name], view, manifest.embedding_dim)
        _check_head_io(head, manifest)

        runtime = cls(bundle_dir, manifest, encoders, head, actual, chosen)
        runtime.warm_up(max_batch_size)
        logger.info(
            "loaded model %s %s from %s on %s, %s encoders",
            manifest.model_name,
            manifest.model_version,
            bundle_dir,
            actual,
            chosen,
        )
        return runtime

    @property
    def views(self) -> dict[str, ViewSpec]:
        return {view.name: view for view in self.manifest.views}

    def encode(self, view: str, windows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(B, C, T) normalised windows of one view -> (B, D) embeddings."""
        rows = windows.shape[0]
        if self._bucketed:
            windows = _pad_rows(windows, batch_bucket(rows))
        (embedding,) = self._encoders[view].session.run([ENCODER_OUTPUT], {ENCODER_INPUT: windows})
        return np.asarray(embedding[:rows], dtype=np.float32)

    def head(
        self, embeddings: npt.NDArray[np.float32], view_mask: npt.NDArray[np.bool_]
    ) -> HeadResult:
        """(B, V, D) embeddings in manifest view order and (B, V) mask -> the head's outputs."""
        rows = embeddings.shape[0]
        if self._bucketed:
            bucket = batch_bucket(rows)
            embeddings, view_mask = _pad_rows(embeddings, bucket), _pad_rows(view_mask, bucket)
        feeds = {HEAD_INPUTS[0]: embeddings, HEAD_INPUTS[1]: view_mask}
        outputs = self._head.session.run(list(HEAD_OUTPUTS), feeds)
        return HeadResult(*(np.asarray(o[:rows], dtype=np.float32) for o in outputs))

    def warm_up(self, max_batch_size: int = 1) -> None:
        """Run every session so the first requests do not pay for lazy initialisation: at
        batch 1, and on CUDA at every bucket up to `max_batch_size`."""
        dim = self.manifest.embedding_dim
        num_views = len(self.manifest.views)
        batches = [1]
        if self._bucketed:
            while batches[-1] < max_batch_size:
                batches.append(batches[-1] * 2)
        for batch in batches:
            for view in self.manifest.views:
                shape = (batch, len(view.channels), view.window_samples)
                self.encode(view.name, np.zeros(shape, dtype=np.float32))
            self.head(
                np.zeros((batch, num_views, dim), dtype=np.float32),
                np.ones((batch, num_views), dtype=np.bool_),
            )


def _fixed_dims(shape: list[Any]) -> list[int | None]:
    return [d if isinstance(d, int) else None for d in shape]


def _check_encoder_io(encoder: _Session, view: ViewSpec, embedding_dim: int) -> None:
    inputs = {i.name: _fixed_dims(i.shape) for i in encoder.session.get_inputs()}
    outputs = {o.name: _fixed_dims(o.shape) for o in encoder.session.get_outputs()}
    where = f"{encoder.file} (encoder of view '{view.name}')"
    if list(inputs) != [ENCODER_INPUT] or ENCODER_OUTPUT not in outputs:
        raise BundleError(
            f"{where}: has inputs {list(inputs)} and outputs {list(outputs)}; "
            f"expected input '{ENCODER_INPUT}' and output '{ENCODER_OUTPUT}'"
        )
    expected_in = [None, len(view.channels), view.window_samples]
    if not _dims_match(inputs[ENCODER_INPUT], expected_in):
        raise BundleError(
            f"{where}: input shape {inputs[ENCODER_INPUT]} does not match the manifest's "
            f"(batch, {len(view.channels)} channels, {view.window_samples} samples)"
        )
    if not _dims_match(outputs[ENCODER_OUTPUT], [None, embedding_dim]):
        raise BundleError(
            f"{where}: output shape {outputs[ENCODER_OUTPUT]} does not match the manifest's "
            f"(batch, embedding_dim={embedding_dim})"
        )


def _check_head_io(head: _Session, manifest: Manifest) -> None:
    inputs = [i.name for i in head.session.get_inputs()]
    outputs = [o.name for o in head.session.get_outputs()]
    if sorted(inputs) != sorted(HEAD_INPUTS) or not set(HEAD_OUTPUTS) <= set(outputs):
        raise BundleError(
            f"{head.file} (head): has inputs {inputs} and outputs {outputs}; expected inputs "
            f"{list(HEAD_INPUTS)} and outputs {list(HEAD_OUTPUTS)}"
        )
    shapes = {o.name: _fixed_dims(o.shape) for o in head.session.get_outputs()}
    if not _dims_match(shapes["probabilities"], [None, len(manifest.classes)]):
        raise BundleError(
            f"{head.file} (head): probabilities shape {shapes['probabilities']} does not match "
            f"the manifest's {len(manifest.classes)} classes"
        )


def _dims_match(actual: list[int | None], expected: list[int | None]) -> bool:
    """Shapes match where both are known; symbolic dimensions match anything."""
    if len(actual) != len(expected):
        return False
    return all(a is None or e is None or a == e for a, e in zip(actual, expected, strict=True))
