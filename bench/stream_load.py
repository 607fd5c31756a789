"""Replay-style WebSocket load: S streams of real DSADS sensors at real-time pace, one event loop.

Each stream is what `ralis replay` does for one person: every sensor sends a 0.2 s chunk
once its last sample has been "recorded", as a `{"type": "samples", ...}` message. Messages
are pre-encoded once per (recording, sensor, chunk), so the client spends its CPU on sockets.
Streams start at random phases (uniform over one hop by default, seeded): devices switched on
at unrelated times. Evenly spread phases would flatter the server (no two hops ever complete
together); a small `phase_spread_s` (say 0.2 s) gives synchronised streams, as for a group
of devices switched on at once.

Latency of a window is measured from sending the message that completes its hop (the last
sensor's chunk ending at `t_end`) to the prediction for `t_end` arriving.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.asyncio_runner import run
from ralis.client import dsads
from ralis.client.replay import CHUNK_S, MEAN_OFF_CHUNKS
from ralis.frames import SampleChunk, encode_frame

# json: a message per sensor chunk; json-chunks: one `chunks` message per tick; binary: a frame
# per tick.
FrameFormat = Literal["json", "json-chunks", "binary"]
# shared/ lies beside the repository (as on the development and CI machines).
DEFAULT_DATA = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "datasets"
    / "dsads"
    / "daily_sports_activities.zip"
)
TEST_SUBJECTS = (6, 7, 8)  # never trained on (training.config's default test split)
CONNECT_CONCURRENCY = 25  # handshakes in flight at once while opening streams
TIME_EPS_S = 1e-6


@dataclass(frozen=True)
class View:
    """A model view as the stream client needs it."""

    name: str
    columns: list[int]  # DSADS columns of its channels


def first_window_end(info: dict[str, Any], hop_s: float, min_window_fraction: float) -> float:
    """The first window end (a multiple of the hop) a stream starting at 0 s can fill."""
    window_s = min(float(v["window_samples"]) / float(v["sampling_rate_hz"]) for v in info["views"])
    return math.ceil(min_window_fraction * window_s / hop_s - TIME_EPS_S) * hop_s


def model_views(info: dict[str, Any]) -> list[View]:
    """The model's views (GET /v1/model) with their DSADS columns.

    Raises:
        ValueError: a view that is not a DSADS sensor.
    """
    views = []
    for view in info["views"]:
        columns = dsads.view_columns(view["name"], view["modality"], view["channels"])
        if columns is None:
            raise ValueError(f"view {view['name']!r} has no DSADS columns; cannot replay it")
        if view["sampling_rate_hz"] != dsads.RATE_HZ:
            raise ValueError(f"view {view['name']!r} is not at DSADS's {dsads.RATE_HZ:g} Hz")
        views.append(View(view["name"], columns))
    return views


@dataclass(frozen=True)
class Recording:
    """One subject doing one activity: (N, 45) DSADS rows at 25 Hz."""

    subject: int
    activity: int
    rows: npt.NDArray[np.float64]


def load_recordings(
    data: Path,
    count: int,
    subjects: Sequence[int] = TEST_SUBJECTS,
    seconds: float = float(dsads.SEGMENTS * dsads.SEGMENT_ROWS) / dsads.RATE_HZ,
) -> list[Recording]:
    """Up to `count` recordings of `subjects`, round-robin over subjects then activities.

    Each holds the first `seconds` (whole 5 s segments, in order) that the data has; pairs
    missing from the data (a subset fixture) are skipped. `data` is the DSADS zip or a folder
    with `data/aXX/pY/sZZ.txt`.

    Raises:
        ValueError: no recording of those subjects in `data`.
    """
    wanted = min(dsads.SEGMENTS, math.ceil(seconds * dsads.RATE_HZ / dsads.SEGMENT_ROWS))
    pairs = [(s, a) for a in range(1, len(dsads.ACTIVITIES) + 1) for s in subjects]
    recordings: list[Recording] = []
    for subject, activity in pairs:
        if len(recordings) == count:
            break
        rows = dsads.read_recording(data, activity, subject, wanted, complete=False)
        if len(rows):
            recordings.append(Recording(subject, activity, rows))
    if not recordings:
        raise ValueError(f"{data}: no DSADS recordings of subjects {list(subjects)}")
    return recordings


class MessageBook:
    """Pre-encoded samples by (recording, view, chunk), built on first use.

    `message` gives one sensor's JSON samples message (what `ralis replay` sends);
    `frame` gives the binary frame of several sensors' chunks (`ralis/frames.py`).
    """

    def __init__(self, recordings: Sequence[Recording], views: Sequence[View]) -> None:
        self.recordings = recordings
        self.views = views
        self.chunk_rows = round(CHUNK_S * dsads.RATE_HZ)
        self.chunks_per_recording = min(r.rows.shape[0] for r in recordings) // self.chunk_rows
        self._samples: dict[tuple[int, int, int], str] = {}
        self._floats: dict[tuple[int, int, int], npt.NDArray[np.float32]] = {}
        self._names = [view.name for view in views]

    def message(self, recording: int, view: int, chunk: int, t0: float) -> bytes:
        """The samples message of one chunk placed at sample time `t0` (UTF-8 JSON)."""
        chunk %= self.chunks_per_recording
        key = (recording, view, chunk)
        samples = self._samples.get(key)
        if samples is None:
            samples = json.dumps(self._chunk_values(recording, view, chunk).tolist())
            self._samples[key] = samples
        return (
            f'{{"type":"samples","sensor":"{self.views[view].name}","t0":{t0!r},'
            f'"rate_hz":{dsads.RATE_HZ!r},"samples":{samples}}}'
        ).encode()

    def chunks_message(self, recording: int, views: Sequence[int], chunk: int, t0: float) -> bytes:
        """One JSON `chunks` message holding the chunk of each of `views`, all at `t0`."""
        items = []
        for view in views:
            body = self.message(recording, view, chunk, t0).decode()
            items.append("{" + body[body.index('"sensor"') :])  # the samples message's fields
        return ('{"type":"chunks","chunks":[' + ",".join(items) + "]}").encode()

    def frame(
        self, recording: int, views: Sequence[int], chunk: int, t0: float, chunks: int = 1
    ) -> bytes:
        """One binary frame holding, for each of `views`, `chunks` consecutive chunks from
        `chunk` on as one chunk placed at `t0` (what the SDK sends once per hop)."""
        parts = []
        for view in views:
            pieces = [self._chunk_floats(recording, view, chunk + k) for k in range(chunks)]
            floats = pieces[0] if chunks == 1 else np.concatenate(pieces)
            parts.append(SampleChunk(self.views[view].name, floats, t0, dsads.RATE_HZ))
        return encode_frame(parts, self._names)

    def _chunk_values(self, recording: int, view: int, chunk: int) -> npt.NDArray[np.float64]:
        """One view's samples of chunk number `chunk` (within the recording), float64."""
        first = chunk * self.chunk_rows
        rows = self.recordings[recording].rows[first : first + self.chunk_rows]
        values: npt.NDArray[np.float64] = rows[:, self.views[view].columns]
        return values

    def _chunk_floats(self, recording: int, view: int, chunk: int) -> npt.NDArray[np.float32]:
        chunk %= self.chunks_per_recording
        key = (recording, view, chunk)
        floats = self._floats.get(key)
        if floats is None:
            floats = np.ascontiguousarray(self._chunk_values(recording, view, chunk), "<f4")
            self._floats[key] = floats
        return floats

    def window(
        self, recording: int, end_row: int, window_samples: int
    ) -> dict[str, list[list[float]]]:
        """Every view's window of `window_samples` rows ending before `end_row` (for HTTP)."""
        rows = self.recordings[recording].rows[end_row - window_samples : end_row]
        return {view.name: rows[:, view.columns].tolist() for view in self.views}


