"""Per-connection stream state: sensor samples on a sample-time timeline, windows every hop.

Pure logic, no I/O. Samples are placed at ``t0 + i / rate_hz`` (or right after the sensor's
previous chunk when ``t0`` is absent). Window ends are multiples of the hop in *sample time*,
so a recording replayed at any speed yields the same windows.

A window ending at ``t_end`` is emitted once every sensor has either reached ``t_end`` or
gone stale (no data for more than ``stale_after_s`` before ``t_end``), or once some sensor is
already ``stale_after_s`` past it. It uses the sensors that are not stale and whose samples
cover at least ``min_window_fraction`` of the window; gaps are bridged by linear
interpolation and the window is resampled onto the model's grid.

Work per message is bounded so that one hostile message cannot stall the server: a chunk may
cover at most `max_chunk_span_s` of sample time, its rate is at least `min_rate_hz`, a stream
holds at most `max_buffer_bytes` of samples, and one message makes at most
`max_windows_per_message` windows (the oldest due windows beyond that are skipped and
counted). Windows are sliced out of the sorted sample times by binary search, so building one
costs O(log N + window), not O(N).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ralis.bundle import ViewSpec
from service.errors import InputError, shown
from service.preprocess import FloatArray, as_samples, check_rate, interpolate

# Timestamps closer than this (seconds) are the same instant.
EPS_S = 1e-6
# Sample times beyond this lose the resolution EPS_S needs (float64 spacing near 2**32 s is
# 1e-6 s); 2**32 s still holds Unix time in seconds until 2106.
MAX_TIME_S = 2.0**32


# What one buffered sample costs: its values plus its time and duration, all float64.
_FLOAT_BYTES = 8


@dataclass(frozen=True)
class StreamLimits:
    """Bounds on what one message and one stream may cost (see the module docstring)."""

    max_rate_hz: float = 2000.0
    min_rate_hz: float = 5.0
    max_abs_sample: float = 1e6
    max_chunk_span_s: float = 10.0
    max_windows_per_message: int = 16
    max_buffer_bytes: int = 4 * 1024 * 1024


@dataclass(frozen=True)
class DueWindow:
    """A window ready for prediction: raw (T_v, C_v) samples at the model's rate by view."""

    t_end: float
    windows: dict[str, FloatArray]


class _SensorBuffer:
    """Recent samples of one sensor with their times (s) and durations (s).

    Samples live in arrays with spare room at the end: a chunk is copied in place and old
    samples are dropped by moving the start, so a chunk costs no reallocation (this runs for
    every message of every stream). A chunk's sample times are its start plus offsets that
    are the same for every chunk of that size and rate: they are computed once.
    """

    def __init__(self, view: ViewSpec) -> None:
        self.view = view
        self.window_s = view.window_samples / view.sampling_rate_hz
        self.grid_steps = np.arange(view.window_samples) / view.sampling_rate_hz  # window grid
        self.rate_hz: float | None = None
        self.reached = -math.inf  # end of the last sample
        self._times: FloatArray = np.empty(0)
        self._values: FloatArray = np.empty((0, len(view.channels)))
        self._durations: FloatArray = np.empty(0)
        self._start = 0
        self._end = 0
        self.bytes_per_sample = (len(view.channels) + 2) * _FLOAT_BYTES
        self._offsets: dict[tuple[int, float], FloatArray] = {}  # (rows, rate) -> i / rate

    @property
    def times(self) -> FloatArray:
        return self._times[self._start : self._end]

    @property
    def values(self) -> FloatArray:
        return self._values[self._start : self._end]

    @property
    def durations(self) -> FloatArray:
        return self._durations[self._start : self._end]

    @property
    def size(self) -> int:
        return self._end - self._start

    def window_slice(self, t_end: float) -> slice:
        """Indices (into the live samples) of the samples inside the window ending at `t_end`.

        Sample times are strictly increasing (chunks move forward, see `SampleTimeline.append`),
        so two binary searches find them.
        """
        times = self.times
        first = int(times.searchsorted(t_end - self.window_s - EPS_S, side="left"))
        stop = int(times.searchsorted(t_end - EPS_S, side="left"))
        return slice(first, stop)

    def append(self, start: float, values: FloatArray, rate_hz: float, reached: float) -> None:
        """Add (N, C) `values` sampled at `rate_hz` from `start`; `reached` is where they end
        (`chunk_end`), checked by the caller."""
        count = values.shape[0]
        if self._end + count > self._times.shape[0]:
            self._grow(count)
        end = self._end + count
        np.add(self._chunk_offsets(count, rate_hz), start, out=self._times[self._end : end])
        self._values[self._end : end] = values
        self._durations[self._end : end] = 1.0 / rate_hz
        self._end = end
        self.rate_hz = rate_hz
        self.reached = reached

    def _chunk_offsets(self, count: int, rate_hz: float) -> FloatArray:
        offsets = self._offsets.get((count, rate_hz))
        if offsets is None:
            if len(self._offsets) >= 8:  # a client varying its chunks: keep the cache small
                self._offsets.clear()
            offsets = np.arange(count, dtype=np.float64) / rate_hz
            self._offsets[count, rate_hz] = offsets
        return offsets

    def _grow(self, count: int) -> None:
        """Move the live samples to fresh arrays with room for `count` more, and as much again."""
        live = self.size
        capacity = max(64, 2 * (live + count))
        times, durations = np.empty(capacity), np.empty(capacity)
        values = np.empty((capacity, self._values.shape[1]))
        times[:live], values[:live], durations[:live] = self.times, self.values, self.durations
        self._times, self._values, self._durations = times, values, durations
        self._start, self._end = 0, live

    def drop_before(self, t: float) -> int:
        """Forget samples before `t`, keeping one earlier sample as an interpolation anchor;
        returns how many were dropped."""
        start = self._start
        if self._end - start < 2 or self._times[start + 1] >= t - EPS_S:
            return 0  # the usual case: nothing before `t` but the anchor (no search needed)
        dropped = max(int(self.times.searchsorted(t - EPS_S)) - 1, 0)
        self._start += dropped
        return dropped


