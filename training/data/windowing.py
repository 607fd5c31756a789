"""Cutting continuous recordings into fixed-length, optionally overlapping windows."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt


def seconds_to_samples(seconds: float, sampling_rate_hz: float, what: str) -> int:
    """Convert a duration to a whole, positive number of samples, or refuse.

    Raises:
        ValueError: if the duration is not positive or not a whole number of samples.
    """
    samples = seconds * sampling_rate_hz
    rounded = round(samples)
    if not seconds > 0 or rounded < 1:
        raise ValueError(f"{what} must be positive, got {seconds} s")
    if not math.isclose(samples, rounded, rel_tol=0.0, abs_tol=1e-6):
        step = 1.0 / sampling_rate_hz
        raise ValueError(
            f"{what}={seconds} s is {samples:g} samples at {sampling_rate_hz:g} Hz; "
            f"use a multiple of {step:g} s"
        )
    return int(rounded)


def num_windows(length: int, window: int, hop: int) -> int:
    """How many windows of `window` samples, `hop` apart, fit in `length` samples."""
    return 0 if length < window else 1 + (length - window) // hop


def sliding_windows(
    recording: npt.NDArray[np.float32], window: int, hop: int
) -> npt.NDArray[np.float32]:
    """Windows of a (L, C) recording as a new (n, window, C) array; a short tail is dropped."""
    count = num_windows(recording.shape[0], window, hop)
    starts = np.arange(count) * hop
    windows: npt.NDArray[np.float32] = recording[starts[:, None] + np.arange(window)]
    return windows  # (n, window, C)
