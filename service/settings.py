"""Service settings, read from `RALIS_*` environment variables or passed explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_BUNDLE_DIR = Path(__file__).resolve().parent / "default_bundle"

ExecutionProvider = Literal["auto", "cpu", "cuda"]
PrecisionChoice = Literal["auto", "fp32", "int8"]
LogLevel = Literal["debug", "info", "warning", "error"]

# Shorter keys are guessable; refuse them rather than run with a false sense of safety.
MIN_API_KEY_CHARS = 16


class Settings(BaseSettings):
    """Everything the service needs to start; one instance is handed to `create_app`."""

    # allow_inf_nan=False: "inf" for a timeout or a limit is refused, not taken as "never".
    model_config = SettingsConfigDict(
        env_prefix="RALIS_", extra="ignore", frozen=True, allow_inf_nan=False
    )

    bundle_dir: Path = DEFAULT_BUNDLE_DIR
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: LogLevel = "info"
    # Server processes sharing the port (SO_REUSEPORT; service/workers.py). 1: one process, no
    # supervisor. Each worker loads its own model and enforces the stream caps below on its
    # own: the caps a client meets are per worker, the server's total is N times them.
    workers: int = Field(default=1, ge=1, le=64)

    # Inference runtime.
    execution_provider: ExecutionProvider = "auto"
    # Encoder precision: "auto" serves a bundle's int8 encoders on CPU when it has them
    # (service/runtime.py choose_precision), "fp32" the float ones, "int8" refuses to start
    # without int8 encoders.
    precision: PrecisionChoice = "auto"
    # Model threads: batches that run at once, each in its own thread through the same
    # sessions (onnxruntime's run is thread-safe and releases the GIL). Two let the model use
    # both cores of a small machine while the event loop parses: at 200 streams on 2 cores p99
    # fell 4x (BENCHMARKS.md section 13). `intra_op_threads` sizes each session's own pool,
    # which concurrent runs share: with 1 every model thread computes on itself (the fastest on
    # small machines); more, or 0 (onnxruntime's choice), oversubscribes the cores.
    model_threads: int = Field(default=2, ge=1, le=64)
    intra_op_threads: int = Field(default=1, ge=0, le=256)
    max_batch_size: int = Field(default=64, ge=1, le=4096)
    # How long a batch waits for more windows after its first: a model woken for one small
    # batch at a time costs 2-3x as much per prediction as one kept busy (bench/idle_gap.py,
    # BENCHMARKS.md section 17). No wait once every client that could submit (open streams,
    # prediction requests in flight) has a window in the batch: a lone client never waits.
    max_batch_wait_ms: float = Field(default=10.0, ge=0.0, le=1000.0)
    max_queue_size: int = Field(default=4096, ge=1)  # pending predictions before 503
    # How long the event loop may hold the GIL before the model thread gets it back after a
    # session call (Python's sys.setswitchinterval; its default is 5 ms). Each batch makes six
    # session calls, and with a busy loop each waited up to the full interval
    # (bench/model_thread.py).
    gil_switch_interval_ms: float = Field(default=5.0, ge=0.05, le=100.0)

    # Input preparation.
    min_window_fraction: float = Field(default=0.9, gt=0.0, le=1.0)
    max_sampling_rate_hz: float = Field(default=2000.0, gt=0.0, le=1e6)
    # Below this a window is a handful of samples standing for seconds (service/preprocess.py).
    min_sampling_rate_hz: float = Field(default=5.0, gt=0.0)
    # Samples beyond this magnitude are refused: float32-safe with room for the normalisation,
    # and far beyond any physical sensor (an accelerometer's 1e6 m/s^2 is 100,000 g).
    max_abs_sample: float = Field(default=1e6, gt=0.0, le=1e30)

    # Request limits. None: derived from the model (service/limits.py): the largest valid
    # request at `body_rate_margin` times the model's rates, plus room for JSON overhead.
    max_body_bytes: int | None = Field(default=None, ge=1024)
    max_batch_body_bytes: int | None = Field(default=None, ge=1024)
    body_rate_margin: float = Field(default=4.0, ge=1.0, le=100.0)
    max_batch_windows: int = Field(default=64, ge=1, le=10_000)
    # Bodies larger than this are parsed in a worker thread, off the event loop.
    offload_parse_bytes: int = Field(default=64 * 1024, ge=0)

    # Slow and idle HTTP clients (service/protocol.py): a request's headers must arrive within
    # `header_timeout_s` of the connection (or of the previous response); a body may pause at
    # most `body_timeout_s` between chunks; an idle keep-alive connection closes after
    # `keep_alive_timeout_s`.
    header_timeout_s: float = Field(default=10.0, gt=0.0, le=3600.0)
    body_timeout_s: float = Field(default=10.0, gt=0.0, le=3600.0)
    keep_alive_timeout_s: float = Field(default=5.0, gt=0.0, le=3600.0)

    # Streams. These caps hold per worker process (see `workers`), not across workers.
    max_streams: int = Field(default=256, ge=1)
    # Connections still authenticating hold no stream slot; they are capped on their own.
    max_pending_streams: int = Field(default=64, ge=1)
    # Open and authenticating streams from one client address; 0: no limit. Devices behind
    # one NAT or hub share an address: raise it (or set 0 behind a proxy that limits).
    max_streams_per_client: int = Field(default=64, ge=0)
    # Parsing holds the GIL (about 20 ms for 256 KiB, 75 ms for 1 MiB), in a thread or not;
    # 256 KiB is 5 s of one sensor at 2 kHz, 10,000 rows.
    max_message_bytes: int = Field(default=256 * 1024, ge=1024)
    stream_idle_timeout_s: float = Field(default=60.0, gt=0.0, le=86400.0)
    stream_auth_timeout_s: float = Field(default=5.0, gt=0.0, le=600.0)
    stale_after_s: float = Field(default=1.0, gt=0.0, le=60.0)
    hop_s: float = Field(default=1.0, ge=0.1, le=60.0)
    # Work per message and memory per stream (service/timeline.py).
    max_chunk_span_s: float = Field(default=10.0, ge=0.1, le=3600.0)
    max_windows_per_message: int = Field(default=16, ge=1, le=10_000)
    max_stream_buffer_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    shutdown_timeout_s: float = Field(default=10.0, gt=0.0, le=3600.0)

    # Access.
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(default=(), repr=False)
    metrics_require_auth: bool = False
    # Browser origins allowed to open streams (exact "scheme://host[:port]"); empty: any.
    # Clients that send no Origin header (not browsers) are not affected.
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(
                origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()
            )
        return value

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
        if self.min_sampling_rate_hz > self.max_sampling_rate_hz:
            raise ValueError(
                f"min_sampling_rate_hz ({self.min_sampling_rate_hz}) must not exceed "
                f"max_sampling_rate_hz ({self.max_sampling_rate_hz})"
            )
        return self

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)
