"""How much validation moves between epochs, with and without the weight average.

`python results/dsads/tables_epochs40_ema/swings.py` from the project root: for each Table 6
seed, the mean absolute change of the validation scenario mean from one epoch to the next
over epochs 1-21 and 21-40 (points), and the kept epoch.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1]
VARIANTS = {"40 epochs": "tables_epochs40", "40 epochs + weight EMA": "tables_epochs40_ema"}
SEEDS = (0, 1, 2)


def _swings(run: Path) -> tuple[float, float]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    values = [100 * float(json.loads(line)["val_scenario_mean"]) for line in lines]
    changes = [abs(b - a) for a, b in zip(values, values[1:], strict=False)]
    return statistics.mean(changes[:20]), statistics.mean(changes[20:])


def main() -> None:
    print("| | epochs 1-21 | epochs 21-40 | kept epoch |")
    print("|---|---|---|---|")
    for name, folder in VARIANTS.items():
        runs = [RESULTS / folder / "runs" / "table6" / "RALIS" / f"seed{s}" for s in SEEDS]
        early, late = zip(*(_swings(run) for run in runs), strict=True)
        kept = [json.loads((run / "evaluation.json").read_text())["best_epoch"] for run in runs]
        print(
            f"| {name} | {' / '.join(f'{v:.2f}' for v in early)} | "
            f"{' / '.join(f'{v:.2f}' for v in late)} | {' / '.join(map(str, kept))} |"
        )


if __name__ == "__main__":
    main()
