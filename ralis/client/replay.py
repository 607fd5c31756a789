"""`ralis replay`: stream real DSADS recordings to a running service as live sensors (SDK)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from ralis.client import dsads
from ralis.client.errors import RalisError
from ralis.client.http import RalisClient
from ralis.client.stream import StreamClient
from ralis.client.types import ModelInfo, Prediction

CHUNK_S = 0.2
QUIET_AFTER_LAST_S = 1.0  # how long to wait for the last predictions
MEAN_OFF_CHUNKS = 10.0  # a dropped sensor stays off for ~2 s on average


@dataclass(frozen=True)
class Chunk:
    """One samples message, sent when its last sample has been 'recorded'."""

    send_at_s: float  # sample time at which it is sent
    sensor: str
    t0: float
    samples: npt.NDArray[np.float64]


@dataclass(frozen=True)
class Segment:
    """A stretch of sample time during which one activity is replayed."""

    start_s: float
    end_s: float
    activity: int  # 1..19


@dataclass(frozen=True)
class Plan:
    """Everything to send, in order, and which activity is when."""

    chunks: list[Chunk]
    segments: list[Segment]

    def activity_at(self, t_end: float, window_s: float) -> int | None:
        """The activity of a window ending at `t_end`, if it lies within one segment."""
        for segment in self.segments:
            if segment.start_s - 1e-6 <= t_end - window_s and t_end <= segment.end_s + 1e-6:
                return segment.activity
        return None


def plan_replay(
    recordings: Sequence[tuple[int, npt.NDArray[np.float64]]],
    sensors: dict[str, list[int]],
    seconds: float,
    window_s: float,
    drop_rate: float = 0.0,
    seed: int = 0,
) -> Plan:
    """Messages for `seconds` of each (activity, (N, 45) recording), in 0.2 s chunks.

    Activities are separated by a gap longer than a window, so no window mixes two. With
    `drop_rate`, each sensor switches off and on at random (a Markov chain per chunk whose
    off-fraction is `drop_rate`).
    """
    rng = np.random.default_rng(seed)
    chunk_samples = round(CHUNK_S * dsads.RATE_HZ)
    p_on = 1.0 / MEAN_OFF_CHUNKS
    p_off = p_on * drop_rate / (1.0 - drop_rate) if drop_rate < 1.0 else 1.0
    chunks: list[Chunk] = []
    segments: list[Segment] = []
    offset = 0.0
    on = dict.fromkeys(sensors, True)
    for activity, recording in recordings:
        rows = min(recording.shape[0], round(seconds * dsads.RATE_HZ))
        for first in range(0, rows - chunk_samples + 1, chunk_samples):
            t0 = offset + first / dsads.RATE_HZ
            for sensor, columns in sensors.items():
                if drop_rate > 0.0:
                    flip = rng.random() < (p_off if on[sensor] else p_on)
                    on[sensor] = on[sensor] != flip
                if on[sensor]:
                    samples = recording[first : first + chunk_samples, columns]
                    chunks.append(Chunk(t0 + CHUNK_S, sensor, t0, samples))
        end = offset + rows / dsads.RATE_HZ
        segments.append(Segment(offset, end, activity))
        offset = end + window_s + 2.0
    return Plan(chunks, segments)


def true_labels(classes: Sequence[str]) -> list[str]:
    """The model's class name for DSADS activities 1..19 (by name, else by position)."""
    by_name = {c.lower(): c for c in classes}
    if all(a.lower() in by_name for a in dsads.ACTIVITIES):
        return [by_name[a.lower()] for a in dsads.ACTIVITIES]
    if len(classes) == len(dsads.ACTIVITIES):
        return list(classes)  # the model was trained with classes in folder order a01..a19
    raise ValueError(
        f"the model's {len(classes)} classes cannot be matched to DSADS's 19 activities"
    )


@dataclass
class Score:
    """Predictions compared with the true activity."""

    correct: int = 0
    total: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def _report(
    prediction: Prediction, plan: Plan, labels: list[str], window_s: float, out: TextIO
) -> bool | None:
    """Print one prediction next to the truth; whether it was right (None: no truth)."""
    t_end = prediction.t_end if prediction.t_end is not None else 0.0
    activity = plan.activity_at(t_end, window_s)
    truth = labels[activity - 1] if activity is not None else "?"
    ok = prediction.activity == truth
    out.write(
        f"t={t_end:8.1f}s  true={truth:<34} predicted={prediction.activity:<34} "
        f"p={prediction.probability:.2f}  sensors={','.join(prediction.views_used):<40} "
        f"{'ok' if ok else 'MISS'}\n"
    )
    out.flush()
    return ok if activity is not None else None


