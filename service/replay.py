"""`ralis replay`: stream real DSADS recordings to a running service as live sensors."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from service import dsads

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


def fetch_model_info(stream_url: str, api_key: str | None) -> dict[str, Any]:
    """GET /v1/model next to the stream URL."""
    parts = urllib.parse.urlsplit(stream_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    url = urllib.parse.urlunsplit((scheme, parts.netloc, "/v1/model", "", ""))
    request = urllib.request.Request(url)
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    with urllib.request.urlopen(request, timeout=10) as response:
        info: dict[str, Any] = json.load(response)
    return info


@dataclass
class Score:
    """Predictions compared with the true activity."""

    correct: int = 0
    total: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


async def _receive(
    ws: ClientConnection, plan: Plan, labels: list[str], window_s: float, out: TextIO, score: Score
) -> None:
    async for raw in ws:
        message = json.loads(raw)
        if message.get("type") == "error":
            out.write(f"server error: {message.get('detail')}\n")
            continue
        if message.get("type") != "prediction":
            continue
        activity = plan.activity_at(message["t_end"], window_s)
        truth = labels[activity - 1] if activity is not None else "?"
        predicted = message["activity"]
        ok = predicted == truth
        if activity is not None:
            score.total += 1
            score.correct += int(ok)
        probability = message["probabilities"][predicted]
        out.write(
            f"t={message['t_end']:8.1f}s  true={truth:<34} predicted={predicted:<34} "
            f"p={probability:.2f}  sensors={','.join(message['views_used']):<40} "
            f"{'ok' if ok else 'MISS'}\n"
        )
        out.flush()


async def stream_plan(
    url: str,
    plan: Plan,
    labels: list[str],
    window_s: float,
    speed: float,
    api_key: str | None,
    out: TextIO,
) -> Score:
    """Send the plan's chunks at `speed` x real time and score the predictions that come back."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    score = Score()
    async with connect(url, additional_headers=headers, max_size=None) as ws:
        ready = json.loads(await ws.recv())
        if ready.get("type") != "ready":
            raise RuntimeError(f"the service did not accept the stream: {ready}")
        receiver = asyncio.create_task(_receive(ws, plan, labels, window_s, out, score))
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = plan.chunks[0].send_at_s if plan.chunks else 0.0
        for chunk in plan.chunks:
            delay = started + (chunk.send_at_s - first) / speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            message = {
                "type": "samples",
                "sensor": chunk.sensor,
                "t0": chunk.t0,
                "rate_hz": dsads.RATE_HZ,
                "samples": chunk.samples.tolist(),
            }
            await ws.send(json.dumps(message))
        await asyncio.sleep(QUIET_AFTER_LAST_S)
        await ws.close()
        try:
            await receiver
        except ConnectionClosed:
            pass
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
        info = fetch_model_info(args.url, args.api_key)
        labels = true_labels(info["classes"])
        views = {v["name"]: v for v in info["views"]}
        wanted = [s.strip() for s in args.sensors.split(",") if s.strip()] or list(views)
        unknown = [s for s in wanted if s not in views]
        if unknown:
            raise ValueError(f"unknown sensors {unknown}; the model has {list(views)}")
        sensors: dict[str, list[int]] = {}
        for name in wanted:
            view = views[name]
            columns = dsads.view_columns(name, view["modality"], view["channels"])
            if columns is None:
                raise ValueError(f"sensor {name!r} ({view['modality']}) has no DSADS columns")
            sensors[name] = columns
        recordings = [(a, dsads.read_recording(args.data, a, args.subject)) for a in activities]
    except (OSError, ValueError, KeyError) as exc:
        sys.stderr.write(f"ralis replay: {exc}\n")
        return 2

    window_s = float(info["window_seconds"])
    plan = plan_replay(recordings, sensors, args.seconds, window_s, args.drop_rate, args.seed)
    out.write(
        f"replaying subject {args.subject}, {len(activities)} activities x {args.seconds:g} s, "
        f"sensors {','.join(sensors)}, drop rate {args.drop_rate:g}, {args.speed:g}x real time "
        f"to {args.url} (model {info['name']} {info['version']})\n"
    )
    try:
        score = asyncio.run(
            stream_plan(args.url, plan, labels, window_s, args.speed, args.api_key, out)
        )
    except (OSError, ConnectionClosed, RuntimeError) as exc:
        sys.stderr.write(f"ralis replay: stream failed: {exc}\n")
        return 1
    out.write(f"accuracy: {score.correct}/{score.total} = {score.accuracy:.3f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
