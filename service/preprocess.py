"""Turn one sensor's raw samples into the encoder's input window: pure numpy, no I/O."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ralis.bundle import ViewSpec
from service.errors import InputError

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]


def as_samples(view: ViewSpec, samples: object, max_abs: float) -> FloatArray:
    """Check a sensor's (N, C) samples: a non-empty rectangle of finite numbers of magnitude
    at most `max_abs`, C = channels.

    The magnitude bound matters: finite but huge values (1e308) overflow to inf in float32 and
    the model would answer NaN. This runs for every chunk of every stream, so the accepted
    path is a handful of numpy calls; messages are only built for a refusal.
    """
    try:
        array = np.asarray(samples, dtype=np.float64)
    except OverflowError:  # an integer with hundreds of digits
        raise InputError(
            "out_of_range",
            f"sensor '{view.name}': a value is too large for a number; values must lie within "
            f"+-{max_abs:g}",
        ) from None
    except (ValueError, TypeError):
        raise InputError(
            "bad_shape",
            f"sensor '{view.name}': rows have different lengths or hold something other than "
            f"numbers; expected {_expected(view)}",
        ) from None
    if array.ndim != 2 or array.shape[0] == 0:
        raise InputError(
            "bad_shape",
            f"sensor '{view.name}': got shape {array.shape}; expected {_expected(view)}",
        )
    if array.shape[1] != len(view.channels):
        raise InputError(
            "bad_shape",
            f"sensor '{view.name}': rows have {array.shape[1]} values; expected {_expected(view)}",
        )
    # One reduction for all three checks: NaN propagates through `maximum` and fails `<=`,
    # as do infinities and values that are too large.
    if not np.maximum.reduce(np.abs(array), axis=None) <= max_abs:
        raise _bad_value(view, array, max_abs)
    return array


def _expected(view: ViewSpec) -> str:
    return f"a list of rows of {len(view.channels)} numbers ({', '.join(view.channels)})"


def _bad_value(view: ViewSpec, array: FloatArray, max_abs: float) -> InputError:
    """The refusal of the first sample that is not finite or is out of range."""
    row, column = (int(i) for i in np.argwhere(~(np.abs(array) <= max_abs))[0])
    value = array[row, column]
    where = f"sample {row}, channel '{view.channels[column]}'"
    if not math.isfinite(value):
        return InputError(
            "non_finite",
            f"sensor '{view.name}': non-finite value at {where}; only finite numbers are accepted",
        )
    return InputError(
        "out_of_range",
        f"sensor '{view.name}': value {value:.3g} at {where} is out of range; values must "
        f"lie within +-{max_abs:g}",
    )


def check_rate(view: ViewSpec, rate_hz: float, max_rate_hz: float, min_rate_hz: float) -> float:
    """Refuse a sampling rate that is not a finite number in [`min_rate_hz`, `max_rate_hz`].

    The floor keeps a few samples from standing for a long span: resampled onto the model's
    grid they carry no activity, and on a stream they would make many windows at once.
    """
    if not math.isfinite(rate_hz) or not 0.0 < min_rate_hz <= rate_hz <= max_rate_hz:
        raise InputError(
            "bad_rate",
            f"sensor '{view.name}': sampling rate {rate_hz:g} Hz is not accepted; "
            f"give a rate in [{min_rate_hz:g}, {max_rate_hz:g}] Hz "
            f"(the model's is {view.sampling_rate_hz:g} Hz)",
        )
    return rate_hz


def interpolate(times: FloatArray, values: FloatArray, grid: FloatArray) -> FloatArray:
    """Linear interpolation of (N, C) `values` at `times` onto `grid`; edge values outside."""
    out = np.empty((grid.shape[0], values.shape[1]), dtype=np.float64)
    for channel in range(values.shape[1]):
        out[:, channel] = np.interp(grid, times, values[:, channel])
    return out


def fit_window(
    view: ViewSpec, samples: FloatArray, rate_hz: float, min_window_fraction: float
) -> FloatArray:
    """Resample (N, C) samples to the model's rate and length, keeping the most recent ones.

    A window covering less than the model's window is padded at its start by edge values if
    it covers at least `min_window_fraction` of it, and refused otherwise.
    """
    target = view.window_samples
    window_s = target / view.sampling_rate_hz
    covered_s = samples.shape[0] / rate_hz
    # A tiny tolerance so 90 samples at 25 Hz count as exactly 0.9 of a 100-sample window.
    if covered_s + 1e-9 < min_window_fraction * window_s:
        needed = math.ceil(min_window_fraction * window_s * rate_hz - 1e-9)
        raise InputError(
            "short_window",
            f"sensor '{view.name}': window has {samples.shape[0]} samples at {rate_hz:g} Hz "
            f"({covered_s:.2f} s); at least {needed} ({min_window_fraction:g} of the "
            f"{window_s:g} s window) are needed",
        )
    if math.isclose(rate_hz, view.sampling_rate_hz, rel_tol=1e-9):
        resampled = samples[-target:]
    else:
        # Output grid at the model's rate, ending at the last input sample; only the
        # samples that can survive the cut to `target` are computed.
        n_out = min(target, max(1, round(samples.shape[0] * view.sampling_rate_hz / rate_hz)))
        times = np.arange(samples.shape[0], dtype=np.float64) / rate_hz
        grid = times[-1] - np.arange(n_out - 1, -1, -1, dtype=np.float64) / view.sampling_rate_hz
        resampled = interpolate(times, samples, grid)
    missing = target - resampled.shape[0]
    if missing > 0:
        resampled = np.pad(resampled, ((missing, 0), (0, 0)), mode="edge")
    return resampled


def normalise(view: ViewSpec, window: FloatArray) -> Float32Array:
    """(T, C) raw window -> (C, T) float32 normalised with the view's mean and std."""
    out: Float32Array = normalise_batch(view, window[np.newaxis])[0]
    return out


def normalise_batch(view: ViewSpec, windows: FloatArray) -> Float32Array:
    """(B, T, C) raw windows -> (B, C, T) float32 encoder input, normalised with the view's mean
    and std: one numpy pass per view and batch instead of one per window."""
    mean = np.asarray(view.norm_mean, dtype=np.float64)
    std = np.asarray(view.norm_std, dtype=np.float64)
    return np.ascontiguousarray(((windows - mean) / std).transpose(0, 2, 1), dtype=np.float32)


def fit_samples(
    view: ViewSpec, samples: object, rate_hz: float, min_window_fraction: float, max_abs: float
) -> FloatArray:
    """Validate, resample and fit one sensor's samples into a raw (T, C) model window."""
    return fit_window(view, as_samples(view, samples, max_abs), rate_hz, min_window_fraction)


def prepare_window(
    view: ViewSpec, samples: object, rate_hz: float, min_window_fraction: float, max_abs: float
) -> Float32Array:
    """Validate, resample, fit and normalise one sensor's window into the encoder's (C, T) input."""
    return normalise(view, fit_samples(view, samples, rate_hz, min_window_fraction, max_abs))
