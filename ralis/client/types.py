"""Typed results of the RALIS API (what `/v1/model`, `/v1/predict` and streams return)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ViewInfo:
    """One sensor the model reads: channels, sampling rate and window length."""

    name: str
    modality: str
    channels: list[str]
    sampling_rate_hz: float
    window_samples: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ViewInfo:
        return cls(
            name=str(data["name"]),
            modality=str(data["modality"]),
            channels=[str(c) for c in data["channels"]],
            sampling_rate_hz=float(data["sampling_rate_hz"]),
            window_samples=int(data["window_samples"]),
        )


@dataclass(frozen=True)
class ModelInfo:
    """`GET /v1/model`: the served model, its classes and its views."""

    name: str
    version: str
    classes: list[str]
    window_seconds: float
    views: list[ViewInfo]
    execution_provider: str
    precision: str = ""  # the encoders': "fp32" or "int8" ("" from servers before it was said)
    created_at: str = ""
    training_data: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            classes=[str(c) for c in data["classes"]],
            window_seconds=float(data["window_seconds"]),
            views=[ViewInfo.from_json(v) for v in data["views"]],
            execution_provider=str(data.get("execution_provider", "")),
            precision=str(data.get("precision", "")),
            created_at=str(data.get("created_at", "")),
            training_data=str(data.get("training_data", "")),
            metrics={str(k): float(v) for k, v in data.get("metrics", {}).items()},
        )

    def view(self, name: str) -> ViewInfo:
        """The view called `name`.

        Raises:
            KeyError: no such view (the message lists the known ones).
        """
        for view in self.views:
            if view.name == name:
                return view
        raise KeyError(f"unknown sensor {name!r}; known: {', '.join(v.name for v in self.views)}")


@dataclass(frozen=True)
class Prediction:
    """One prediction: over HTTP, or for the stream window ending at sample time `t_end`."""

    activity: str
    probabilities: dict[str, float]
    view_weights: dict[str, float]
    views_used: list[str]
    model_version: str
    latency_ms: float
    t_end: float | None = None  # streams only

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Prediction:
        t_end = data.get("t_end")
        return cls(
            activity=str(data["activity"]),
            probabilities={str(k): float(v) for k, v in data["probabilities"].items()},
            view_weights={str(k): float(v) for k, v in data["view_weights"].items()},
            views_used=[str(v) for v in data["views_used"]],
            model_version=str(data["model_version"]),
            latency_ms=float(data["latency_ms"]),
            t_end=None if t_end is None else float(t_end),
        )

    @property
    def probability(self) -> float:
        """The probability of the predicted activity."""
        return self.probabilities[self.activity]
