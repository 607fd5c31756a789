"""Window preparation: validation, resampling, padding, cutting, normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from ralis.bundle import ViewSpec
from service.errors import InputError
from service.preprocess import as_samples, check_rate, fit_window, normalise, prepare_window

VIEW = ViewSpec(
    name="torso",
    modality="acc",
    channels=["x", "y", "z"],
    sampling_rate_hz=25.0,
    window_samples=100,
    norm_mean=[1.0, 2.0, 3.0],
    norm_std=[2.0, 4.0, 8.0],
    encoder_file="e.onnx",
)


def ramp(n: int, rate_hz: float) -> np.ndarray:
    """(n, 3) samples whose channels are linear in time: t, 2t, -t."""
    t = np.arange(n) / rate_hz
    return np.stack([t, 2 * t, -t], axis=1)


def test_exact_window_passes_through() -> None:
    samples = np.random.default_rng(0).normal(size=(100, 3))
    assert np.array_equal(fit_window(VIEW, samples, 25.0, 0.9), samples)


def test_longer_window_keeps_the_most_recent_samples() -> None:
    samples = ramp(130, 25.0)
    assert np.array_equal(fit_window(VIEW, samples, 25.0, 0.9), samples[-100:])


def test_short_window_is_padded_at_the_start_by_edge_values() -> None:
    samples = ramp(92, 25.0)
    window = fit_window(VIEW, samples, 25.0, 0.9)
    assert window.shape == (100, 3)
    assert np.array_equal(window[8:], samples)
    assert np.array_equal(window[:8], np.repeat(samples[:1], 8, axis=0))


def test_exactly_the_fraction_is_enough_and_less_is_refused() -> None:
    assert fit_window(VIEW, ramp(90, 25.0), 25.0, 0.9).shape == (100, 3)
    with pytest.raises(InputError, match=r"89 samples at 25 Hz \(3.56 s\); at least 90") as info:
        fit_window(VIEW, ramp(89, 25.0), 25.0, 0.9)
    assert info.value.kind == "short_window"


def test_higher_rate_is_resampled_linearly() -> None:
    samples = ramp(200, 50.0)  # 4 s at 50 Hz
    window = fit_window(VIEW, samples, 50.0, 0.9)
    # The grid ends at the last input sample and steps back by 1/25 s.
    t_last = 199 / 50.0
    expected_t = t_last - np.arange(99, -1, -1) / 25.0
    assert window.shape == (100, 3)
    np.testing.assert_allclose(window[:, 0], expected_t, atol=1e-12)
    np.testing.assert_allclose(window[:, 1], 2 * expected_t, atol=1e-12)


def test_lower_rate_is_upsampled() -> None:
    samples = ramp(40, 10.0)  # 4 s at 10 Hz
    window = fit_window(VIEW, samples, 10.0, 0.9)
    assert window.shape == (100, 3)
    t_last = 39 / 10.0
    expected_t = np.clip(t_last - np.arange(99, -1, -1) / 25.0, 0.0, None)
    np.testing.assert_allclose(window[:, 0], expected_t, atol=1e-12)


def test_short_window_at_another_rate_is_refused_by_duration() -> None:
    with pytest.raises(InputError, match="at 50 Hz"):
        fit_window(VIEW, ramp(150, 50.0), 50.0, 0.9)  # 3 s


def test_normalise_transposes_and_scales() -> None:
    window = np.tile([[3.0, 6.0, 11.0]], (100, 1))
    out = normalise(VIEW, window)
    assert out.shape == (3, 100) and out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out[:, 0], [1.0, 1.0, 1.0])


def test_prepare_window_end_to_end() -> None:
    samples = ramp(100, 25.0)
    out = prepare_window(VIEW, samples.tolist(), 25.0, 0.9, 1e6)
    expected = ((samples - [1.0, 2.0, 3.0]) / [2.0, 4.0, 8.0]).T.astype(np.float32)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    ("samples", "kind", "message"),
    [
        ([[1.0, 2.0]] * 100, "bad_shape", r"rows have 2 values; expected a list of rows of 3"),
        ([[1.0, 2.0, 3.0], [1.0, 2.0]], "bad_shape", "rows have different lengths"),
        ([[1.0, 2.0, "x"]], "bad_shape", "something other than numbers"),
        ([], "bad_shape", r"got shape \(0,\)"),
        ([1.0, 2.0, 3.0], "bad_shape", r"got shape \(3,\)"),
        ([[1.0, float("nan"), 3.0]] * 100, "non_finite", "sample 0, channel 'y'"),
        ([[1.0, 2.0, 3.0]] * 5 + [[float("inf"), 2.0, 3.0]], "non_finite", "sample 5, channel 'x'"),
        # Finite but beyond float32 or any sensor: the model would answer NaN (issue 13, #5).
        ([[1e308, 1e308, 1e308]] * 100, "out_of_range", r"sample 0, channel 'x' .* \+-1e\+06"),
        ([[0.0, 0.0, 3e38]] * 100, "out_of_range", "sample 0, channel 'z'"),
        ([[0.0, 0.0, 0.0]] * 7 + [[0.0, -2e6, 0.0]], "out_of_range", "sample 7, channel 'y'"),
        ([[10**400, 0, 0]], "out_of_range", "too large for a number"),
    ],
)
def test_bad_samples_are_refused(samples: object, kind: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        as_samples(VIEW, samples, 1e6)
    assert info.value.kind == kind
    assert "torso" in info.value.detail


@pytest.mark.parametrize("rate", [0.0, -25.0, float("nan"), float("inf"), 1e6, 1.0, 4.99])
def test_bad_rates_are_refused(rate: float) -> None:
    with pytest.raises(InputError, match=r"sampling rate .* \[5, 2000\] Hz") as info:
        check_rate(VIEW, rate, 2000.0, 5.0)
    assert info.value.kind == "bad_rate"


@pytest.mark.parametrize("rate", [5.0, 25.0, 2000.0])
def test_rates_within_the_bounds_are_kept(rate: float) -> None:
    assert check_rate(VIEW, rate, 2000.0, 5.0) == rate
