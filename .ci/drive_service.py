"""Feed a live RALIS service real DSADS data, for the CI Prometheus check.

`body`: print a /v1/predict request holding one of the committed test windows
(tests/fixtures/dsads_windows, subjects the default model never saw); curl posts it.
`stream`: stream consecutive segments of the DSADS subset zip over the WebSocket and wait for
predictions (with the client SDK, `ralis.client.StreamClient`). Sensors, channels and classes
come from the service's GET /v1/model, DSADS columns
from `ralis.client.dsads` (the mapping of `ralis replay`, which itself needs all 60 segments of a
recording while the fixture has four). Runs in the service's own venv: no torch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ralis.client import Prediction, StreamClient, dsads

Array = npt.NDArray[np.float64]


def get_model(base_url: str) -> dict[str, Any]:
    """The service's GET /v1/model."""
    with urllib.request.urlopen(f"{base_url}/v1/model", timeout=10) as response:
        model: dict[str, Any] = json.load(response)
    return model


def _sensors(model: dict[str, Any], requested: str | None) -> list[str]:
    names = [view["name"] for view in model["views"]]
    wanted = requested.split(",") if requested else names
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise ValueError(f"unknown sensors {unknown}; the model has {names}")
    return wanted


def make_body(args: argparse.Namespace) -> int:
    """Print one predict request; its true activity goes to stderr."""
    model = get_model(args.url)
    with np.load(args.windows) as windows:
        body = {
            "sensors": {
                name: windows[f"X_{name}"][args.index].tolist()
                for name in _sensors(model, args.sensors)
            }
        }
        truth = model["classes"][int(windows["y"][args.index])]
    sys.stdout.write(json.dumps(body) + "\n")
    sys.stderr.write(f"{truth}\n")
    return 0


def read_recording(archive: Path, members: list[str]) -> Array:
    """Consecutive DSADS segment files joined into one recording: (125 * n, 45), 25 Hz."""
    with zipfile.ZipFile(archive) as zf:
        texts = [zf.read(member).decode("ascii").splitlines() for member in members]
    return np.concatenate([np.loadtxt(text, delimiter=",", ndmin=2) for text in texts])


async def stream(args: argparse.Namespace) -> int:
    """Send a recording as one-second chunks per sensor with the client SDK; print predictions."""
    model = get_model(args.url)
    views = {view["name"]: view for view in model["views"]}
    recording = read_recording(args.data, args.members)
    samples: dict[str, Array] = {}
    for name in _sensors(model, args.sensors):
        columns = dsads.view_columns(name, views[name]["modality"], views[name]["channels"])
        if columns is None:
            raise ValueError(f"sensor '{name}' ({views[name]['modality']}) has no DSADS columns")
        samples[name] = recording[:, columns]
    chunk = int(dsads.RATE_HZ)
    errors: list[str] = []
    predictions: list[Prediction] = []
    async with StreamClient(args.url, on_error=errors.append, open_timeout_s=10) as client:
        for start in range(0, len(recording), chunk):
            for name, values in samples.items():
                await client.send(name, values[start : start + chunk], t0=start / dsads.RATE_HZ)
        async with asyncio.timeout(10 * args.min_predictions):
            async for prediction in client:
                if errors:
                    raise RuntimeError(f"stream error: {errors[0]}")
                predictions.append(prediction)
                if len(predictions) >= args.min_predictions:
                    break
    for prediction in predictions:
        sys.stdout.write(
            f"stream: t_end={prediction.t_end:.1f}s -> {prediction.activity} "
            f"using {','.join(prediction.views_used)}\n"
        )
    return 0


def main(argv: list[str]) -> int:
    """Build a request body or stream over the WebSocket."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", required=True, help="service base URL, http://host:port")
    parser.add_argument("--sensors", help="comma-separated sensor names (default: all)")
    commands = parser.add_subparsers(dest="command", required=True)
    body = commands.add_parser("body", help="print a /v1/predict request body")
    body.add_argument("--windows", type=Path, required=True, help="dsads_windows/windows.npz")
    body.add_argument("--index", type=int, required=True, help="which window")
    streamer = commands.add_parser("stream", help="stream segments over /v1/stream")
    streamer.add_argument("--data", type=Path, required=True, help="DSADS zip (official layout)")
    streamer.add_argument("--members", nargs="+", required=True, help="consecutive segments")
    streamer.add_argument("--min-predictions", type=int, default=2)
    args = parser.parse_args(argv)
    args.url = args.url.rstrip("/")
    if args.command == "body":
        return make_body(args)
    return asyncio.run(stream(args))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
