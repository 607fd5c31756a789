"""Settings: environment variables, validation of unsafe or inconsistent values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.settings import DEFAULT_BUNDLE_DIR, Settings

KEY_A = "a" * 20
KEY_B = "b" * 24


def test_defaults_point_at_the_packaged_bundle() -> None:
    settings = Settings()
    assert settings.bundle_dir == DEFAULT_BUNDLE_DIR
    assert settings.execution_provider == "auto"
    assert settings.min_window_fraction == 0.9
    assert settings.hop_s == 1.0
    assert not settings.auth_enabled


def test_environment_variables_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RALIS_PORT", "9001")
    monkeypatch.setenv("RALIS_EXECUTION_PROVIDER", "cuda")
    monkeypatch.setenv("RALIS_API_KEYS", f" {KEY_A} , {KEY_B},")
    monkeypatch.setenv("RALIS_METRICS_REQUIRE_AUTH", "true")
    settings = Settings()
    assert settings.port == 9001
    assert settings.execution_provider == "cuda"
    assert settings.api_keys == (KEY_A, KEY_B)
    assert settings.metrics_require_auth


def test_api_keys_are_not_in_the_repr() -> None:
    assert KEY_A not in repr(Settings(api_keys=(KEY_A,)))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("execution_provider", "tpu", "auto"),
        ("port", 0, "greater than or equal to 1"),
        ("min_window_fraction", 0.0, "greater than 0"),
        ("min_window_fraction", 1.5, "less than or equal to 1"),
        ("max_batch_size", 0, "greater than or equal to 1"),
        ("hop_s", 0.01, "greater than or equal to 0.1"),
        ("gil_switch_interval_ms", 0.0, "greater than or equal to 0.05"),
        ("api_keys", "short", "at least 16"),
        ("api_keys", "a key with spaces in it", "whitespace"),
    ],
)
def test_nonsense_is_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings.model_validate({field: value})


def test_metrics_auth_needs_keys() -> None:
    with pytest.raises(ValidationError, match="metrics_require_auth needs"):
        Settings(metrics_require_auth=True)


def test_rate_floor_below_the_ceiling() -> None:
    with pytest.raises(ValidationError, match="must not exceed max_sampling_rate_hz"):
        Settings(min_sampling_rate_hz=100.0, max_sampling_rate_hz=50.0)


@pytest.mark.parametrize(
    "field",
    [
        "shutdown_timeout_s",
        "stream_idle_timeout_s",
        "stream_auth_timeout_s",
        "header_timeout_s",
        "body_timeout_s",
        "keep_alive_timeout_s",
        "max_sampling_rate_hz",
        "max_batch_wait_ms",
        "stale_after_s",
    ],
)
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity"])
def test_non_finite_numbers_are_refused_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    # issue 13: RALIS_SHUTDOWN_TIMEOUT_S=inf crashed at start; inf was taken for other timeouts.
    monkeypatch.setenv(f"RALIS_{field.upper()}", value)
    with pytest.raises(ValidationError, match="finite number"):
        Settings()


def test_allowed_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RALIS_ALLOWED_ORIGINS", "https://app.example.com/, http://localhost:3000")
    assert Settings().allowed_origins == ("https://app.example.com", "http://localhost:3000")
