"""Result plots: F1 against number of views, confusion matrix, view weights per class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from training.evaluation import EvaluationReport  # noqa: E402


def plot_f1_vs_views(report: EvaluationReport, path: Path, title: str = "") -> None:
    sizes, means, spreads = [], [], []
    for results in report.combinations.values():
        scores = [r.macro_f1 * 100 for r in results]
        sizes.append(len(results[0].views))
        means.append(np.mean(scores))
        spreads.append((np.mean(scores) - min(scores), max(scores) - np.mean(scores)))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar(sizes, means, yerr=np.array(spreads).T, marker="o", capsize=4)
    ax.set_xlabel("number of views available")
    ax.set_ylabel("macro-F1 (%) (mean, min-max over combinations)")
    ax.set_xticks(sizes)
    ax.set_title(title or "Test macro-F1 vs available views")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_confusion(report: EvaluationReport, path: Path) -> None:
    matrix = report.confusion_all_views.astype(float)
    normalised = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(8, 7))
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(report.class_names))
    ax.set_xticks(ticks, report.class_names, rotation=90, fontsize=7)
    ax.set_yticks(ticks, report.class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix, all views (row-normalised)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_view_weights(report: EvaluationReport, path: Path) -> None:
    weights = report.view_weights_per_class
    fig, ax = plt.subplots(figsize=(6, 7))
    image = ax.imshow(weights, cmap="viridis", aspect="auto")
    ax.set_xticks(np.arange(len(report.view_names)), report.view_names, rotation=45, ha="right")
    ax.set_yticks(np.arange(len(report.class_names)), report.class_names, fontsize=7)
    ax.set_title("Mean attention weight per view and class (all views)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_tables_vs_paper(
    ours: dict[str, dict[str, list[float]]],
    paper: dict[str, dict[str, float]],
    path: Path,
) -> None:
    """Mean ± std over seeds of each table's scenarios next to the paper's numbers.

    Args:
        ours: table -> scenario -> macro-F1 (%) per seed.
        paper: table -> scenario -> the paper's macro-F1 (%).
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for index, (table, scenarios) in enumerate(ours.items()):
        names = list(scenarios)
        x = np.arange(len(names)) + index * 0.08
        means = [np.mean(scenarios[n]) for n in names]
        stds = [
            float(np.std(scenarios[n], ddof=1)) if len(scenarios[n]) > 1 else 0.0 for n in names
        ]
        color = f"C{index}"
        ax.errorbar(
            x, means, yerr=stds, marker="o", capsize=4, color=color, label=f"{table} (ours)"
        )
        if table in paper:
            ax.plot(
                x,
                [paper[table].get(n, np.nan) for n in names],
                "--",
                marker="s",
                color=color,
                alpha=0.6,
                label=f"{table} (paper)",
            )
        ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylabel("test macro-F1 (%)")
    ax.set_title("DSADS test subjects p6-p8: ours (mean ± std) vs paper", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_learning_curves(history: list[dict[str, Any]], path: Path, select_on: str = "") -> None:
    """Per epoch: training losses (top), validation macro-F1 and the learning rate (bottom)."""
    epochs = [r["epoch"] for r in history]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6.5), sharex=True)
    for key, style in (("loss", "-"), ("classification", "--"), ("contrastive", ":")):
        top.plot(epochs, [r[key] for r in history], style, label=f"train {key}")
    top.set_ylabel("training loss (mean over epoch)")
    top.grid(alpha=0.3)
    top.legend(fontsize=8)
    bottom.plot(epochs, [100 * r["val_macro_f1"] for r in history], label="val all views")
    scenario_names = list(history[0].get("val_scenarios", {}))
    for name in scenario_names:
        bottom.plot(
            epochs,
            [100 * r["val_scenarios"][name] for r in history],
            alpha=0.5,
            lw=0.8,
            label=f"val {name}",
        )
    if "selection_smoothed" in history[0]:
        bottom.plot(
            epochs,
            [100 * r["selection_smoothed"] for r in history],
            "k-",
            lw=2,
            label=f"selection ({select_on}, smoothed)",
        )
        best = history[-1].get("best_epoch")
        if best:
            bottom.axvline(best, color="k", ls=":", lw=1, label=f"kept: epoch {best}")
    bottom.set_xlabel("epoch")
    bottom.set_ylabel("validation macro-F1 (%)")
    bottom.grid(alpha=0.3)
    bottom.legend(fontsize=7, loc="lower right")
    lr_axis = bottom.twinx()
    lr_axis.plot(epochs, [r["lr"] for r in history], color="grey", alpha=0.4, lw=1)
    lr_axis.set_ylabel("learning rate (start of epoch)", color="grey")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
