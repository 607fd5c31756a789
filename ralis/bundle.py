"""The model bundle contract shared by `training/` (writer) and `service/` (reader).

A bundle is a folder holding one ONNX file per view encoder (or per shared encoder),
one ONNX file for the fusion + MoE head, and `manifest.json` described here. This module
is deliberately torch-free so the service image can import it.

ONNX I/O names (fixed by this contract):
- encoder: input ``window`` float32 (B, C_v, T_v), already normalised with the view's
  ``norm_mean`` / ``norm_std``; output ``embedding`` float32 (B, D), MagNorm'd.
- head: inputs ``embeddings`` float32 (B, V, D) in manifest view order and ``view_mask``
  bool (B, V); outputs ``probabilities`` (B, K), ``logits`` (B, K), ``view_weights`` (B, V)
  and ``fused`` (B, D). Rows of ``embeddings`` for masked views are ignored.

A bundle may also carry an int8 copy of every encoder (``encoder_file_int8``, written by
`python -m training.quantize`), with the same I/O; ``int8`` then says how it was calibrated.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"

ENCODER_INPUT = "window"
ENCODER_OUTPUT = "embedding"
HEAD_INPUTS = ("embeddings", "view_mask")
HEAD_OUTPUTS = ("probabilities", "logits", "view_weights", "fused")

Modality = Literal["acc", "gyro", "mag", "imu", "pose2d", "pose3d"]
Precision = Literal["fp32", "int8"]


class BundleError(ValueError):
    """A bundle that cannot be used: missing files, bad manifest, hash mismatch."""


class ViewSpec(BaseModel):
    """One view (sensor) of the model and how to prepare its window."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    modality: Modality
    channels: list[str] = Field(min_length=1)
    sampling_rate_hz: float = Field(gt=0)
    window_samples: int = Field(gt=0)
    norm_mean: list[float]
    norm_std: list[float]
    encoder_file: str
    # The same encoder with int8 weights and activations (static quantisation); None: none.
    encoder_file_int8: str | None = None

    @model_validator(mode="after")
    def _check_norm_lengths(self) -> ViewSpec:
        n = len(self.channels)
        if len(self.norm_mean) != n or len(self.norm_std) != n:
            raise ValueError(
                f"view '{self.name}': norm_mean/norm_std need {n} values (one per channel)"
            )
        if any(s <= 0 for s in self.norm_std):
            raise ValueError(f"view '{self.name}': norm_std must be positive")
        return self


class Int8Calibration(BaseModel):
    """How a bundle's int8 encoders were made, and how closely they follow the float ones."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str  # quantiser and its settings, in words
    calibration_data: str  # which windows set the activation ranges
    calibration_windows: int = Field(gt=0)
    # Agreement with the float encoders (same head) on held-out windows (`parity_data`), e.g.
    # {"argmax_agreement_all_views": 0.99, ...}; measured by the quantiser.
    parity: dict[str, float] = Field(default_factory=dict)
    parity_data: str = ""


class Manifest(BaseModel):
    """Self-description of a model bundle."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    format_version: int = FORMAT_VERSION
    model_name: str
    model_version: str
    created_at: str  # ISO 8601, UTC
    training_data: str
    classes: list[str] = Field(min_length=2)
    window_seconds: float = Field(gt=0)
    embedding_dim: int = Field(gt=0)
    opset: int
    views: list[ViewSpec] = Field(min_length=1)
    head_file: str
    # SHA-256 (hex) of every file in the bundle except the manifest itself.
    sha256: dict[str, str]
    # Free-form evaluation numbers (test macro-F1, parity, ...), for the model card.
    metrics: dict[str, float] = Field(default_factory=dict)
    int8: Int8Calibration | None = None

    @model_validator(mode="after")
    def _check_consistency(self) -> Manifest:
        if self.format_version != FORMAT_VERSION:
            raise ValueError(
                f"format_version {self.format_version} is not supported; expected {FORMAT_VERSION}"
            )
        names = [v.name for v in self.views]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate view names: {names}")
        with_int8 = [v.name for v in self.views if v.encoder_file_int8 is not None]
        if (self.int8 is not None) != bool(with_int8) or 0 < len(with_int8) < len(self.views):
            raise ValueError(
                "int8 encoders must come for every view together with their `int8` "
                f"calibration record; views with one: {with_int8 or 'none'}, record: "
                f"{'present' if self.int8 is not None else 'absent'}"
            )
        referenced = {self.head_file, *(v.encoder_file for v in self.views)}
        referenced |= {v.encoder_file_int8 for v in self.views if v.encoder_file_int8}
        missing = sorted(referenced - set(self.sha256))
        if missing:
            raise ValueError(f"files without a sha256 entry: {missing}")
        return self

    @property
    def view_names(self) -> list[str]:
        return [v.name for v in self.views]

    @property
    def has_int8(self) -> bool:
        return self.int8 is not None

    def encoder_file(self, view: ViewSpec, precision: Precision) -> str:
        """The file holding `view`'s encoder at `precision`."""
        if precision == "int8":
            if view.encoder_file_int8 is None:
                raise BundleError(
                    f"the bundle has no int8 encoders (view '{view.name}'); make them with "
                    "`python -m training.quantize BUNDLE --data ...`, or serve in fp32"
                )
            return view.encoder_file_int8
        return view.encoder_file


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(bundle_dir: Path, manifest: Manifest) -> Path:
    """Write `manifest.json` into `bundle_dir`."""
    path = bundle_dir / MANIFEST_NAME
    # Unset optional fields are left out, so a float-only bundle reads as it did before the
    # int8 fields existed (services then forbid unknown fields).
    write_text_atomically(path, json.dumps(manifest.model_dump(exclude_none=True), indent=2) + "\n")
    return path


def write_text_atomically(path: Path, text: str) -> None:
    """Write `path` so that a reader, a killed process or a power cut leaves the old text or
    the new, never a part."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Make the renames inside `folder` durable (POSIX; a no-op where folders cannot be
    opened, as on Windows)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def load_manifest(bundle_dir: Path, verify: bool = True) -> Manifest:
    """Read and validate a bundle's manifest; with `verify`, check every file's SHA-256.

    Raises:
        BundleError: naming the file and what is wrong with it.
    """
    path = bundle_dir / MANIFEST_NAME
    if not path.is_file():
        raise BundleError(f"{path}: no manifest.json in bundle folder {bundle_dir}")
    try:
        manifest = Manifest.model_validate_json(path.read_text())
    except ValueError as exc:  # pydantic.ValidationError and JSON errors
        raise BundleError(f"{path}: invalid manifest: {exc}") from exc
    if verify:
        for name, expected in manifest.sha256.items():
            file = bundle_dir / name
            if not file.is_file():
                raise BundleError(f"{file}: listed in the manifest but missing")
            actual = sha256_of(file)
            if actual != expected:
                raise BundleError(
                    f"{file}: SHA-256 mismatch (manifest {expected[:12]}..., file "
                    f"{actual[:12]}...); the bundle was modified or corrupted"
                )
    return manifest
