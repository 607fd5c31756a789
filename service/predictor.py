"""One prediction: decode (validate, resample, normalise) -> encode (present views) -> fuse."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from service.batching import MicroBatcher
from service.errors import InputError
from service.metrics import Metrics
from service.preprocess import Float32Array, check_rate, prepare_window
from service.runtime import HeadOutput, ModelRuntime
from service.settings import Settings

Source = Literal["http", "stream"]
HeadItem = tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]  # (V, D), (V,)
HeadRow = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]  # probabilities, view weights
In = TypeVar("In")
Out = TypeVar("Out")


class _Observer(Protocol):
    def observe(self, amount: float) -> None: ...


@dataclass(frozen=True)
class Prediction:
    """A prediction as the API reports it."""

    activity: str
    probabilities: dict[str, float]
    view_weights: dict[str, float]  # present views only; they sum to 1
    views_used: list[str]
    model_version: str
    latency_ms: float


class Predictor:
    """Runs predictions through per-encoder and head micro-batchers."""

    def __init__(self, runtime: ModelRuntime, settings: Settings, metrics: Metrics) -> None:
        self.runtime = runtime
        self.manifest = runtime.manifest
        self.views = runtime.views
        self._settings = settings
        self._metrics = metrics
        num_sessions = len({v.encoder_file for v in self.manifest.views}) + 1
        self._executor = ThreadPoolExecutor(
            max_workers=min(num_sessions, 8), thread_name_prefix="ralis-onnx"
        )
        self._encoders: dict[str, MicroBatcher[Float32Array, Float32Array]] = {
            name: self._batcher(
                name, _EncodeBatch(runtime, name), metrics.encoder_batch_size.labels(view=name)
            )
            for name in self.views
        }
        self._head: MicroBatcher[HeadItem, HeadRow] = self._batcher(
            "head", self._head_batch, metrics.head_batch_size
        )

    def _batcher(
        self, name: str, run: Callable[[list[In]], list[Out]], batch_sizes: _Observer
    ) -> MicroBatcher[In, Out]:
        settings = self._settings
        return MicroBatcher(
            name,
            run,
            max_batch_size=settings.max_batch_size,
            max_wait_s=settings.max_batch_wait_ms / 1000.0,
            max_queue_size=settings.max_queue_size,
            executor=self._executor,
            on_batch=batch_sizes.observe,
        )

    def _batchers(self) -> list[MicroBatcher[Any, Any]]:
        return [*self._encoders.values(), self._head]

    def start(self) -> None:
        """Start the batchers; call from the running event loop."""
        for batcher in self._batchers():
            batcher.start()

    async def stop(self) -> None:
        """Stop the batchers and the worker threads."""
        for batcher in self._batchers():
            await batcher.stop()
        self._executor.shutdown(wait=True)

    # --- the three steps -------------------------------------------------------------

    def decode(
        self, sensors: Mapping[str, object], rates_hz: Mapping[str, float] | None = None
    ) -> dict[str, Float32Array]:
        """Check and prepare every sensor's window; returns (C, T) encoder inputs by view."""
        known = ", ".join(self.views)
        if not sensors:
            raise InputError("empty_sensors", f"no sensors given; send one or more of: {known}")
        unknown = [name for name in sensors if name not in self.views]
        if unknown:
            raise InputError(
                "unknown_sensor",
                f"unknown sensor{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(u) for u in unknown)}; known: {known}",
            )
        rates_hz = rates_hz or {}
        stray = [name for name in rates_hz if name not in sensors]
        if stray:
            raise InputError(
                "bad_rate",
                f"sampling_rate_hz names {', '.join(repr(s) for s in stray)}, which "
                f"{'is' if len(stray) == 1 else 'are'} not in sensors; give rates only for "
                "the sensors sent",
            )
        windows: dict[str, Float32Array] = {}
        for name, samples in sensors.items():
            view = self.views[name]
            rate = check_rate(
                view, rates_hz.get(name, view.sampling_rate_hz), self._settings.max_sampling_rate_hz
            )
            windows[name] = prepare_window(view, samples, rate, self._settings.min_window_fraction)
        return windows

    async def encode(self, windows: Mapping[str, Float32Array]) -> dict[str, Float32Array]:
        """Run only the present views' encoders, concurrently; (D,) embedding by view."""
        names = list(windows)
        embeddings = await asyncio.gather(*(self._encoders[n].submit(windows[n]) for n in names))
        return dict(zip(names, embeddings, strict=True))

    async def fuse(
        self, embeddings: Mapping[str, Float32Array]
    ) -> tuple[Float32Array, Float32Array]:
        """Head over the present views (absent ones masked); probabilities (K,), weights (V,)."""
        names = list(self.views)
        dim = self.manifest.embedding_dim
        stacked = np.zeros((len(names), dim), dtype=np.float32)
        mask = np.zeros(len(names), dtype=np.bool_)
        for index, name in enumerate(names):
            if name in embeddings:
                stacked[index] = embeddings[name]
                mask[index] = True
        return await self._head.submit((stacked, mask))

    async def predict(
        self,
        sensors: Mapping[str, object],
        rates_hz: Mapping[str, float] | None = None,
        source: Source = "http",
    ) -> Prediction:
        """Decode, encode and fuse one set of sensor windows."""
        started = time.perf_counter()
        return await self.infer(self.decode(sensors, rates_hz), started, source)

    async def predict_many(
        self, requests: Sequence[tuple[Mapping[str, object], Mapping[str, float] | None]]
    ) -> list[Prediction]:
        """Several independent predictions; all are decoded (and checked) before any runs."""
        started = time.perf_counter()
        decoded = []
        for index, (sensors, rates_hz) in enumerate(requests):
            try:
                decoded.append(self.decode(sensors, rates_hz))
            except InputError as exc:
                raise InputError(exc.kind, f"windows[{index}]: {exc.detail}") from None
        return list(await asyncio.gather(*(self.infer(w, started) for w in decoded)))

    async def infer(
        self, windows: Mapping[str, Float32Array], started: float, source: Source = "http"
    ) -> Prediction:
        """Encode and fuse decoded windows; `started` is when decoding began (perf_counter)."""
        decoded = time.perf_counter()
        embeddings = await self.encode(windows)
        encoded = time.perf_counter()
        probabilities, weights = await self.fuse(embeddings)
        fused = time.perf_counter()

        stage = self._metrics.stage_duration
        stage.labels(stage="decode").observe(decoded - started)
        stage.labels(stage="encode").observe(encoded - decoded)
        stage.labels(stage="fuse").observe(fused - encoded)
        self._metrics.prediction_duration.labels(source=source).observe(fused - started)
        return self._report(probabilities, weights, list(windows), fused - started, source)

    # --- helpers ---------------------------------------------------------------------

    def _report(
        self,
        probabilities: Float32Array,
        weights: Float32Array,
        present: list[str],
        seconds: float,
        source: Source,
    ) -> Prediction:
        classes = self.manifest.classes
        activity = classes[int(np.argmax(probabilities))]
        views_used = [name for name in self.views if name in present]  # manifest order
        index = {name: i for i, name in enumerate(self.views)}
        self._metrics.predictions.labels(activity=activity, source=source).inc()
        self._metrics.views_per_prediction.observe(len(views_used))
        for name in views_used:
            self._metrics.view_used.labels(view=name).inc()
        return Prediction(
            activity=activity,
            probabilities={c: float(p) for c, p in zip(classes, probabilities, strict=True)},
            view_weights={name: float(weights[index[name]]) for name in views_used},
            views_used=views_used,
            model_version=self.manifest.model_version,
            latency_ms=seconds * 1000.0,
        )

    def _head_batch(self, items: list[HeadItem]) -> list[HeadRow]:
        embeddings = np.stack([e for e, _ in items])  # (B, V, D)
        mask = np.stack([m for _, m in items])  # (B, V)
        out: HeadOutput = self.runtime.head(embeddings, mask)
        return [(out.probabilities[i], out.view_weights[i]) for i in range(len(items))]


@dataclass(frozen=True)
class _EncodeBatch:
    """Runs one view's encoder over a list of (C, T) windows."""

    runtime: ModelRuntime
    view: str

    def __call__(self, windows: list[Float32Array]) -> list[Float32Array]:
        embeddings = self.runtime.encode(self.view, np.stack(windows))  # (B, D)
        return list(embeddings)
