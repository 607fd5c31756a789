"""The default model's recipe with 6 epochs (4,242 steps, model 1.2.0) against 12 epochs
(8,484 steps, the step count of the 40-epoch table runs), 3 seeds each: prints markdown.

`python results/dsads/default_model_steps/compare_steps.py` from the project root. Seed 0 of
6 epochs is the run that made model 1.2.0 (`results/dsads/default_model_v3`); every other run
is `results/dsads/default_model_steps/epochs<E>_seed<S>`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.metrics import mean_std

HERE = Path(__file__).resolve().parent
RUNS = {
    (epochs, seed): HERE / f"epochs{epochs}_seed{seed}" for epochs in (6, 12) for seed in (0, 1, 2)
}
RUNS[6, 0] = HERE.parent / "default_model_v3"
SCENARIOS = ("1 view", "3 views", "5 views")
CLASSES = ("sitting", "lying_back", "standing_elevator", "walking_parking_lot")


def _best_selection(run: Path) -> float:
    """The smoothed validation metric at the kept epoch (what chose the checkpoint)."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return max(float(r["selection_smoothed"]) for r in records)


def _row(epochs: int, seed: int, summary: dict[str, Any], run: Path) -> str:
    names = summary["class_names"]
    per_class = summary["per_class_f1_all_views"]
    cells = [f"{100 * summary['scenarios'][s]:.2f}" for s in SCENARIOS]
    cells += [f"{100 * per_class[names.index(c)]:.1f}" for c in CLASSES]
    return (
        f"| {epochs} | {seed} | {_best_selection(run):.4f} | {' | '.join(cells)} | "
        f"{summary['best_epoch']} of {summary['epochs_run']} |"
    )


def main() -> None:
    finished = {key: run for key, run in RUNS.items() if (run / "evaluation.json").exists()}
    summaries = {
        key: json.loads((run / "evaluation.json").read_text()) for key, run in finished.items()
    }
    header = " | ".join(SCENARIOS + tuple(f"{c} F1" for c in CLASSES))
    print(f"| epochs | seed | validation (kept) | {header} | kept epoch |")
    print("|---" * (5 + len(SCENARIOS) + len(CLASSES) - 1) + "|")
    for key in sorted(summaries):
        print(_row(*key, summaries[key], finished[key]))
    print()
    print("| epochs | seeds | " + " | ".join(SCENARIOS) + " |")
    print("|---|---|---|---|---|")
    for epochs in (6, 12):
        keys = sorted(k for k in summaries if k[0] == epochs)
        cells = [mean_std([100 * summaries[k]["scenarios"][s] for k in keys]) for s in SCENARIOS]
        print(f"| {epochs} | {', '.join(str(k[1]) for k in keys)} | {' | '.join(cells)} |")
    paired = [k[1] for k in summaries if k[0] == 6 and (12, k[1]) in summaries]
    if paired:
        print()
        print("12 minus 6 epochs, paired by seed (points):", end=" ")
        for s in SCENARIOS:
            diffs = [
                100 * (summaries[12, seed]["scenarios"][s] - summaries[6, seed]["scenarios"][s])
                for seed in paired
            ]
            print(f"{s} {mean_std(diffs)} ({sum(d > 0 for d in diffs)}/{len(diffs)} up);", end=" ")
        print()


if __name__ == "__main__":
    main()
