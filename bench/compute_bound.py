"""The raw compute bound: the bundle's encoders and head called directly, as the server does.

Same onnxruntime sessions (`service.runtime.ModelRuntime`, same intra-op threads), same
batch sizes as a load run used (mean windows per encoder run and rows per head run, from
the server's histograms), no server around them. Per-call times at fractional mean batch
sizes are interpolated between the neighbouring whole sizes (a call's cost is close to
linear in its batch).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.timing import time_call
from service.runtime import ModelRuntime
from service.settings import PrecisionChoice


@dataclass(frozen=True)
class ComputeBound:
    """Seconds per prediction of the model alone, and the predictions/s that makes."""

    encoder_s_per_window: dict[str, float]  # at that view's mean batch
    head_s_per_row: float
    encoder_batch: dict[str, float]
    head_batch: float
    windows_per_prediction: dict[str, float]  # encoder runs' windows / head rows, per view

    @property
    def seconds_per_prediction(self) -> float:
        encoders = sum(
            self.encoder_s_per_window[view] * share
            for view, share in self.windows_per_prediction.items()
        )
        return encoders + self.head_s_per_row

    @property
    def predictions_per_s(self) -> float:
        return 1.0 / self.seconds_per_prediction


class ModelTimer:
    """Times the bundle's sessions at given batch sizes (cached per whole batch size)."""

    def __init__(
        self,
        bundle: Path,
        threads: int,
        min_seconds: float = 0.5,
        clock: Callable[[], float] = time.perf_counter,
        precision: PrecisionChoice = "auto",
    ) -> None:
        """`clock`: wall time by default; `time.process_time` for CPU time (busy machines).
        `precision`: the encoders', chosen as the server chooses them (RALIS_PRECISION)."""
        self.runtime = ModelRuntime.load(bundle, "cpu", threads, precision=precision)
        self.min_seconds = min_seconds
        self.clock = clock
        self._rng = np.random.default_rng(0)
        self._cache: dict[tuple[str, int], float] = {}

    def _call_s(self, part: str, batch: int) -> float:
        key = (part, batch)
        if key not in self._cache:
            manifest = self.runtime.manifest
            if part == "head":
                views, dim = len(manifest.views), manifest.embedding_dim
                embeddings = self._rng.normal(size=(batch, views, dim)).astype(np.float32)
                mask = np.ones((batch, views), dtype=np.bool_)
                timing = time_call(
                    lambda: self.runtime.head(embeddings, mask),
                    min_seconds=self.min_seconds,
                    clock=self.clock,
                )
            else:
                spec = self.runtime.views[part]
                shape = (batch, len(spec.channels), spec.window_samples)
                windows = self._rng.normal(size=shape).astype(np.float32)
                timing = time_call(
                    lambda: self.runtime.encode(part, windows),
                    min_seconds=self.min_seconds,
                    clock=self.clock,
                )
            self._cache[key] = timing.median
        return self._cache[key]

    def per_item_s(self, part: str, mean_batch: float) -> float:
        """Seconds per window (or head row) when calls average `mean_batch` items."""
        mean_batch = max(mean_batch, 1.0)
        low, high = math.floor(mean_batch), math.ceil(mean_batch)
        if low == high:
            return self._call_s(part, low) / low
        weight = mean_batch - low
        call_s = (1 - weight) * self._call_s(part, low) + weight * self._call_s(part, high)
        return call_s / mean_batch

    def bound(
        self,
        encoder_batch: Mapping[str, float],
        head_batch: float,
        windows_per_prediction: Mapping[str, float],
    ) -> ComputeBound:
        """The bound at the batch sizes a run used (views that never ran are left out)."""
        used = {view: b for view, b in encoder_batch.items() if windows_per_prediction.get(view)}
        return ComputeBound(
            encoder_s_per_window={v: self.per_item_s(v, b) for v, b in used.items()},
            head_s_per_row=self.per_item_s("head", head_batch),
            encoder_batch=dict(used),
            head_batch=head_batch,
            windows_per_prediction={v: windows_per_prediction[v] for v in used},
        )
