"""Prometheus metrics in an app-owned registry (namespace `ralis_`, base units).

With several worker processes (`ralis serve --workers N`) the values live in prometheus_client's
multiprocess files instead, and `/metrics` answers their sum over the workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, values
from prometheus_client.multiprocess import MultiProcessCollector

from service.errors import ErrorKind

NAMESPACE = "ralis"

# Latency buckets from 0.5 ms to 10 s: CPU inference of one window is a few milliseconds.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
STAGES = ("decode", "encode", "fuse")
SOURCES = ("http", "stream")
MODEL_LABELS = ("name", "version", "execution_provider", "precision")


def _powers_of_two(limit: int) -> tuple[float, ...]:
    buckets = [1.0]
    while buckets[-1] < limit:
        buckets.append(buckets[-1] * 2)
    return tuple(buckets)


class Metrics:
    """All service metrics; label values are bounded (routes, views, classes, error kinds)."""

    def __init__(
        self, max_batch_size: int = 64, max_views: int = 16, multiprocess_dir: Path | None = None
    ) -> None:
        """`multiprocess_dir`: this process is one of several workers writing there."""
        if multiprocess_dir is not None and values.ValueClass is values.MutexValue:
            raise RuntimeError(
                "multiprocess metrics need PROMETHEUS_MULTIPROC_DIR set before prometheus_client "
                "is first imported"
            )
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess_dir = multiprocess_dir
        r = self.registry
        self.requests = Counter(
            "requests",
            "HTTP requests by route template, method and status code.",
            ("route", "method", "status"),
            namespace=NAMESPACE,
            registry=r,
        )
        self.request_duration = Histogram(
            "request_duration_seconds",
            "End-to-end HTTP request latency by route template.",
            ("route",),
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.prediction_duration = Histogram(
            "prediction_duration_seconds",
            "Latency of one prediction from raw samples to probabilities, by source.",
            ("source",),
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stage_duration = Histogram(
            "stage_duration_seconds",
            "Latency of one prediction stage: decode (validate, resample, normalise), "
            "encode (the view encoders, batching wait included), fuse (the head).",
            ("stage",),
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.encoder_batch_size = Histogram(
            "encoder_batch_size",
            "Windows per encoder run, by view.",
            ("view",),
            namespace=NAMESPACE,
            buckets=_powers_of_two(max_batch_size),
            registry=r,
        )
        self.head_batch_size = Histogram(
            "head_batch_size",
            "Predictions per head run.",
            namespace=NAMESPACE,
            buckets=_powers_of_two(max_batch_size),
            registry=r,
        )
        self.active_streams = Gauge(
            "active_streams",
            "Open WebSocket streams.",
            namespace=NAMESPACE,
            registry=r,
            multiprocess_mode="livesum",  # with workers: the server's total
        )
        self.predictions = Counter(
            "predictions",
            "Predictions made, by predicted activity and source.",
            ("activity", "source"),
            namespace=NAMESPACE,
            registry=r,
        )
        self.views_per_prediction = Histogram(
            "views_per_prediction",
            "Number of sensors (views) present in a prediction.",
            namespace=NAMESPACE,
            buckets=tuple(float(n) for n in range(1, max_views + 1)),
            registry=r,
        )
        self.view_used = Counter(
            "view_used",
            "Predictions that used each view.",
            ("view",),
            namespace=NAMESPACE,
            registry=r,
        )
        self.errors = Counter(
            "errors",
            "Errors by kind (bad input, limits, auth, overload, internal).",
            ("kind",),
            namespace=NAMESPACE,
            registry=r,
        )
        self.ready = Gauge(
            "ready",
            "1 when the model is loaded and warmed up.",
            namespace=NAMESPACE,
            registry=r,
            multiprocess_mode="livemin",  # with workers: 1 once every live worker is ready
        )
        self.model: Info | Gauge
        if multiprocess_dir is None:
            self.model = Info("model", "The model being served.", namespace=NAMESPACE, registry=r)
        else:  # Info has no multiprocess support: the same `ralis_model_info` series, as 1
            self.model = Gauge(
                "model_info",
                "The model being served.",
                MODEL_LABELS,
                namespace=NAMESPACE,
                registry=r,
                multiprocess_mode="livemax",
            )

    def exposition_registry(self) -> CollectorRegistry:
        """The registry `/metrics` shows: the app's own, or the sum over the workers."""
        if self.multiprocess_dir is None:
            return self.registry
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return registry

    def count_error(self, kind: ErrorKind) -> None:
        """One error of `kind`: the only place `ralis_errors_total` is counted."""
        self.errors.labels(kind=kind).inc()

    def set_model(self, name: str, version: str, execution_provider: str, precision: str) -> None:
        """Publish the served model as `ralis_model_info`."""
        labels = {
            "name": name,
            "version": version,
            "execution_provider": execution_provider,
            "precision": precision,
        }
        if isinstance(self.model, Info):
            self.model.info(labels)
        else:
            self.model.labels(**labels).set(1)

    def init_labels(self, views: Sequence[str], classes: Sequence[str]) -> None:
        """Create the known label series at zero so dashboards see them before traffic."""
        for view in views:
            self.encoder_batch_size.labels(view=view)
            self.view_used.labels(view=view)
        for source in SOURCES:
            self.prediction_duration.labels(source=source)
            for activity in classes:
                self.predictions.labels(activity=activity, source=source)
        for stage in STAGES:
            self.stage_duration.labels(stage=stage)
        for kind in get_args(ErrorKind):
            self.errors.labels(kind=kind)
