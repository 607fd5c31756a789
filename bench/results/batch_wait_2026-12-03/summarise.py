"""Table of the batch-wait sweep: every run's workloads, grouped by workload and wait.

`python bench/results/batch_wait_2026-12-03/summarise.py` reads the `service_load.json` of each
run folder beside this script and prints one row per workload, batcher and wait: server CPU
per prediction (and the event loop's part), the run's raw model cost at the batch sizes it
formed, p50 / p99, mean batch, delivered, and the 1-minute load average before the run; one
cell per run, plus
the change of the median CPU against the same batcher's 2 ms wait. Folders:
`rep<k>_wait<ms>` (random phases), `sync_wait<ms>` (synchronised), `single_wait<ms>` (one
stream, HTTP c=1 and 64): the batcher that always waits (commit f50e9f8);
`sources_wait<ms>`: the batcher that stops waiting once every active client is in the batch;
`threads<n>_rep<k>`: the same at 10 ms with n model threads; `few_wait<ms>`: 4 streams and
HTTP c=2 with the final batcher (distinct clients, prediction requests only).
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _cpu_ms(record: dict[str, Any]) -> tuple[float, float]:
    server = record["server"]
    per_s = server["predictions"] / record["measure_s"]
    return 10 * server["cpu_percent"] / per_s, 10 * server["loop_cpu_percent"] / per_s


def main() -> None:
    cells: dict[tuple[str, float], list[str]] = defaultdict(list)
    cpu: dict[tuple[str, float], list[float]] = defaultdict(list)
    for path in sorted(HERE.glob("*/service_load.json")):
        folder = path.parent.name
        threads = re.fullmatch(r"threads(\d+)_rep\d+", folder)
        match = re.fullmatch(r"(rep\d+|sync|single|sources|few)_wait([\d.]+)", folder)
        if threads is not None:
            run, wait = "threads", 10.0
            batcher = f"stops when all are in, {threads[1]} model thread(s)"
        elif match is not None:
            run, wait = match[1], float(match[2])
            batcher = "stops when all are in" if run in ("sources", "few") else "always waits"
        else:
            continue
        payload = json.loads(path.read_text())
        phases = "synchronised" if run == "sync" else "random phases"
        records = payload["streams"] + (payload["http"] if run != "sync" else [])
        for record in records:
            if record["kind"] == "stream":
                name = f"{record['level']} {record['label']} streams, {phases}"
            else:
                name = f"HTTP {record['label']} c={record['level']}"
            name = f"{name} | {batcher}"
            server_ms, loop_ms = _cpu_ms(record)
            latency = record["latency_ms"]
            delivered = (
                f"{int(record['received'])}/{int(record['expected'])}"
                if record["kind"] == "stream"
                else f"{record['predictions_per_s']:.0f}/s"
            )
            model_ms = record["extra"]["model_ms_per_prediction"]
            load = payload["environment"]["load_average_before"][0]
            cells[name, wait].append(
                f"{server_ms:.2f} ({loop_ms:.2f}), model {model_ms:.2f}, "
                f"{latency['p50']:.1f} / {latency['p99']:.1f}, batch "
                f"{record['server']['head_batch']:.1f}, {delivered}, load {load:.2f}"
            )
            cpu[name, wait].append(server_ms)
    print(
        "| workload | batcher | wait (ms) | per run: server CPU ms/pred (event loop), model "
        "ms/pred, p50 / p99 ms, mean batch, delivered, load | median CPU vs 2 ms |"
    )
    print("|---|---|---|---|---|")
    for name, wait in sorted(cells, key=lambda k: (k[0], k[1])):
        base = cpu.get((name, 2.0))
        change = (
            f"{100 * (statistics.median(cpu[name, wait]) / statistics.median(base) - 1):+.0f}%"
            if base
            else "-"
        )
        print(f"| {name} | {wait:g} | {'; '.join(cells[name, wait])} | {change} |")


if __name__ == "__main__":
    main()
