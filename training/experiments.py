"""Run a paper table over seeds and write it: `python -m training.experiments TABLE`.

Tables (DailySport / DSADS, 5 accelerometer views, subjects 1-3 / 4-5 / 6-8 unless noted):
- table3: complete training data;
- table4: uniform view drop (p = 10^(-3/V)) in train, val and test;
- table5: the ablations, on table4's uniform-drop protocol (the paper's);
- table6: per-view drop rates (torso 0.64, right arm 0.62, left arm 0.77, right leg 0.24,
  left leg 0.61) in train, val and test;
- augment: one augmentation transform left out at a time, complete data;
- splits: table3's protocol on other 3 / 2 / 3 subject partitions (split sensitivity);
- encoder: table3's protocol with other encoder widths and kernel sizes (the paper gives none).
Each run lands in `<out>/runs/<table>/<variant>/seed<k>/`; finished runs are reused, and a
run shared between tables (table5's full model is table4's run) is trained once.
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
from training.data.splits import DSADS_DEFAULT_SPLIT
from training.metrics import mean_std
from training.recipes import RECIPES, with_recipe

TABLES = ("table3", "table4", "table5", "table6", "augment", "splits", "encoder")

PROTOCOL: dict[str, Protocol] = {
    "table3": "complete",
    "table4": "uniform",
    "table5": "uniform",
    "table6": "per_view",
    "augment": "complete",
    "splits": "complete",
    "encoder": "complete",
}

PAPER_RALIS = {
    "table3": {"1 view": 80.56, "3 views": 90.54, "5 views": 93.64},
    "table4": {"1 view": 79.68, "3 views": 87.26, "5 views": 91.25},
    "table6": {"1 view": 77.40, "3 views": 83.55, "5 views": 87.57},
}

ABLATIONS = TABLE5_ABLATIONS

# The "augment" table: one transform left out at a time (TrainConfig overrides), complete data.
AUGMENT_VARIANTS: dict[str, dict[str, Any]] = {
    "all transforms": {"augment_transforms": None},  # every transform that suits the view
    "no augmentation": {"augment": False},
    "-rotate": {"augment_transforms": ("scale", "time_warp")},
    "-scale": {"augment_transforms": ("rotate", "time_warp")},
    "-time_warp": {"augment_transforms": ("rotate", "scale")},
    # The recipe's default (rotate, time warp; flip only touches 2D poses) without time warp.
    "rotate only": {"augment_transforms": ("rotate", "flip")},
}

# The "encoder" table (ModelConfig overrides), complete data. The paper specifies 4 residual
# blocks but no widths or kernel size; the first row is the recipe's own encoder (table3's
# run: widths 32/64/64/128, and kernel 9 by default, 5 under --recipe kernel5_shared_batch).
ENCODER_VARIANTS: dict[str, dict[str, Any]] = {
    "the recipe's encoder": {},
    "kernel 3": {"kernel_size": 3},
    "kernel 5": {"kernel_size": 5},
    "kernel 9": {"kernel_size": 9},
    "widths 64/128/128/256": {"encoder_widths": (64, 128, 128, 256)},
}


def _partition(train: str, val: str, test: str) -> dict[str, Any]:
    def subjects(text: str) -> tuple[int, ...]:
        return tuple(int(s) for s in text.split(","))

    return {
        "train_subjects": subjects(train),
        "val_subjects": subjects(val),
        "test_subjects": subjects(test),
    }


# Subject partitions for split sensitivity, named train/val/test. The first is the paper's
# (table3's run); the others were fixed once, before any of them ran, so that every subject
# is a test subject in at least one of them and none is chosen for how it scores.
SPLIT_PARTITIONS: dict[str, dict[str, Any]] = {
    "p123/p45/p678": {f"{k}_subjects": v for k, v in DSADS_DEFAULT_SPLIT.items()},
    "p678/p12/p345": _partition("6,7,8", "1,2", "3,4,5"),
    "p345/p67/p812": _partition("3,4,5", "6,7", "8,1,2"),
    "p246/p81/p357": _partition("2,4,6", "8,1", "3,5,7"),
    "p138/p25/p467": _partition("1,3,8", "2,5", "4,6,7"),
}

# Runs that are the same experiment as another table's: (table, variant) -> (table, variant).
SHARED_RUNS: dict[tuple[str, str], tuple[str, str]] = {
    ("table5", "RALIS"): ("table4", "RALIS"),
    ("splits", "p123/p45/p678"): ("table3", "RALIS"),
    ("encoder", "the recipe's encoder"): ("table3", "RALIS"),
}


def variants(table: str) -> dict[str, dict[str, Any]]:
    if table == "table5":
        return ABLATIONS
    if table == "augment":
        return AUGMENT_VARIANTS
    if table == "splits":
        return SPLIT_PARTITIONS
    if table == "encoder":
        return ENCODER_VARIANTS
    return {"RALIS": {}}


def run_dir(runs_dir: Path, table: str, variant: str) -> Path:
    """Folder of a variant's seeds; a shared run lives under the table that owns it."""
    table, variant = SHARED_RUNS.get((table, variant), (table, variant))
    return runs_dir / table / variant_slug(variant.replace("/", "_"))


