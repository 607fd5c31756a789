"""The RALIS bundle under plain onnxruntime, written the way a user of a general model server would.

Only numpy, onnxruntime and the standard library: this runs inside the peers' venv, not the
project's. It reads `manifest.json` itself, decodes a request's `{"sensors": {view: rows}}`,
normalises each view with the manifest's mean and std, runs one encoder per view over the
whole batch and the head once per batch, and answers like RALIS does (activity,
probabilities, view weights).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

STATS_ENV = "PEER_STATS_FILE"  # where BatchStats writes its counters (bench.peers reads it)
BUNDLE_ENV = "PEER_BUNDLE"
THREADS_ENV = "PEER_INTRA_OP_THREADS"
PRECISION_ENV = "PEER_PRECISION"  # auto | fp32 | int8, as RALIS_PRECISION on CPU


class BatchStats:
    """Counts batches and rows; writes them as JSON to $PEER_STATS_FILE at most every 0.2 s."""

    def __init__(self) -> None:
        self.path = os.environ.get(STATS_ENV)
        self.batches = 0
        self.rows = 0
        self._written = 0.0

    def record(self, rows: int) -> None:
        self.batches += 1
        self.rows += rows
        now = time.monotonic()
        if self.path and now - self._written > 0.2:
            self._written = now
            tmp = f"{self.path}.tmp"
            with open(tmp, "w") as f:
                json.dump({"batches": self.batches, "rows": self.rows}, f)
            os.replace(tmp, self.path)


def encoder_file(view: dict[str, Any], precision: str) -> str:
    """The view's encoder file at `precision`: int8 when asked, or for "auto" when present."""
    int8 = view.get("encoder_file_int8")
    if precision == "int8" and int8 is None:
        raise ValueError(f"view {view['name']!r} has no int8 encoder")
    return str(int8 if precision != "fp32" and int8 else view["encoder_file"])


class BundleModel:
    """Encoders + head of a bundle folder, one onnxruntime session each."""

    def __init__(self, bundle_dir: str | Path, threads: int = 1, precision: str = "auto") -> None:
        bundle_dir = Path(bundle_dir)
        manifest = json.loads((bundle_dir / "manifest.json").read_text())
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        providers = ["CPUExecutionProvider"]

        def session(name: str) -> ort.InferenceSession:
            return ort.InferenceSession(str(bundle_dir / name), options, providers=providers)

        self.classes: list[str] = manifest["classes"]
        self.views: list[str] = [v["name"] for v in manifest["views"]]
        self.samples = {v["name"]: int(v["window_samples"]) for v in manifest["views"]}
        self.mean = {v["name"]: np.asarray(v["norm_mean"], np.float32) for v in manifest["views"]}
        self.std = {v["name"]: np.asarray(v["norm_std"], np.float32) for v in manifest["views"]}
        self.encoders = {v["name"]: session(encoder_file(v, precision)) for v in manifest["views"]}
        self.head = session(manifest["head_file"])
        self.dim = int(manifest["embedding_dim"])
        self.stats = BatchStats()

    def decode(self, sensors: dict[str, Any]) -> dict[str, np.ndarray]:
        """{view: (T, C) rows} -> {view: (C, T) normalised float32}, the last T samples.

        Raises:
            ValueError: an unknown view or a window shorter than the model's.
        """
        windows = {}
        for view, rows in sensors.items():
            if view not in self.samples:
                raise ValueError(f"unknown sensor {view!r}; known: {', '.join(self.views)}")
            array = np.asarray(rows, dtype=np.float32)[-self.samples[view] :]
            if array.ndim != 2 or array.shape[0] != self.samples[view]:
                raise ValueError(f"sensor {view!r}: need {self.samples[view]} rows")
            windows[view] = ((array - self.mean[view]) / self.std[view]).T
        if not windows:
            raise ValueError("no sensors")
        return windows

    def predict(self, batch: list[dict[str, np.ndarray]]) -> list[dict[str, Any]]:
        """Decoded windows of a batch of requests -> one answer per request."""
        size = len(batch)
        embeddings = np.zeros((size, len(self.views), self.dim), np.float32)  # (B, V, D)
        mask = np.zeros((size, len(self.views)), np.bool_)  # (B, V)
        for v, view in enumerate(self.views):
            rows = [i for i, windows in enumerate(batch) if view in windows]
            if not rows:
                continue
            stacked = np.stack([batch[i][view] for i in rows])  # (b, C, T)
            (embedding,) = self.encoders[view].run(["embedding"], {"window": stacked})
            embeddings[rows, v] = embedding
            mask[rows, v] = True
        probabilities, weights = self.head.run(
            ["probabilities", "view_weights"], {"embeddings": embeddings, "view_mask": mask}
        )
        self.stats.record(size)
        answers = []
        for p, w, m in zip(probabilities.tolist(), weights.tolist(), mask.tolist(), strict=True):
            best = max(range(len(p)), key=p.__getitem__)
            answers.append(
                {
                    "activity": self.classes[best],
                    "probabilities": dict(zip(self.classes, p, strict=True)),
                    "view_weights": {view: w[v] for v, view in enumerate(self.views) if m[v]},
                }
            )
        return answers


def from_env() -> BundleModel:
    """The model of $PEER_BUNDLE with $PEER_INTRA_OP_THREADS intra-op threads (default 1)."""
    return BundleModel(
        os.environ[BUNDLE_ENV],
        int(os.environ.get(THREADS_ENV, "1")),
        os.environ.get(PRECISION_ENV, "auto"),
    )