@dataclass
class StreamStats:
    """What one stream saw."""

    sent_at: dict[float, float] = field(default_factory=dict)  # t_end -> send time (perf_counter)
    measured: set[float] = field(default_factory=set)  # t_ends whose completing send counts
    arrived: dict[float, float] = field(default_factory=dict)  # t_end -> arrival (perf_counter)
    errors: Counter[str] = field(default_factory=Counter)
    lags_s: list[float] = field(default_factory=list)  # how late the client sent, measured ticks
    messages_sent: int = 0
    refused: str | None = None
    close_code: int | None = None


@dataclass
class LoadResult:
    """All streams of one run."""

    streams: int
    measure_s: float
    stats: list[StreamStats]

    @property
    def connected(self) -> int:
        return sum(s.refused is None for s in self.stats)

    @property
    def refused(self) -> Counter[str]:
        return Counter(s.refused for s in self.stats if s.refused is not None)

    @property
    def expected(self) -> int:
        return sum(len(s.measured) for s in self.stats)

    @property
    def received(self) -> int:
        return sum(len(s.measured & s.arrived.keys()) for s in self.stats)

    @property
    def dropped(self) -> int:
        return self.expected - self.received

    @property
    def errors(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for s in self.stats:
            total.update(s.errors)
        return total

    @property
    def latencies_s(self) -> npt.NDArray[np.float64]:
        values = [
            s.arrived[t] - s.sent_at[t] for s in self.stats for t in s.measured if t in s.arrived
        ]
        return np.asarray(values, dtype=np.float64)

    @property
    def lags_s(self) -> npt.NDArray[np.float64]:
        return np.asarray([lag for s in self.stats for lag in s.lags_s], dtype=np.float64)

    @property
    def messages_sent(self) -> int:
        return sum(s.messages_sent for s in self.stats)

    @property
    def predictions_per_s(self) -> float:
        return self.received / self.measure_s if self.measure_s > 0 else 0.0


@dataclass(frozen=True)
class LoadPlan:
    """How many streams, for how long, and how their sensors behave."""

    streams: int
    warmup_s: float
    measure_s: float
    hop_s: float = 1.0
    drop_rate: float = 0.0  # fraction of time each sensor is off (soak); 0: always on
    grace_s: float = 5.0  # after the last send, how long to wait for the last predictions
    seed: int = 0
    frame_format: FrameFormat = "json"
    first_t_end: float = 0.0  # no prediction is expected before the first window is covered
    # Start phases are uniform over [0, phase_spread_s); None: over one hop.
    phase_spread_s: float | None = None

    def phases(self) -> list[float]:
        """Each stream's start offset (s), random but reproducible from `seed`."""
        spread = self.hop_s if self.phase_spread_s is None else self.phase_spread_s
        rng = random.Random(self.seed)
        return [rng.uniform(0.0, spread) for _ in range(self.streams)]

    @property
    def ticks(self) -> int:
        return math.ceil((self.warmup_s + self.measure_s) / CHUNK_S)


# Hooks called inside the event loop: at the start and end of the measured span, and every
# `sample_every_s` with the seconds since the streams started.
Hook = Callable[[], None]
Sampler = Callable[[float], None]


async def receive_predictions(
    ws: ClientConnection, stats: StreamStats, on_measured: Callable[[int], None] | None = None
) -> None:
    """Record when each prediction arrives and count error frames, until the stream closes;
    `on_measured(message length)` is called for each prediction in `stats.measured`."""
    try:
        async for raw in ws:
            now = time.perf_counter()
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "prediction":
                t_end = round(float(message["t_end"]), 6)
                stats.arrived.setdefault(t_end, now)
                if on_measured is not None and t_end in stats.measured:
                    on_measured(len(raw))
            elif kind == "error":
                stats.errors[str(message.get("detail"))[:120]] += 1
    except ConnectionClosed as closed:
        stats.close_code = closed.rcvd.code if closed.rcvd else None


async def _open(
    url: str, stats: StreamStats, hop_s: float, gate: asyncio.Semaphore
) -> ClientConnection | None:
    """Connect and wait for `ready`; on refusal record why and return None."""
    async with gate:
        try:
            ws = await connect(url, max_size=None, open_timeout=60, ping_interval=None)
        except (OSError, InvalidStatus, TimeoutError) as exc:
            stats.refused = f"connect: {type(exc).__name__}"
            return None
        try:
            ready = json.loads(await asyncio.wait_for(ws.recv(), 60))
        except (ConnectionClosed, TimeoutError) as exc:
            stats.refused = f"no ready message: {type(exc).__name__}"
            await ws.close()
            return None
        if ready.get("type") != "ready":
            stats.refused = str(ready.get("detail", ready))[:120]
            await ws.close()
            return None
        if abs(float(ready["hop_s"]) - hop_s) > TIME_EPS_S:
            await ws.send(json.dumps({"type": "config", "hop_s": hop_s}))
        return ws


async def _send_stream(
    ws: ClientConnection,
    book: MessageBook,
    index: int,
    plan: LoadPlan,
    start: float,
    measure_from: float,
    measure_to: float,
    stats: StreamStats,
) -> None:
    recording = index % len(book.recordings)
    # Streams sharing a recording start at different places in it.
    first_chunk = (index // len(book.recordings)) * plan.ticks
    rng = random.Random(plan.seed * 100_003 + index)
    p_on = 1.0 / MEAN_OFF_CHUNKS
    p_off = p_on * plan.drop_rate / (1.0 - plan.drop_rate) if plan.drop_rate > 0 else 0.0
    on = [True] * len(book.views)
    hop_ticks = plan.hop_s / CHUNK_S
    for tick in range(plan.ticks):
        due = start + (tick + 1) * CHUNK_S
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        t0 = round(tick * CHUNK_S, 6)
        t_end = round((tick + 1) * CHUNK_S, 6)
        completes_hop = abs((tick + 1) / hop_ticks - round((tick + 1) / hop_ticks)) < TIME_EPS_S
        if plan.drop_rate > 0:
            on = [s != (rng.random() < (p_off if s else p_on)) for s in on]
        sending = [v for v in range(len(book.views)) if on[v]]
        if not sending:
            continue
        if plan.frame_format == "binary":
            messages = [book.frame(recording, sending, first_chunk + tick, t0)]
        elif plan.frame_format == "json-chunks":
            messages = [book.chunks_message(recording, sending, first_chunk + tick, t0)]
        else:
            messages = [book.message(recording, v, first_chunk + tick, t0) for v in sending]
        for position, message in enumerate(messages):
            if completes_hop and position == len(messages) - 1:
                now = time.perf_counter()
                stats.sent_at[t_end] = now
                if measure_from <= now < measure_to and t_end >= plan.first_t_end - TIME_EPS_S:
                    stats.measured.add(t_end)
                    stats.lags_s.append(now - due)
            try:
                await ws.send(message, text=plan.frame_format != "binary")
            except ConnectionClosed:
                return
            stats.messages_sent += 1


async def _run(
    url: str,
    book: MessageBook,
    plan: LoadPlan,
    on_measure_start: Hook | None,
    on_measure_end: Hook | None,
    sampler: Sampler | None,
    sample_every_s: float,
) -> LoadResult:
    stats = [StreamStats() for _ in range(plan.streams)]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    sockets = await asyncio.gather(*(_open(url, s, plan.hop_s, gate) for s in stats))
    live = [(i, ws) for i, ws in enumerate(sockets) if ws is not None]
    receivers = [asyncio.create_task(receive_predictions(ws, stats[i])) for i, ws in live]

    start = time.perf_counter() + 0.5
    measure_from = start + plan.warmup_s
    measure_to = measure_from + plan.measure_s
    phases = plan.phases()
    senders = [
        asyncio.create_task(
            _send_stream(ws, book, i, plan, start + phases[i], measure_from, measure_to, stats[i])
        )
        for i, ws in live
    ]

    async def mark(at: float, hook: Hook | None) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        if hook is not None:
            hook()

    async def sample_periodically() -> None:
        if sampler is None:
            return
        while True:
            sampler(time.perf_counter() - start)
            await asyncio.sleep(sample_every_s)

    marks = [
        asyncio.create_task(mark(measure_from, on_measure_start)),
        asyncio.create_task(mark(measure_to, on_measure_end)),
    ]
    sampling = asyncio.create_task(sample_periodically())
    await asyncio.gather(*senders, *marks)

    # Wait for the outstanding measured predictions, at most grace_s.
    deadline = time.perf_counter() + plan.grace_s
    while time.perf_counter() < deadline and any(
        not (stats[i].measured <= stats[i].arrived.keys()) for i, _ in live
    ):
        await asyncio.sleep(0.05)
    sampling.cancel()
    await asyncio.gather(*(ws.close() for _, ws in live), return_exceptions=True)
    await asyncio.gather(*receivers, return_exceptions=True)
    return LoadResult(plan.streams, plan.measure_s, stats)


def run_streams(
    url: str,
    book: MessageBook,
    plan: LoadPlan,
    on_measure_start: Hook | None = None,
    on_measure_end: Hook | None = None,
    sampler: Sampler | None = None,
    sample_every_s: float = 5.0,
) -> LoadResult:
    """Open `plan.streams` streams, replay for warm-up + measured span, collect what came back."""
    return run(_run(url, book, plan, on_measure_start, on_measure_end, sampler, sample_every_s))
