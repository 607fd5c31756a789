"""Wall-clock timing of a callable: warm-up, then repeats until a count and a time are met."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Per-call seconds of the timed repeats."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def iqr(self) -> tuple[float, float]:
        """25th and 75th percentiles (the spread that load on the machine adds)."""
        if len(self.samples) < 2:
            return self.samples[0], self.samples[0]
        q = statistics.quantiles(self.samples, n=4)
        return q[0], q[2]


def time_call(
    fn: Callable[[], object],
    warmup: int = 2,
    min_repeats: int = 5,
    min_seconds: float = 0.5,
    max_repeats: int = 10_000,
    clock: Callable[[], float] = time.perf_counter,
) -> Timing:
    """Time `fn()` after `warmup` calls; repeat until `min_repeats` and `min_seconds` are met.

    `clock` measures each call (wall time by default; `time.process_time` gives CPU time,
    which other work on the machine does not inflate); the stopping rule is wall time.
    """
    if min_repeats < 1:
        raise ValueError(f"min_repeats must be >= 1, got {min_repeats}")
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < max_repeats and (
        len(samples) < min_repeats or time.perf_counter() - started < min_seconds
    ):
        t0 = clock()
        fn()
        samples.append(clock() - t0)
    return Timing(samples)