# Every committed DSADS table planned max(epochs, 4,000 steps), `ralis train`'s minimum until
# 2026-12-03; pinned here so that their commands keep reproducing them (it is 8,000 since).
TABLE_MIN_STEPS = 4000


def run_config(
    table: str,
    overrides: dict[str, Any],
    seed: int,
    data: str,
    epochs: int,
    recipe: dict[str, Any] | None = None,
    min_steps: int = TABLE_MIN_STEPS,
) -> TrainConfig:
    """Table 5 and "encoder" variants override the model; "augment" and "splits" the
    training config; `recipe` (training/recipes.py) sits under both."""
    protocol = PROTOCOL[table]
    # The paper's method as trained: the view prior is reported beside it, never applied.
    fields: dict[str, Any] = dict(
        data=data,
        protocol=protocol,
        seed=seed,
        epochs=epochs,
        min_steps=min_steps,
        view_prior=False,
    )
    if table in ("augment", "splits"):
        fields |= overrides
    else:
        fields["model"] = dict(overrides)
    return TrainConfig(**with_recipe(fields, recipe or {}))


class RunMismatchError(RuntimeError):
    """A finished run in the output folder was trained with another configuration."""


def run_one(
    config: TrainConfig, out_dir: Path, ignore: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Train + evaluate one configuration, or reuse a finished run in `out_dir` when it was
    made with the same one (but the fields in `ignore`)."""
    from training.trainer import config_differences

    done = out_dir / "evaluation.json"
    if done.is_file():
        summary = dict(json.loads(done.read_text()))
        if differences := config_differences(summary.get("config", {}), config, ignore):
            raise RunMismatchError(
                f"{out_dir} holds a finished run of another configuration "
                f"({'; '.join(differences)}); give another --out (or --recipe) or remove it"
            )
        return summary
    from training.checkpoint import Checkpoint
    from training.pipeline import prepare_data
    from training.reporting import write_evaluation
    from training.trainer import train

    data = prepare_data(config)
    result = train(config, out_dir, data=data, progress=False)
    from training.view_prior import after_training

    extra: dict[str, Any] = after_training(
        config.view_prior, result.checkpoint_path, data.val, data.train.mask
    )
    checkpoint = Checkpoint.load(result.checkpoint_path)
    extra |= {
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


def _report_view_prior(out_dir: Path) -> None:
    """The view prior's report for a missing-view run (`RUN/view_prior/`), once: these runs
    are the held-out test of `--view-prior`'s rule (results/dsads/tables/view_prior_gate.md)."""
    if (out_dir / "view_prior" / "view_prior.md").is_file():
        return
    from training.view_prior import apply_to_run

    apply_to_run(out_dir, max_combinations=100)


def summarise(table: str, runs_dir: Path) -> str:
    """Markdown table of every finished run of `table` found under `runs_dir`."""
    lines: list[str] = []
    scenario_names: list[str] = []
    rows: list[tuple[str, dict[str, list[float]], list[float], list[float]]] = []
    for variant in variants(table):
        per_scenario: dict[str, list[float]] = {}
        epoch_seconds, run_seconds = [], []
        for path in sorted(run_dir(runs_dir, table, variant).glob("seed*/evaluation.json")):
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
        cells = " | ".join(mean_std(per_scenario[name], " (1 seed)") for name in scenario_names)
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
        paths = sorted(run_dir(runs_dir, table, variant).glob("seed*/evaluation.json"))
        for path in paths:
            f1 = _class_f1(json.loads(path.read_text()))
            for c in classes:
                if c in f1:
                    per_class[c].append(f1[c])
        if paths:
            cells = " | ".join(
                f"{statistics.mean(v):.1f}" if v else "-" for v in per_class.values()
            )
            lines.append(f"| {variant} | {cells} | {len(paths)} |")
    return "\n".join(lines) + "\n"


def _class_f1(summary: dict[str, Any]) -> dict[str, float]:
    """All-views test F1 (%) per class, from the run's confusion matrix."""
    matrix = np.asarray(summary["confusion_all_views"], dtype=float)
    scores = 2 * np.diag(matrix) / np.maximum(matrix.sum(0) + matrix.sum(1), 1)
    return {name: 100 * score for name, score in zip(summary["class_names"], scores, strict=True)}


def per_class_table(table: str, runs_dir: Path) -> str:
    """Markdown: every class (rows) x every finished variant (columns), all-views test F1 (%)
    as mean over seeds, so a reader sees which activities carry each row's score."""
    columns: dict[str, dict[str, list[float]]] = {}
    class_names: list[str] = []
    for variant in variants(table):
        for path in sorted(run_dir(runs_dir, table, variant).glob("seed*/evaluation.json")):
            summary = json.loads(path.read_text())
            class_names = class_names or list(summary["class_names"])
            for name, f1 in _class_f1(summary).items():
                columns.setdefault(variant, {}).setdefault(name, []).append(f1)
    if not columns:
        return ""
    lines = [
        "| class | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name in class_names:
        cells = [f"{statistics.mean(c[name]):.1f}" if name in c else "-" for c in columns.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    seeds = [str(len(next(iter(c.values())))) for c in columns.values()]
    lines.append("| (seeds) | " + " | ".join(seeds) + " |")
    return "\n".join(lines) + "\n"


def fusion_table(table: str, runs_dir: Path) -> str:
    """Markdown: per variant and seed, all-views test macro-F1 against the best single view."""
    lines = [
        "| variant | seed | all views | best single view | all - best |",
        "|---|---|---|---|---|",
    ]
    for variant in variants(table):
        for path in sorted(run_dir(runs_dir, table, variant).glob("seed*/evaluation.json")):
            combinations = json.loads(path.read_text())["combinations"]
            sizes = sorted(combinations, key=lambda k: len(combinations[k][0]["views"]))
            singles, everything = combinations[sizes[0]], combinations[sizes[-1]][0]
            best = max(singles, key=lambda c: c["macro_f1"])
            gap = 100 * (everything["macro_f1"] - best["macro_f1"])
            lines.append(
                f"| {variant} | {path.parent.name.removeprefix('seed')} | "
                f"{100 * everything['macro_f1']:.2f} | {best['views'][0]} "
                f"{100 * best['macro_f1']:.2f} | {gap:+.2f} |"
            )
    return "\n".join(lines) + "\n"


# Tables whose first variant is the reference the others change one thing of.
PAIRED_TABLES = ("table5", "encoder", "augment")


def paired_table(table: str, runs_dir: Path) -> str:
    """Markdown: each variant minus the table's first variant, seed by seed (only seeds both
    finished), as mean ± std of the paired differences and how many seeds gained. Pairing
    removes the seed's own luck, which the unpaired means of `summarise` keep."""
    names = list(variants(table))
    baseline = _scores_by_seed(table, runs_dir, names[0])
    pairs = [(v, _scores_by_seed(table, runs_dir, v), baseline) for v in names[1:]]
    return _paired_markdown(f"variant - {names[0]}", pairs)


def against_runs(table: str, runs_dir: Path, other_runs_dir: Path) -> str:
    """Markdown: each variant of `table` minus the same variant and seed under
    `other_runs_dir` (another recipe's runs), for the seeds both finished."""
    pairs = [
        (v, _scores_by_seed(table, runs_dir, v), _scores_by_seed(table, other_runs_dir, v))
        for v in variants(table)
    ]
    return _paired_markdown("variant", pairs)


Scores = dict[int, dict[str, float]]  # seed -> scenario -> test macro-F1 (%)


def _paired_markdown(first_column: str, pairs: list[tuple[str, Scores, Scores]]) -> str:
    """A markdown table with one `_paired_row` per (label, scores, baseline) that shares a
    finished seed; empty when none does."""
    lines: list[str] = []
    for label, scores, baseline in pairs:
        seeds = sorted(set(scores) & set(baseline))
        if not seeds:
            continue
        scenario_names = list(baseline[seeds[0]])
        if not lines:
            lines.append(f"| {first_column} | {' | '.join(scenario_names)} | seeds |")
            lines.append("|---|" + "---|" * (len(scenario_names) + 1))
        lines.append(_paired_row(label, scores, baseline, seeds, scenario_names))
    return "\n".join(lines) + "\n" if lines else ""


def _paired_row(
    label: str,
    scores: dict[int, dict[str, float]],
    baseline: dict[int, dict[str, float]],
    seeds: list[int],
    scenario_names: list[str],
) -> str:
    """One markdown row: per scenario, mean ± std of `scores - baseline` over `seeds` and how
    many seeds gained."""
    cells = []
    for name in scenario_names:
        gains = [scores[seed][name] - baseline[seed][name] for seed in seeds]
        spread = f" ± {statistics.stdev(gains):.2f}" if len(gains) > 1 else ""
        better = sum(gain > 0 for gain in gains)
        cells.append(f"{statistics.mean(gains):+.2f}{spread} ({better}/{len(gains)} up)")
    seed_list = ", ".join(str(seed) for seed in seeds)
    return f"| {label} | " + " | ".join(cells) + f" | {seed_list} |"


def across_variants(table: str, runs_dir: Path) -> str:
    """Markdown: mean ± std over the variants (each its mean over seeds), so the split
    table says how far the score moves with the choice of test subjects alone."""
    means: dict[str, list[float]] = {}
    for variant in variants(table):
        for name, scores in collect_scores(table, runs_dir, variant).items():
            means.setdefault(name, []).append(statistics.mean(scores))
    count = min((len(v) for v in means.values()), default=0)
    if count < 2:
        return ""
    cells = " | ".join(
        f"{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f}" for v in means.values()
    )
    return (
        "| | " + " | ".join(means) + " |\n" + "|---|" + "---|" * len(means) + "\n"
        f"| mean ± std over {count} partitions | {cells} |\n"
    )


def _scores_by_seed(table: str, runs_dir: Path, variant: str) -> dict[int, dict[str, float]]:
    """Seed -> scenario -> test macro-F1 (%) of one variant's finished runs."""
    return {
        int(path.parent.name.removeprefix("seed")): {
            name: 100 * score for name, score in json.loads(path.read_text())["scenarios"].items()
        }
        for path in sorted(run_dir(runs_dir, table, variant).glob("seed*/evaluation.json"))
    }


def collect_scores(table: str, runs_dir: Path, variant: str = "RALIS") -> dict[str, list[float]]:
    """Scenario -> macro-F1 (%) of every finished seed of one variant."""
    scores: dict[str, list[float]] = {}
    for path in sorted(run_dir(runs_dir, table, variant).glob("seed*/evaluation.json")):
        for name, score in json.loads(path.read_text())["scenarios"].items():
            scores.setdefault(name, []).append(score * 100)
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("table", choices=TABLES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--variants",
        type=lambda text: [v.strip() for v in text.split(",") if v.strip()],
        default=None,
        help='comma-separated subset, e.g. --variants="-MoE,+full graph"',
    )
    parser.add_argument("--data", default=DEFAULT_DSADS)
    parser.add_argument(
        "--epochs",
        type=int,
        default=20,
        help="planned epochs (default 20, the paper's '>= 20' and every committed table's; "
        "`ralis train` plans 40 since 2026-12-03)",
    )
    parser.add_argument(
        "--min-steps",
        type=int,
        default=TABLE_MIN_STEPS,
        help=f"minimum optimiser steps (default {TABLE_MIN_STEPS}, as every committed table ran)",
    )
    parser.add_argument("--out", type=Path, default=Path("results/dsads"))
    parser.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default="default",
        help="overrides of `ralis train`'s defaults under every run (training/recipes.py)",
    )
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        help="another --out (another recipe): add each run minus its run there, same seed",
    )
    parser.add_argument("--summarise-only", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    runs_dir = args.out / "runs"
    if not args.summarise_only:
        table_variants = variants(args.table)
        first = next(iter(table_variants))
        for variant, overrides in table_variants.items():
            if args.variants and variant not in args.variants:
                continue
            for seed in args.seeds:
                config = run_config(
                    args.table, overrides, seed, args.data, args.epochs,
                    RECIPES[args.recipe], args.min_steps,
                )  # fmt: skip
                baseline = run_config(
                    args.table, table_variants[first], seed, args.data, args.epochs,
                    RECIPES[args.recipe], args.min_steps,
                )  # fmt: skip
                if variant != first and config == baseline:
                    # e.g. "kernel 9" when the recipe's encoder already is kernel 9
                    logging.info("skip %s %s: it is the %s run", args.table, variant, first)
                    continue
                out_dir = run_dir(runs_dir, args.table, variant) / f"seed{seed}"
                logging.info("run %s %s seed %d -> %s", args.table, variant, seed, out_dir)
                summary = run_one(config, out_dir)
                logging.info("done: %s", summary["scenarios"])
                if PROTOCOL[args.table] != "complete":
                    _report_view_prior(out_dir)
    table_md = summarise(args.table, runs_dir)
    if args.table in ("table3", "augment"):
        table_md += "\nAll-views test F1 of the classes that carry the gap:\n\n"
        table_md += class_table(args.table, runs_dir)
    if args.table == "splits" and (spread := across_variants(args.table, runs_dir)):
        table_md += "\nHow far the choice of subjects moves the score:\n\n" + spread
    if args.table in PAIRED_TABLES and (paired := paired_table(args.table, runs_dir)):
        table_md += "\nEach variant against the first row, paired by seed (points):\n\n"
        table_md += paired
    if args.against and (against := against_runs(args.table, runs_dir, args.against / "runs")):
        table_md += (
            f"\nEach run minus the same run under {args.against}, paired by seed (points):\n\n"
        )
        table_md += against
    table_md += "\nAll views against the best single view (test macro-F1, %):\n\n"
    table_md += fusion_table(args.table, runs_dir)
    table_md += "\nAll-views test F1 (%) per class, mean over seeds:\n\n"
    table_md += per_class_table(args.table, runs_dir)
    (args.out / f"{args.table}.md").write_text(table_md)
    ours = {t: collect_scores(t, runs_dir) for t in PAPER_RALIS}
    ours = {t: scores for t, scores in ours.items() if scores}
    if ours:
        from training.plots import plot_tables_vs_paper

        plot_tables_vs_paper(ours, PAPER_RALIS, args.out / "ralis_vs_paper.png")
    logging.getLogger(__name__).info("\n%s", table_md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
