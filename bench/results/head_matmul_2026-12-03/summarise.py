"""One table from `run.sh`'s runs: einsum head against matrix-product head, per round.

Run: `python bench/results/head_matmul_2026-12-03/summarise.py` (from the repo root).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent


def row(run: Path) -> str:
    precision = json.loads((run / "precision.json").read_text())
    load = json.loads((run / "service_load.json").read_text())
    int8 = precision["ms_per_prediction"]["int8"]
    model = " / ".join(f"{statistics.median(int8[b]):.3f}" for b in ("1", "3", "8"))
    stream, http = load["streams"][0], load["http"][0]

    def server_ms(level: dict) -> float:  # type: ignore[type-arg]
        return float(10 * level["server"]["cpu_percent"] / level["server_predictions_per_s"])

    bound = load["compute_bound"]["at_batch_1"]
    head_us = 1e6 * bound["head_s_per_row"]
    batch1_us = 1e6 / bound["predictions_per_s"]
    loads = load["environment"]["load_average_before"]
    return (
        f"| {run.name} | {model} | {batch1_us:.0f} (head {head_us:.0f}) "
        f"| {server_ms(stream):.2f} | {stream['extra']['model_ms_per_prediction']:.2f} "
        f"| {stream['latency_ms']['p50']:.1f} / {stream['latency_ms']['p99']:.1f} "
        f"| {http['predictions_per_s']:.0f} | {server_ms(http):.2f} "
        f"| {' / '.join(f'{x:.2f}' for x in loads)} |"
    )


def main() -> None:
    print(
        "| run | whole model, int8, ms/pred at batch 1 / 3 / 8 (bench.precision) "
        "| raw model at batch 1, us/pred (service_load) | 200 binary streams: server CPU "
        "ms/pred | raw model at the server's batch, ms/pred | p50 / p99 ms "
        "| HTTP c=16: predictions/s | server CPU ms/pred | load before |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for run in sorted(p for p in HERE.iterdir() if p.is_dir()):
        print(row(run))


if __name__ == "__main__":
    main()