def _write(out: TextIO, text: str) -> None:
    out.write(text)


async def stream_plan(
    url: str,
    plan: Plan,
    labels: list[str],
    info: ModelInfo,
    speed: float,
    api_key: str | None,
    out: TextIO,
) -> Score:
    """Send the plan's chunks at `speed` x real time and score the predictions that come back."""
    score = Score()

    async def receive(stream: StreamClient) -> None:
        async for prediction in stream:
            ok = _report(prediction, plan, labels, info.window_seconds, out)
            if ok is not None:
                score.total += 1
                score.correct += int(ok)

    async with StreamClient(
        url,
        api_key=api_key,
        model_info=info,
        drain_s=QUIET_AFTER_LAST_S,
        on_error=lambda detail: _write(out, f"server error: {detail}\n"),
    ) as stream:
        receiver = asyncio.create_task(receive(stream))
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = plan.chunks[0].send_at_s if plan.chunks else 0.0
        for chunk in plan.chunks:
            delay = started + (chunk.send_at_s - first) / speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await stream.send(chunk.sensor, chunk.samples, t0=chunk.t0, rate_hz=dsads.RATE_HZ)
    await receiver
    return score


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ralis replay",
        description="Replay DSADS recordings to a running service as live sensors and score "
        "its predictions against the true activity.",
    )
    parser.add_argument("--data", type=Path, required=True, help="DSADS zip or its folder")
    parser.add_argument("--url", default="ws://127.0.0.1:8000/v1/stream", help="stream URL")
    parser.add_argument("--subject", type=int, default=7, help="subject 1-8 (default 7)")
    parser.add_argument(
        "--activities", default="", help="comma-separated activity numbers 1-19 (default: all)"
    )
    parser.add_argument(
        "--sensors", default="", help="comma-separated sensors to send (default: all the model's)"
    )
    parser.add_argument(
        "--drop-rate", type=float, default=0.0, help="fraction of time each sensor is off, [0, 1)"
    )
    parser.add_argument("--speed", type=float, default=1.0, help="times real time (default 1)")
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="seconds replayed per activity (max 300)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sensor drop-outs")
    parser.add_argument("--api-key", default=None, help="API key, when the service needs one")
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Replay, print every prediction next to the truth, end with the accuracy."""
    out = out or sys.stdout
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if not 0.0 <= args.drop_rate < 1.0 or args.speed <= 0 or args.seconds <= 0:
        sys.stderr.write("ralis replay: need 0 <= --drop-rate < 1, --speed > 0, --seconds > 0\n")
        return 2
    try:
        activities = [int(a) for a in args.activities.split(",") if a.strip()] or list(
            range(1, len(dsads.ACTIVITIES) + 1)
        )
        with RalisClient(args.url, api_key=args.api_key, timeout=10.0) as client:
            info = client.model_info()
        labels = true_labels(info.classes)
        views = {v.name: v for v in info.views}
        wanted = [s.strip() for s in args.sensors.split(",") if s.strip()] or list(views)
        unknown = [s for s in wanted if s not in views]
        if unknown:
            raise ValueError(f"unknown sensors {unknown}; the model has {list(views)}")
        sensors: dict[str, list[int]] = {}
        for name in wanted:
            view = views[name]
            columns = dsads.view_columns(name, view.modality, view.channels)
            if columns is None:
                raise ValueError(f"sensor {name!r} ({view.modality}) has no DSADS columns")
            sensors[name] = columns
        recordings = [(a, dsads.read_recording(args.data, a, args.subject)) for a in activities]
    except (OSError, ValueError, KeyError, RalisError) as exc:
        sys.stderr.write(f"ralis replay: {exc}\n")
        return 2

    plan = plan_replay(
        recordings, sensors, args.seconds, info.window_seconds, args.drop_rate, args.seed
    )
    out.write(
        f"replaying subject {args.subject}, {len(activities)} activities x {args.seconds:g} s, "
        f"sensors {','.join(sensors)}, drop rate {args.drop_rate:g}, {args.speed:g}x real time "
        f"to {args.url} (model {info.name} {info.version})\n"
    )
    try:
        score = asyncio.run(
            stream_plan(args.url, plan, labels, info, args.speed, args.api_key, out)
        )
    except (OSError, RalisError) as exc:
        sys.stderr.write(f"ralis replay: stream failed: {exc}\n")
        return 1
    out.write(f"accuracy: {score.correct}/{score.total} = {score.accuracy:.3f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
