"""Feed a live RALIS service real DSADS recordings, for the CI Prometheus check.

`body`: print a /v1/predict request built from one DSADS segment (curl posts it).
`stream`: stream consecutive segments over the WebSocket and wait for predictions.
The sensors and channels come from the service's GET /v1/model, their DSADS columns from
`service.dsads` (the mapping `ralis replay` uses). Runs in the service's own venv: no torch.
`ralis replay` itself needs all 60 segments of a recording; the test fixture has four.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.request
import zipfile
from typing import Any

import numpy as np
import websockets

from service import dsads


def read_segment(archive: str, member: str) -> np.ndarray:
    """One DSADS segment file: (125, 45) float, 25 Hz."""
    with zipfile.ZipFile(archive) as zf:
        text = zf.read(member).decode("ascii")
    return np.loadtxt(text.splitlines(), delimiter=",", dtype=np.float64, ndmin=2)


def get_model(base_url: str) -> dict[str, Any]:
    """The service's GET /v1/model."""
    with urllib.request.urlopen(f"{base_url}/v1/model", timeout=10) as response:
        model: dict[str, Any] = json.load(response)
    return model


def view_windows(
    model: dict[str, Any], segment: np.ndarray, sensors: list[str]
) -> dict[str, np.ndarray]:
    """Each requested sensor's samples from a segment, in the model's channel order."""
    views = {view["name"]: view for view in model["views"]}
    unknown = [name for name in sensors if name not in views]
    if unknown:
        raise ValueError(f"unknown sensors {unknown}; the model has {sorted(views)}")
    windows = {}
    for name in sensors:
        view = views[name]
        columns = dsads.view_columns(name, view["modality"], view["channels"])
        if columns is None:
            raise ValueError(f"sensor '{name}' ({view['modality']}) has no DSADS columns")
        windows[name] = segment[:, columns]
    return windows


def _sensors(model: dict[str, Any], requested: str | None) -> list[str]:
    names = [view["name"] for view in model["views"]]
    return requested.split(",") if requested else names


def make_body(args: argparse.Namespace) -> int:
    """Print one predict request."""
    model = get_model(args.url)
    segment = read_segment(args.data, args.member)
    windows = view_windows(model, segment, _sensors(model, args.sensors))
    body = {"sensors": {name: window.tolist() for name, window in windows.items()}}
    sys.stdout.write(json.dumps(body) + "\n")
    return 0


async def _stream(args: argparse.Namespace) -> int:
    model = get_model(args.url)
    sensors = _sensors(model, args.sensors)
    segments = [read_segment(args.data, member) for member in args.members]
    recording = np.concatenate(segments)  # consecutive segments are one continuous recording
    windows = view_windows(model, recording, sensors)
    rate = float(model["views"][0]["sampling_rate_hz"])
    chunk = max(1, int(rate))  # one second of samples per message
    ws_url = args.url.replace("http", "ws", 1) + "/v1/stream"
    predictions = []
    async with websockets.connect(ws_url, open_timeout=10) as ws:
        ready = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        if ready.get("type") != "ready":
            raise RuntimeError(f"expected a 'ready' message first, got {ready}")
        for start in range(0, len(recording), chunk):
            for name in sensors:
                message = {
                    "type": "samples",
                    "sensor": name,
                    "t0": start / rate,
                    "samples": windows[name][start : start + chunk].tolist(),
                }
                await ws.send(json.dumps(message))
        while len(predictions) < args.min_predictions:
            reply = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
            if reply.get("type") == "error":
                raise RuntimeError(f"stream error: {reply['detail']}")
            if reply.get("type") == "prediction":
                predictions.append(reply)
    for prediction in predictions:
        sys.stdout.write(
            f"stream: t_end={prediction['t_end']:.1f}s activity={prediction['activity']} "
            f"views={','.join(prediction['views_used'])}\n"
        )
    return 0


def main(argv: list[str]) -> int:
    """Build a request body or stream over the WebSocket."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="service base URL, http://host:port")
    parser.add_argument("--data", required=True, help="DSADS zip (official layout)")
    parser.add_argument("--sensors", help="comma-separated sensor names (default: all)")
    commands = parser.add_subparsers(dest="command", required=True)
    body = commands.add_parser("body", help="print a /v1/predict request body")
    body.add_argument("--member", required=True, help="segment, e.g. data/a09/p1/s01.txt")
    stream = commands.add_parser("stream", help="stream segments over /v1/stream")
    stream.add_argument("--members", nargs="+", required=True, help="consecutive segments")
    stream.add_argument("--min-predictions", type=int, default=2)
    args = parser.parse_args(argv)
    args.url = args.url.rstrip("/")
    if args.command == "body":
        return make_body(args)
    return asyncio.run(_stream(args))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
