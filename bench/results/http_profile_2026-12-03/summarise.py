"""Share of the event loop (the main thread) per function, inclusive and self, from py-spy's
raw (collapsed) output: `python summarise.py before.raw.gz after.raw.gz`."""

from __future__ import annotations

import gzip
import sys
from collections import Counter


def main_thread_shares(path: str) -> tuple[Counter[str], Counter[str], int]:
    with gzip.open(path, "rt") as file:
        lines = [line.rsplit(" ", 1) for line in file.read().splitlines()]
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for stack, count in lines:
        frames = stack.split(";")
        if "MainThread" not in frames[0]:
            continue
        samples = int(count)
        total += samples
        for name in {f.split(" (")[0] for f in frames[1:]}:
            inclusive[name] += samples
        own[frames[-1]] += samples
    return inclusive, own, total


WATCHED = (
    "FastJSONRequest.json",
    "TypeAdapter.validate_python",
    "as_samples",
    "Predictor.predict",
    "Runner.run",
)

for path in sys.argv[1:]:
    inclusive, own, total = main_thread_shares(path)
    sys.stdout.write(f"\n{path}: {total} samples of the main thread\n")
    for name in WATCHED:
        self_share = sum(v for k, v in own.items() if k.startswith(name + " ("))
        sys.stdout.write(
            f"  {name:<30} inclusive {100 * inclusive[name] / total:5.1f}%"
            f"  self {100 * self_share / total:5.1f}%\n"
        )
