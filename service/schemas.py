"""Request, response and stream message models (they document the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SkipValidation,
    TypeAdapter,
    model_validator,
)

from ralis.frames import MAX_CHUNKS

_SAMPLES_DOC = "A window of samples, oldest first; each row holds one value per channel."
Samples = Annotated[list[list[float]], Field(description=_SAMPLES_DOC)]
# The same, documented alike, but passed through as parsed: `preprocess.as_samples` turns it
# into an array and refuses what is not a rectangle of finite numbers with a clearer message,
# and validating each of a request's thousands of floats here first took about a sixth of the
# event loop at 16 concurrent requests (BENCHMARKS.md section 22).
UncheckedSamples = Annotated[list[list[float]], SkipValidation, Field(description=_SAMPLES_DOC)]

_EXAMPLE_WINDOW: list[JsonValue] = [[-9.76, 0.31, 1.12], [-9.81, 0.29, 1.10], [-9.79, 0.33, 1.08]]


class PredictRequest(BaseModel):
    """Windows of any non-empty subset of the model's sensors."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "sensors": {"torso": _EXAMPLE_WINDOW, "left_leg": _EXAMPLE_WINDOW},
                    "sampling_rate_hz": {"left_leg": 50.0},
                }
            ]
        },
    )

    sensors: dict[str, UncheckedSamples] = Field(
        description="Window by sensor (view) name; see GET /v1/model for names, channels and "
        "rates. Missing sensors are simply absent."
    )
    sampling_rate_hz: dict[str, float] | None = Field(
        default=None,
        description="Sampling rate by sensor when it differs from the model's; such windows are "
        "resampled by linear interpolation.",
    )


class PredictResponse(BaseModel):
    """The predicted activity and how the present sensors were weighted."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "activity": "walking",
                    "probabilities": {"sitting": 0.01, "walking": 0.97, "running": 0.02},
                    "view_weights": {"torso": 0.41, "left_leg": 0.59},
                    "views_used": ["torso", "left_leg"],
                    "model_version": "1.0.0",
                    "latency_ms": 3.2,
                }
            ]
        }
    )

    activity: str = Field(description="The most probable class.")
    probabilities: dict[str, float] = Field(description="Probability of every class.")
    view_weights: dict[str, float] = Field(
        description="Fusion weight of each sensor used (they sum to 1)."
    )
    views_used: list[str] = Field(description="Sensors that took part, in the model's order.")
    model_version: str
    latency_ms: float = Field(description="Time from decoding the windows to the probabilities.")


class BatchPredictRequest(BaseModel):
    """Several independent predict requests."""

    model_config = ConfigDict(extra="forbid")

    windows: list[PredictRequest] = Field(
        description="Predict requests; the number allowed is the server's max_batch_windows."
    )


class BatchPredictResponse(BaseModel):
    """Predictions in the order of the request's windows."""

    predictions: list[PredictResponse]


class ViewInfo(BaseModel):
    """One sensor (view) the model accepts."""

    name: str
    modality: str
    channels: list[str]
    sampling_rate_hz: float
    window_samples: int


class ModelInfo(BaseModel):
    """The model being served."""

    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: str
    classes: list[str]
    window_seconds: float
    views: list[ViewInfo]
    execution_provider: str
    precision: str  # of the encoders: "fp32" or "int8"
    created_at: str
    training_data: str
    metrics: dict[str, float]


class HealthResponse(BaseModel):
    """Liveness or readiness."""

    status: str
    execution_provider: str | None = None


class ErrorResponse(BaseModel):
    """An error; `detail` says what was wrong and what is accepted."""

    detail: str | list[dict[str, object]]


# --- WebSocket messages ----------------------------------------------------------------


class Chunk(BaseModel):
    """One sensor's chunk of samples: a `samples` message, or an item of a `chunks` message."""

    model_config = ConfigDict(extra="forbid")

    sensor: str
    samples: Samples
    t0: float | None = Field(
        default=None,
        description="Time (s) of the first sample; absent: right after the sensor's last chunk.",
    )
    rate_hz: float | None = Field(
        default=None, description="Sampling rate; absent: the last one given, or the model's."
    )


class SamplesMessage(Chunk):
    """Client -> server: a chunk of samples from one sensor."""

    type: Literal["samples"]


class ChunksMessage(BaseModel):
    """Client -> server: chunks of several sensors in one message, applied in order.

    The JSON counterpart of a binary frame: one message per tick instead of one per sensor
    costs the server less (BENCHMARKS.md section 12). A bad chunk stops the rest."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["chunks"]
    chunks: list[Chunk] = Field(min_length=1, max_length=MAX_CHUNKS)


class ConfigMessage(BaseModel):
    """Client -> server: change this stream's settings."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["config"]
    hop_s: float | None = Field(
        default=None, ge=0.1, le=60.0, description="Seconds of sample time between predictions."
    )
    stale_after_s: float | None = Field(
        default=None,
        gt=0.0,
        le=60.0,
        description="A sensor silent for longer than this before a window's end is left out of "
        "it; windows also wait this long for a sensor that is behind. Keep it above the "
        "duration of the chunks sent.",
    )

    @model_validator(mode="after")
    def _something_to_change(self) -> ConfigMessage:
        if self.hop_s is None and self.stale_after_s is None:
            raise ValueError("give hop_s and/or stale_after_s")
        return self


class AuthMessage(BaseModel):
    """Client -> server, first message only: the API key when no Authorization header was sent."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["auth"]
    token: str


ClientMessage = Annotated[
    SamplesMessage | ChunksMessage | ConfigMessage | AuthMessage, Field(discriminator="type")
]
CLIENT_MESSAGE: TypeAdapter[SamplesMessage | ChunksMessage | ConfigMessage | AuthMessage] = (
    TypeAdapter(ClientMessage)
)


class ReadyMessage(BaseModel):
    """Server -> client, once the stream is open (and authenticated)."""

    type: Literal["ready"] = "ready"
    model_version: str
    views: list[str]
    hop_s: float
    stale_after_s: float


class PredictionMessage(PredictResponse):
    """Server -> client: a prediction for the window ending at `t_end` (sample time)."""

    type: Literal["prediction"] = "prediction"
    t_end: float


class ErrorMessage(BaseModel):
    """Server -> client: a message could not be used; the stream stays open."""

    type: Literal["error"] = "error"
    detail: str
