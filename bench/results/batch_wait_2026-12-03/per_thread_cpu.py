"""Where the server's CPU goes by thread during a load run: the event loop against the model.

Run beside a load (`service_load` starts its own `ralis serve`), e.g.:

    .venv/bin/python -m bench.service_load --streams 200 --formats binary --warmup 4 \
        --duration 30 --saturation-streams 0 --http-concurrency 16 --http-warmup 1 \
        --http-duration 1 --http-batch-windows 0 --max-batch-wait-ms 2 --out-dir /tmp/load &
    sleep 15; python bench/results/batch_wait_2026-12-03/per_thread_cpu.py --span 15 \
        --predictions-per-s 200

It finds the `ralis serve` process, reads every thread's user + system CPU from /proc at the
start and end of `--span` seconds and prints each busy thread's CPU ms per prediction (the
main thread is the event loop; the others run the model).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu_s(pid: int) -> dict[int, float]:
    """user + system CPU seconds of every thread of `pid`."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue  # the thread ended
        fields = stat.rsplit(")", 1)[1].split()
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / TICKS
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--span", type=float, default=15.0, help="seconds measured")
    parser.add_argument("--predictions-per-s", type=float, required=True)
    args = parser.parse_args()
    found = subprocess.run(
        ["pgrep", "-f", "ralis.cli serve"], capture_output=True, text=True, check=True
    )
    pid = int(found.stdout.split()[0])
    before = thread_cpu_s(pid)
    time.sleep(args.span)
    after = thread_cpu_s(pid)
    predictions = args.predictions_per_s * args.span
    print(f"ralis serve pid {pid}, {args.span:g} s, {predictions:.0f} predictions")
    print("| thread | CPU s | CPU ms per prediction |")
    print("|---|---|---|")
    for tid, cpu in sorted(after.items()):
        used = cpu - before.get(tid, cpu)
        if used > 0:
            name = "main (event loop)" if tid == pid else f"thread {tid}"
            print(f"| {name} | {used:.2f} | {1e3 * used / predictions:.2f} |")


if __name__ == "__main__":
    main()
