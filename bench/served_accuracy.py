"""Served accuracy: test macro-F1 of a bundle *through the running service*, on real DSADS.

`python -m bench.served_accuracy [--bundle DIR]` starts `ralis serve` on the bundle, cuts the
test subjects' complete recordings (p6-p8 by default) into back-to-back windows of the
bundle's length, sends every window with every subset of 1, 3 and all sensors through
`POST /v1/predict/batch` (the Python client), and scores the answers: per subset and per
scenario (the mean over its subsets, as the paper's tables), next to the numbers the
training run measured offline (the manifest's metrics). What a user of the HTTP API gets,
JSON encoding, resampling checks and ONNX Runtime included.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.machine import environment, load_average
from bench.report import format_load, markdown_table
from bench.serverproc import ServerProcess
from bench.service_load import model_info
from ralis.client import RalisClient
from ralis.client.dsads import ACTIVITIES, SEGMENTS, read_recording, view_columns
from training.metrics import macro_f1

DEFAULT_DATA = Path("../shared/datasets/dsads/daily_sports_activities.zip")
DEFAULT_BUNDLE = Path("service/default_bundle")
RESULTS_DIR = Path("bench/results")
BATCH = 64  # windows per request: the service's batch limit
CLIENTS = 4  # requests in flight, so the server forms full model batches


def load_windows(
    data: Path, subjects: Sequence[int], info: dict[str, Any], segments: int = SEGMENTS
) -> tuple[dict[str, npt.NDArray[np.float64]], npt.NDArray[np.int64]]:
    """Back-to-back windows of every test recording (its first `segments` 5 s segments; all
    by default): (N, T, C) per sensor and labels (N,)."""
    views = info["views"]
    rows = views[0]["window_samples"]
    columns = {v["name"]: view_columns(v["name"], v["modality"], v["channels"]) for v in views}
    missing = [name for name, cols in columns.items() if cols is None]
    if missing:
        raise SystemExit(f"the bundle's sensors {missing} are not DSADS columns")
    per_view: dict[str, list[npt.NDArray[np.float64]]] = {name: [] for name in columns}
    labels: list[int] = []
    for activity in range(1, len(ACTIVITIES) + 1):
        for subject in subjects:
            recording = read_recording(data, activity, subject, segments)
            count = recording.shape[0] // rows
            cut = recording[: count * rows].reshape(count, rows, -1)
            for name, cols in columns.items():
                per_view[name].append(cut[:, :, cols])
            labels += [activity - 1] * count
    return {k: np.concatenate(v) for k, v in per_view.items()}, np.asarray(labels)


def predict_subset(
    client: RalisClient,
    windows: dict[str, npt.NDArray[np.float64]],
    subset: tuple[str, ...],
    classes: list[str],
) -> npt.NDArray[np.int64]:
    """Class index the service answers for every window, with only `subset`'s sensors."""
    total = len(next(iter(windows.values())))
    starts = range(0, total, BATCH)

    def one_batch(start: int) -> list[int]:
        batch = [
            {name: windows[name][i].tolist() for name in subset}
            for i in range(start, min(start + BATCH, total))
        ]
        return [classes.index(p.activity) for p in client.predict_batch(batch)]

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(one_batch, starts))
    return np.asarray([c for batch in answers for c in batch])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="DSADS zip or folder")
    parser.add_argument("--subjects", type=int, nargs="+", default=[6, 7, 8])
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--name", default="served_accuracy")
    parser.add_argument(
        "--precision", choices=["auto", "fp32", "int8"], default="auto", help="RALIS_PRECISION"
    )
    args = parser.parse_args(argv)
    load_before = load_average()
    started = time.monotonic()
    # Batches of 64 windows come from one client: lift nothing but what the bench needs.
    env = {"RALIS_MAX_STREAMS_PER_CLIENT": "0", "RALIS_PRECISION": args.precision}
    with ServerProcess(args.bundle, env) as server:
        info = model_info(server.base_url)
        classes = list(info["classes"])
        names = [v["name"] for v in info["views"]]
        windows, labels = load_windows(args.data, args.subjects, info)
        sizes = sorted({1, 3, len(names)} & set(range(1, len(names) + 1)))
        rows: list[dict[str, Any]] = []
        with RalisClient(server.base_url, timeout=120.0) as client:
            for size in sizes:
                for subset in itertools.combinations(names, size):
                    predicted = predict_subset(client, windows, subset, classes)
                    score = macro_f1(labels, predicted, len(classes))
                    rows.append({"views": list(subset), "size": size, "macro_f1": score})
                    print(f"{'+'.join(subset)}: {100 * score:.2f}", file=sys.stderr)
    offline = info.get("metrics") or {}
    scenarios = {}
    for size in sizes:
        name = f"{size} view" + ("s" if size > 1 else "")
        served = statistics.mean(r["macro_f1"] for r in rows if r["size"] == size)
        key = f"test_macro_f1_{name.replace(' ', '_')}"
        scenarios[name] = {"served": served, "offline": offline.get(key)}
    header = (
        f"Bundle {info['name']} {info['version']} ({info['precision']} encoders), window "
        f"{info['window_seconds']:g} s; "
        f"DSADS subjects {', '.join(f'p{s}' for s in args.subjects)}, complete recordings cut "
        f"into {len(labels)} back-to-back windows, every sensor subset of each size through "
        f"`POST /v1/predict/batch`; {time.monotonic() - started:.0f} s. Load average before "
        f"{format_load(load_before)}, after {format_load(load_average())}."
    )
    table = markdown_table(
        ["scenario", "served macro-F1 (%)", "offline (training run, %)", "subsets"],
        [
            [
                name,
                f"{100 * s['served']:.2f}",
                "-" if s["offline"] is None else f"{100 * s['offline']:.2f}",
                sum(1 for r in rows if r["size"] == int(name.split()[0])),
            ]
            for name, s in scenarios.items()
        ],
    )
    markdown = f"### Served accuracy\n\n{header}\n\n{table}\n"
    print(markdown)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{args.name}.md").write_text(markdown)
    payload = {
        "bundle": {
            "path": str(args.bundle),
            "name": info["name"],
            "version": info["version"],
            "precision": info["precision"],
        },
        "subjects": args.subjects,
        "windows": len(labels),
        "scenarios": scenarios,
        "subsets": rows,
        "environment": environment(),
    }
    (args.out_dir / f"{args.name}.json").write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
