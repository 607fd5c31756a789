"""One prediction: decode (validate, resample) -> encode (normalise, present views) -> fuse.

Encoding and fusing run as one micro-batched step in a model thread: a batch of
predictions runs each present view's encoder once over the windows that have it, then the
head once. One hand-off to the thread per batch, not one per encoder and one for the head,
keeps the event loop's share per prediction small (bench/README.md, service load). Up to
`model_threads` batches run at once, each in its own thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from service.batching import MicroBatcher
from service.errors import InputError, NonFiniteOutputError, shown
from service.metrics import SOURCES, STAGES, Metrics
from service.preprocess import Float32Array, FloatArray, check_rate, fit_samples, normalise_batch
from service.runtime import HeadResult, ModelRuntime
from service.settings import Settings

Source = Literal["http", "stream"]
Windows = Mapping[str, FloatArray]  # raw (T, C) model windows by view, normalised per batch


@dataclass(frozen=True)
class _ModelRow:
    """The model's answer for one prediction of a batch, with when its stages ended."""

    probabilities: npt.NDArray[np.float32]  # (K,)
    view_weights: npt.NDArray[np.float32]  # (V,)
    encoded_at: float  # perf_counter when the batch's encoders finished
    fused_at: float  # perf_counter when the batch's head finished


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
    """Runs predictions through one micro-batcher: each batch runs the present views' encoders,
    then the head, in one of `model_threads` threads."""

    def __init__(
        self,
        runtime: ModelRuntime,
        settings: Settings,
        metrics: Metrics,
        sources: Callable[[], int] | None = None,
    ) -> None:
        """`sources`: how many clients could submit now (the batcher stops waiting for more
        once that many have windows in its batch); None: always wait up to
        `max_batch_wait_ms`."""
        self.runtime = runtime
        self.manifest = runtime.manifest
        self.views = runtime.views
        self.view_names = tuple(self.manifest.view_names)  # resolved once: read per message
        self._settings = settings
        self._metrics = metrics
        self._view_index = {name: i for i, name in enumerate(self.views)}
        # Labelled series resolved once: a labels() lookup per prediction adds up under load.
        self._stage_seconds = {s: metrics.stage_duration.labels(stage=s) for s in STAGES}
        self._seconds = {s: metrics.prediction_duration.labels(source=s) for s in SOURCES}
        self._counts = {
            (c, s): metrics.predictions.labels(activity=c, source=s)
            for c in self.manifest.classes
            for s in SOURCES
        }
        self._view_used = {v: metrics.view_used.labels(view=v) for v in self.views}
        self._encoder_batch = {v: metrics.encoder_batch_size.labels(view=v) for v in self.views}
        self._executor = ThreadPoolExecutor(
            max_workers=settings.model_threads, thread_name_prefix="ralis-onnx"
        )
        self._model: MicroBatcher[Windows, _ModelRow] = MicroBatcher(
            "model",
            self._run_model,
            max_batch_size=settings.max_batch_size,
            max_wait_s=settings.max_batch_wait_ms / 1000.0,
            max_queue_size=settings.max_queue_size,
            executor=self._executor,
            on_batch=metrics.head_batch_size.observe,
            concurrency=settings.model_threads,
            sources=sources,
        )

    def start(self) -> None:
        """Start the batcher; call from the running event loop."""
        self._model.start()

    async def stop(self) -> None:
        """Stop the batcher and the model threads."""
        await self._model.stop()
        self._executor.shutdown(wait=True)

    # --- the three steps -------------------------------------------------------------

    def decode(
        self, sensors: Mapping[str, object], rates_hz: Mapping[str, float] | None = None
    ) -> dict[str, FloatArray]:
        """Check and fit every sensor's window; returns raw (T, C) model windows by view."""
        known = ", ".join(self.views)
        if not sensors:
            raise InputError("empty_sensors", f"no sensors given; send one or more of: {known}")
        unknown = [name for name in sensors if name not in self.views]
        if unknown:
            raise InputError(
                "unknown_sensor",
                f"unknown sensor{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(shown(u) for u in unknown[:5])}; known: {known}",
            )
        rates_hz = rates_hz or {}
        stray = [name for name in rates_hz if name not in sensors]
        if stray:
            raise InputError(
                "bad_rate",
                f"sampling_rate_hz names {', '.join(shown(s) for s in stray[:5])}, which "
                f"{'is' if len(stray) == 1 else 'are'} not in sensors; give rates only for "
                "the sensors sent",
            )
        windows: dict[str, FloatArray] = {}
        for name, samples in sensors.items():
            view = self.views[name]
            rate = check_rate(
                view,
                rates_hz.get(name, view.sampling_rate_hz),
                self._settings.max_sampling_rate_hz,
                self._settings.min_sampling_rate_hz,
            )
            windows[name] = fit_samples(
                view,
                samples,
                rate,
                self._settings.min_window_fraction,
                self._settings.max_abs_sample,
            )
        return windows

    async def predict(
        self,
        sensors: Mapping[str, object],
        rates_hz: Mapping[str, float] | None = None,
        source: Source = "http",
    ) -> Prediction:
        """Decode, encode and fuse one set of sensor windows."""
        started = time.perf_counter()
        return await self.infer(self.decode(sensors, rates_hz), started, source)

    async def predict_stream(self, windows: Windows, stream: Hashable | None = None) -> Prediction:
        """Predict from a stream's due window: (T, C) samples by view, already at the model's
        rate and length and checked when they arrived. `stream` identifies the stream (one
        client for the batcher however many windows it sends)."""
        return await self.infer(windows, time.perf_counter(), "stream", stream)

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
        request = object()  # one client for the batcher, however many windows
        return list(
            await asyncio.gather(*(self.infer(w, started, client=request) for w in decoded))
        )

    async def infer(
        self,
        windows: Windows,
        started: float,
        source: Source = "http",
        client: Hashable | None = None,
    ) -> Prediction:
        """Encode and fuse decoded windows; `started` is when decoding began (perf_counter);
        `client`: who asked (windows of one client share it), None: a client of its own."""
        decoded = time.perf_counter()
        row = await self._model.submit(windows, client)
        self._stage_seconds["decode"].observe(decoded - started)
        self._stage_seconds["encode"].observe(row.encoded_at - decoded)  # batching wait included
        self._stage_seconds["fuse"].observe(row.fused_at - row.encoded_at)
        seconds = row.fused_at - started
        self._seconds[source].observe(seconds)
        return self._report(row.probabilities, row.view_weights, list(windows), seconds, source)

    # --- helpers ---------------------------------------------------------------------

    def _report(
        self,
        probabilities: Float32Array,
        weights: Float32Array,
        present: list[str],
        seconds: float,
        source: Source,
    ) -> Prediction:
        if not (np.isfinite(probabilities).all() and np.isfinite(weights).all()):
            # Inputs are range-checked, so this is the model's fault: never answer it as a 200.
            raise NonFiniteOutputError(
                f"the model gave non-finite outputs for views {', '.join(present)}"
            )
        classes = self.manifest.classes
        activity = classes[int(np.argmax(probabilities))]
        views_used = [name for name in self.views if name in present]  # manifest order
        index = self._view_index
        self._counts[activity, source].inc()
        self._metrics.views_per_prediction.observe(len(views_used))
        for name in views_used:
            self._view_used[name].inc()
        return Prediction(
            activity=activity,
            probabilities={c: float(p) for c, p in zip(classes, probabilities, strict=True)},
            view_weights={name: float(weights[index[name]]) for name in views_used},
            views_used=views_used,
            model_version=self.manifest.model_version,
            latency_ms=seconds * 1000.0,
        )

    def _run_model(self, batch: list[Windows]) -> list[_ModelRow]:
        """Each present view's encoder over the windows that have it, then the head (B rows)."""
        dim = self.manifest.embedding_dim
        embeddings = np.zeros((len(batch), len(self.views), dim), dtype=np.float32)  # (B, V, D)
        mask = np.zeros((len(batch), len(self.views)), dtype=np.bool_)  # (B, V)
        for name, column in self._view_index.items():
            rows = [i for i, windows in enumerate(batch) if name in windows]
            if not rows:
                continue
            stacked = np.stack([batch[i][name] for i in rows])  # (b, T, C)
            inputs = normalise_batch(self.views[name], stacked)  # (b, C, T)
            embeddings[rows, column] = self.runtime.encode(name, inputs)
            mask[rows, column] = True
            self._encoder_batch[name].observe(len(rows))
        encoded_at = time.perf_counter()
        out: HeadResult = self.runtime.head(embeddings, mask)
        fused_at = time.perf_counter()
        return [
            _ModelRow(out.probabilities[i], out.view_weights[i], encoded_at, fused_at)
            for i in range(len(batch))
        ]