class SampleTimeline:
    """Sample-time windows over the sensors of one stream."""

    def __init__(
        self,
        views: Sequence[ViewSpec],
        *,
        hop_s: float,
        stale_after_s: float,
        min_window_fraction: float,
        limits: StreamLimits | None = None,
    ) -> None:
        self._views = {view.name: view for view in views}
        self._buffers: dict[str, _SensorBuffer] = {}
        self._stale_after_s = stale_after_s
        self._min_fraction = min_window_fraction
        self._limits = limits or StreamLimits()
        self._hop_s = hop_s
        # Due windows that the last `collect` skipped because of max_windows_per_message.
        self.skipped_windows = 0
        self._next_k: int | None = None  # next window ends at next_k * hop_s
        self._last_t_end: float | None = None
        self._trimmed_for: float | None = None  # the _last_t_end all buffers were trimmed for
        self._appended: list[_SensorBuffer] = []  # buffers changed since the last collect
        self._frontier = -math.inf  # the furthest any sensor has reached
        self._buffered_bytes = 0  # kept up to date: it is checked on every chunk

    @property
    def hop_s(self) -> float:
        return self._hop_s

    @property
    def stale_after_s(self) -> float:
        return self._stale_after_s

    def set_stale_after(self, stale_after_s: float) -> None:
        """Change how long a silent sensor is waited for and kept in windows."""
        self._stale_after_s = stale_after_s

    def set_hop(self, hop_s: float) -> None:
        """Change the hop; the next window ends at the first multiple of it after the last one."""
        self._hop_s = hop_s
        if self._last_t_end is not None:
            self._next_k = math.floor((self._last_t_end + EPS_S) / hop_s) + 1
        else:
            self._next_k = None

    def add(
        self, sensor: str, samples: object, t0: float | None = None, rate_hz: float | None = None
    ) -> list[DueWindow]:
        """Add a chunk of (N, C) samples of `sensor`; returns the windows that became due.

        Raises:
            InputError: unknown sensor, bad samples or rate, or a chunk that goes back in time.
                The stream is unchanged then.
        """
        self.append(sensor, samples, t0, rate_hz)
        return self.collect()

    def append(
        self, sensor: str, samples: object, t0: float | None = None, rate_hz: float | None = None
    ) -> None:
        """Add a chunk without looking for due windows (`collect` does): for several chunks
        that arrived together, such as one binary frame's.

        Raises:
            InputError: as `add`; the stream is unchanged then.
        """
        view = self._views.get(sensor)
        if view is None:
            raise InputError(
                "unknown_sensor",
                f"unknown sensor {shown(sensor)}; known: {', '.join(self._views)}",
            )
        limits = self._limits
        values = as_samples(view, samples, limits.max_abs_sample)
        buffer = self._buffers.get(sensor) or _SensorBuffer(view)
        if rate_hz is None:
            rate_hz = buffer.rate_hz if buffer.rate_hz is not None else view.sampling_rate_hz
        if rate_hz == buffer.rate_hz:
            rate = rate_hz  # checked when the sensor's first chunk at this rate came
        else:
            rate = check_rate(view, rate_hz, limits.max_rate_hz, limits.min_rate_hz)
        span_s = values.shape[0] / rate
        if span_s > limits.max_chunk_span_s + EPS_S:
            raise InputError(
                "stream_limit",
                f"sensor {sensor!r}: this chunk of {values.shape[0]} samples at {rate:g} Hz "
                f"covers {span_s:g} s of sample time; one chunk may cover at most "
                f"{limits.max_chunk_span_s:g} s; send smaller chunks",
            )
        added_bytes = values.shape[0] * buffer.bytes_per_sample
        buffered = self._buffered_bytes
        if buffered + added_bytes > limits.max_buffer_bytes:
            raise InputError(
                "stream_limit",
                f"sensor {sensor!r}: this chunk ({added_bytes} bytes buffered) would take the "
                f"stream's buffer to {buffered + added_bytes} bytes, over its "
                f"{limits.max_buffer_bytes} bytes; a sensor far ahead of the others or a very "
                "high rate fills it: lower stale_after_s, the rate or the chunk size",
            )
        if t0 is None:
            start = buffer.reached if buffer.size else 0.0
        elif not math.isfinite(t0) or abs(t0) > MAX_TIME_S:
            raise InputError(
                "stream_time",
                f"sensor {sensor!r}: t0={t0:g} is not accepted; t0 must be a finite number of "
                f"seconds within +-{MAX_TIME_S:.0f} (2^32)",
            )
        else:
            start = t0
            # Half a sample of overlap is clock jitter; more is a chunk going back in time.
            # Half of the shorter sample period: after a rate drop, half of the new period
            # could reach back past the previous chunk's last sample and unsort the times.
            period = 1.0 / rate if buffer.rate_hz is None else 1.0 / max(rate, buffer.rate_hz)
            if start < buffer.reached - 0.5 * period:
                raise InputError(
                    "stream_time",
                    f"sensor {sensor!r}: chunk starts at t0={start:g} s but the previous one "
                    f"ends at {buffer.reached:g} s; a sensor's chunks must move forward in time",
                )
        end = chunk_end(start, values.shape[0], rate)
        if not abs(end) <= MAX_TIME_S:
            raise InputError(
                "stream_time",
                f"sensor {sensor!r}: this chunk would end at {end:g} s; sample times must stay "
                f"within +-{MAX_TIME_S:.0f} s (2^32)",
            )
        buffer.append(start, values, rate, end)
        self._buffered_bytes += added_bytes
        self._buffers[sensor] = buffer
        self._appended.append(buffer)
        self._frontier = max(self._frontier, end)

    def buffered_bytes(self) -> int:
        """Bytes of samples this stream holds (values, times and durations)."""
        return self._buffered_bytes

    def collect(self) -> list[DueWindow]:
        """The windows that the chunks added so far have made due, oldest first.

        At most `max_windows_per_message` are returned: the newest ones; how many older due
        windows were skipped is left in `skipped_windows`.
        """
        self.skipped_windows = 0
        if not self._appended:
            return []
        ends = self._due_ends()
        cap = self._limits.max_windows_per_message
        self.skipped_windows = max(0, len(ends) - cap)
        due = []
        for t_end in ends[self.skipped_windows :]:
            windows = self._windows_at(t_end)
            if windows:
                due.append(DueWindow(t_end, windows))
        self._trim()
        return due

    # --- timeline --------------------------------------------------------------------

    def _due_ends(self) -> list[float]:
        """Ends of the windows now due, oldest first; moves the timeline past them."""
        frontier = self._frontier
        due: list[float] = []
        if self._next_k is not None and self._next_k * self._hop_s > frontier + EPS_S:
            return due  # the usual message: no sensor has reached the next window's end
        while True:
            earliest = self._earliest_useful_end()
            if earliest is None:
                break
            first_k = math.ceil((earliest - EPS_S) / self._hop_s)
            if self._next_k is None or self._next_k < first_k:
                self._next_k = first_k  # jump over spans where no window can be covered
            t_end = self._next_k * self._hop_s
            if self._last_t_end is not None and t_end <= self._last_t_end:
                break  # no progress possible (float resolution): never spin the event loop
            if t_end > frontier + EPS_S or not self._ready(t_end, frontier):
                break
            due.append(t_end)
            self._last_t_end = t_end
            self._next_k += 1
        return due

    def _earliest_useful_end(self) -> float | None:
        """The earliest window end, from the next one on, that some sensor could cover."""
        next_end = -math.inf if self._next_k is None else self._next_k * self._hop_s
        best: float | None = None
        for buffer in self._buffers.values():
            window_s = buffer.window_s
            # Only samples inside a window ending at next_end or later can count.
            times = buffer.times
            index = int(times.searchsorted(next_end - window_s - EPS_S))
            if index < times.shape[0]:
                candidate = float(times[index]) + self._min_fraction * window_s
                best = candidate if best is None else min(best, candidate)
        return None if best is None else max(best, next_end)

    def _ready(self, t_end: float, frontier: float) -> bool:
        """No sensor still on its way to `t_end`, or waiting for it has lasted long enough."""
        if frontier >= t_end + self._stale_after_s - EPS_S:
            return True
        for buffer in self._buffers.values():
            pending = t_end - self._stale_after_s <= buffer.reached < t_end - EPS_S
            if pending:
                return False
        return True

    def _windows_at(self, t_end: float) -> dict[str, FloatArray]:
        windows: dict[str, FloatArray] = {}
        for name in self._views:  # manifest order
            buffer = self._buffers.get(name)
            if buffer is None or buffer.reached < t_end - self._stale_after_s:
                continue  # absent or stale
            window_s = buffer.window_s
            inside = buffer.window_slice(t_end)
            if inside.stop == inside.start:
                continue
            durations = buffer.durations
            covered_s = float(durations[inside].sum())
            if covered_s + EPS_S < self._min_fraction * window_s:
                continue
            times, values = buffer.times, buffer.values
            grid = t_end - window_s + buffer.grid_steps
            inside_times = times[inside]
            if inside_times.shape == grid.shape and np.abs(inside_times - grid).max() <= EPS_S:
                windows[name] = values[inside]  # the usual case: samples on the grid
                continue
            # Older samples may not bleed in across a gap: from one sample before the window on,
            # so a window starting in a gap is padded by its first sample's values. One sample
            # after the window is the last grid point's right-hand anchor.
            start_s = t_end - window_s - float(durations[inside.start]) - EPS_S
            first = int(times.searchsorted(start_s, side="left"))
            near = slice(first, min(inside.stop + 1, times.shape[0]))
            windows[name] = interpolate(times[near], values[near], grid)
        return windows

    def _trim(self) -> None:
        # Keep what the window after the last one needs, whatever the hop becomes. Trimming is
        # idempotent, so after chunks that emitted nothing only their buffers can change.
        appended, self._appended = self._appended, []
        if self._last_t_end is None:
            return
        if self._trimmed_for == self._last_t_end:
            for buffer in appended:
                self._drop_before(buffer, self._last_t_end - buffer.window_s)
            return
        for buffer in self._buffers.values():
            self._drop_before(buffer, self._last_t_end - buffer.window_s)
        self._trimmed_for = self._last_t_end

    def _drop_before(self, buffer: _SensorBuffer, t: float) -> None:
        self._buffered_bytes -= buffer.drop_before(t) * buffer.bytes_per_sample


def chunk_end(start: float, rows: int, rate_hz: float) -> float:
    """Where a chunk of `rows` samples from `start` ends: its last sample's time
    (`start + (rows - 1) / rate_hz`, as the buffer stores it) plus one sample period."""
    return start + (rows - 1) / rate_hz + 1.0 / rate_hz
