"""Service settings, read from `RALIS_*` environment variables or passed explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_BUNDLE_DIR = Path(__file__).resolve().parent / "default_bundle"

ExecutionProvider = Literal["auto", "cpu", "cuda"]
LogLevel = Literal["debug", "info", "warning", "error"]

# Shorter keys are guessable; refuse them rather than run with a false sense of safety.
MIN_API_KEY_CHARS = 16


class Settings(BaseSettings):
    """Everything the service needs to start; one instance is handed to `create_app`."""

    model_config = SettingsConfigDict(env_prefix="RALIS_", extra="ignore", frozen=True)

    bundle_dir: Path = DEFAULT_BUNDLE_DIR
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: LogLevel = "info"

    # Inference runtime.
    execution_provider: ExecutionProvider = "auto"
    # One model worker thread runs the sessions and the event loop needs a core of its own, so
    # one intra-op thread is fastest on small machines (bench/README.md); 0: onnxruntime's choice.
    intra_op_threads: int = Field(default=1, ge=0, le=256)
    max_batch_size: int = Field(default=64, ge=1, le=4096)
    max_batch_wait_ms: float = Field(default=2.0, ge=0.0, le=1000.0)
    max_queue_size: int = Field(default=4096, ge=1)  # pending predictions before 503

    # Input preparation.
    min_window_fraction: float = Field(default=0.9, gt=0.0, le=1.0)
    max_sampling_rate_hz: float = Field(default=2000.0, gt=0.0)

    # Request limits.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_batch_windows: int = Field(default=64, ge=1, le=10_000)

    # Streams.
    max_streams: int = Field(default=256, ge=1)
    max_message_bytes: int = Field(default=1024 * 1024, ge=1024)
    stream_idle_timeout_s: float = Field(default=60.0, gt=0.0)
    stream_auth_timeout_s: float = Field(default=5.0, gt=0.0)
    stale_after_s: float = Field(default=1.0, gt=0.0)
    hop_s: float = Field(default=1.0, ge=0.1, le=60.0)
    shutdown_timeout_s: float = Field(default=10.0, gt=0.0)

    # Access.
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(default=(), repr=False)
    metrics_require_auth: bool = False

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_api_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("api_keys")
    @classmethod
    def _refuse_weak_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for index, key in enumerate(keys):
            if len(key) < MIN_API_KEY_CHARS:
                raise ValueError(
                    f"API key #{index + 1} has {len(key)} characters; "
                    f"at least {MIN_API_KEY_CHARS} are required"
                )
            if any(c.isspace() for c in key):
                raise ValueError(f"API key #{index + 1} contains whitespace")
        return keys

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        if self.metrics_require_auth and not self.api_keys:
            raise ValueError("metrics_require_auth needs at least one key in api_keys")
        if self.max_message_bytes > self.max_body_bytes:
            raise ValueError(
                f"max_message_bytes ({self.max_message_bytes}) must not exceed "
                f"max_body_bytes ({self.max_body_bytes})"
            )
        return self

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)
