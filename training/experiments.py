"""Run a paper table over seeds and write it: `python -m training.experiments TABLE`.

Tables (DailySport / DSADS, 5 accelerometer views, subjects 1-3 / 4-5 / 6-8):
- table3: complete training data; table4: uniform view drop in train, val and test;
- table5: the ablations, complete protocol.
Each run lands in `<out>/runs/<table>/<variant>/seed<k>/`; finished runs are reused.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from model.config import TABLE5_ABLATIONS, variant_slug
from training.config import DEFAULT_DSADS, TrainConfig
from training.data.protocols import Protocol

PAPER_RALIS = {
    "table3": {"1 view": 80.56, "3 views": 90.54, "5 views": 93.64},
    "table4": {"1 view": 79.68, "3 views": 87.26, "5 views": 91.25},
}

ABLATIONS = TABLE5_ABLATIONS

# The "augment" table: one transform left out at a time (TrainConfig overrides), complete data.
AUGMENT_VARIANTS: dict[str, dict[str, Any]] = {
    "all transforms": {"augment_transforms": None},
    "no augmentation": {"augment": False},
    "-rotate": {"augment_transforms": ("scale", "time_warp")},
    "-scale": {"augment_transforms": ("rotate", "time_warp")},
    "-time_warp": {"augment_transforms": ("rotate", "scale")},
}


def variants(table: str) -> dict[str, dict[str, Any]]:
    if table == "table5":
        return ABLATIONS
    if table == "augment":
        return AUGMENT_VARIANTS
    return {"RALIS": {}}


def run_config(
    table: str, overrides: dict[str, Any], seed: int, data: str, epochs: int
) -> TrainConfig:
    """Table 5 variants override the model; "augment" variants the training config."""
    protocol: Protocol = "uniform" if table == "table4" else "complete"
    if table == "augment":
        return TrainConfig(data=data, protocol=protocol, seed=seed, epochs=epochs, **overrides)
    return TrainConfig(
        data=data, protocol=protocol, seed=seed, epochs=epochs, model=dict(overrides)
    )


def run_one(config: TrainConfig, out_dir: Path) -> dict[str, Any]:
    """Train + evaluate one configuration, or reuse a finished run in `out_dir`."""
    done = out_dir / "evaluation.json"
    if done.is_file():
        return dict(json.loads(done.read_text()))
    from training.checkpoint import Checkpoint
    from training.pipeline import prepare_data
    from training.reporting import write_evaluation
    from training.trainer import train

    data = prepare_data(config)
    result = train(config, out_dir, data=data, progress=False)
    checkpoint = Checkpoint.load(result.checkpoint_path)
    extra = {
        "config": config.to_dict(),
        "best_epoch": result.best_epoch,
        "best_val_macro_f1": result.best_val_macro_f1,
        "epochs_run": result.epochs_run,
        "planned_epochs": result.planned_epochs,
        "steps": result.steps,
        "stopped_early": result.stopped_early,
        "seconds_per_epoch": result.seconds_per_epoch,
        "total_seconds": result.total_seconds,
    }
    return write_evaluation(checkpoint, data.test, out_dir, extra=extra)


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f} (1 seed)"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def summarise(table: str, runs_dir: Path) -> str:
    """Markdown table of every finished run of `table` found under `runs_dir`."""
    lines: list[str] = []
    scenario_names: list[str] = []
    rows: list[tuple[str, dict[str, list[float]], list[float], list[float]]] = []
    for variant in variants(table):
        per_scenario: dict[str, list[float]] = {}
        epoch_seconds, run_seconds = [], []
        for path in sorted(
            (runs_dir / table / variant_slug(variant)).glob("seed*/evaluation.json")
        ):
            summary = json.loads(path.read_text())
            for name, score in summary["scenarios"].items():
                per_scenario.setdefault(name, []).append(score * 100)
            epoch_seconds.append(summary["seconds_per_epoch"])
            run_seconds.append(summary["total_seconds"])
        if per_scenario:
            scenario_names = list(per_scenario)
            rows.append((variant, per_scenario, epoch_seconds, run_seconds))
    header = " | ".join(scenario_names)
    lines.append(f"| variant | {header} | seeds | s/epoch | s/run |")
    lines.append("|---|" + "---|" * (len(scenario_names) + 3))
    for variant, per_scenario, epoch_seconds, run_seconds in rows:
        cells = " | ".join(_mean_std(per_scenario[name]) for name in scenario_names)
        lines.append(
            f"| {variant} | {cells} | {len(run_seconds)} | {statistics.mean(epoch_seconds):.1f} "
            f"| {statistics.mean(run_seconds):.0f} |"
        )
    if table in PAPER_RALIS:
        paper = PAPER_RALIS[table]
        lines.append(
            "| paper (RALIS, DailySport) | "
            + " | ".join(f"{paper.get(name, float('nan')):.2f}" for name in scenario_names)
            + " | | | |"
        )
    return "\n".join(lines) + "\n"


# Classes whose F1 the tables follow (the standing / standing-in-an-elevator confusion).
TRACKED_CLASSES = ("standing", "standing_elevator", "moving_elevator")


def class_table(table: str, runs_dir: Path, classes: tuple[str, ...] = TRACKED_CLASSES) -> str:
    """Markdown: per variant, all-views test F1 (%) of `classes` (mean over seeds)."""
    lines = [
        "| variant | " + " | ".join(f"{c} F1" for c in classes) + " | seeds |",
        "|---|" + "---|" * (len(classes) + 1),
    ]
    for variant in variants(table):
        per_class: dict[str, list[float]] = {c: [] for c in classes}
        paths = sorted((runs_dir / table / variant_slug(variant)).glob("seed*/evaluation.json"))
        for path in paths:
            summary = json.loads(path.read_text())
            matrix = np.asarray(summary["confusion_all_views"], dtype=float)
            scores = 2 * np.diag(matrix) / np.maximum(matrix.sum(0) + matrix.sum(1), 1)
            f1 = dict(zip(summary["class_names"], scores.tolist(), strict=True))
            for c in classes:
                if c in f1:
                    per_class[c].append(f1[c] * 100)
        if paths:
            cells = " | ".join(
                f"{statistics.mean(v):.1f}" if v else "-" for v in per_class.values()
            )
            lines.append(f"| {variant} | {cells} | {len(paths)} |")
    return "\n".join(lines) + "\n"


def collect_scores(table: str, runs_dir: Path, variant: str = "RALIS") -> dict[str, list[float]]:
    """Scenario -> macro-F1 (%) of every finished seed of one variant."""
    scores: dict[str, list[float]] = {}
    for path in sorted((runs_dir / table / variant_slug(variant)).glob("seed*/evaluation.json")):
        for name, score in json.loads(path.read_text())["scenarios"].items():
            scores.setdefault(name, []).append(score * 100)
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("table", choices=["table3", "table4", "table5", "augment"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--variants",
        type=lambda text: [v.strip() for v in text.split(",") if v.strip()],
        default=None,
        help='comma-separated subset, e.g. --variants="-MoE,+full graph"',
    )
    parser.add_argument("--data", default=DEFAULT_DSADS)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("results/dsads"))
    parser.add_argument("--summarise-only", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    runs_dir = args.out / "runs"
    if not args.summarise_only:
        for variant, overrides in variants(args.table).items():
            if args.variants and variant not in args.variants:
                continue
            for seed in args.seeds:
                config = run_config(args.table, overrides, seed, args.data, args.epochs)
                out_dir = runs_dir / args.table / variant_slug(variant) / f"seed{seed}"
                logging.info("run %s %s seed %d -> %s", args.table, variant, seed, out_dir)
                summary = run_one(config, out_dir)
                logging.info("done: %s", summary["scenarios"])
    table_md = summarise(args.table, runs_dir)
    if args.table in ("table3", "augment"):
        table_md += "\nAll-views test F1 of the classes that carry the gap:\n\n"
        table_md += class_table(args.table, runs_dir)
    (args.out / f"{args.table}.md").write_text(table_md)
    ours = {t: collect_scores(t, runs_dir) for t in ("table3", "table4")}
    ours = {t: scores for t, scores in ours.items() if scores}
    if ours:
        from training.plots import plot_tables_vs_paper

        plot_tables_vs_paper(ours, PAPER_RALIS, args.out / "ralis_vs_paper.png")
    logging.getLogger(__name__).info("\n%s", table_md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
