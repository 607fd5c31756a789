"""Evaluate a checkpoint and write JSON, a Markdown table and plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.checkpoint import Checkpoint
from training.data.dataset import MultiViewDataset
from training.evaluation import EvaluationReport, evaluate
from training.plots import plot_confusion, plot_f1_vs_views, plot_view_weights


def markdown_table(report: EvaluationReport) -> str:
    trial = bool(report.scenarios_trial)
    head = "| scenario | mean macro-F1 (%) |" + (" per trial (%) |" if trial else "")
    lines = [head + " combinations |", "|---|---|" + ("---|" if trial else "") + "---|"]
    for label, score in report.scenarios.items():
        cell = f" {report.scenarios_trial[label] * 100:.2f} |" if trial else ""
        lines.append(f"| {label} | {score * 100:.2f} |{cell} {len(report.combinations[label])} |")
    lines += [
        "",
        "| views | macro-F1 (%) | accuracy (%) | samples |" + (" per trial (%) |" if trial else ""),
        "|---|---|---|---|" + ("---|" if trial else ""),
    ]
    for results in report.combinations.values():
        for r in results:
            cell = f" {r.trial_macro_f1 * 100:.2f} |" if r.trial_macro_f1 is not None else ""
            lines.append(
                f"| {'+'.join(r.views)} | {r.macro_f1 * 100:.2f} | {r.accuracy * 100:.2f} "
                f"| {r.num_samples} |{cell}"
            )
    if report.per_class_f1_all_views:
        lines += ["", "| class (all views) | F1 (%) |", "|---|---|"]
        for name, f1 in zip(report.class_names, report.per_class_f1_all_views, strict=True):
            lines.append(f"| {name} | {f1 * 100:.2f} |")
    return "\n".join(lines) + "\n"


def write_evaluation(
    checkpoint: Checkpoint,
    test: MultiViewDataset,
    out_dir: Path,
    extra: dict[str, Any] | None = None,
    max_combinations: int | None = 100,
) -> dict[str, Any]:
    """Write `evaluation.json`, `evaluation.md` and three PNG plots into `out_dir`.

    A scenario with more than `max_combinations` view subsets is scored on a fixed random
    sample of that many (e.g. 6 of 12 views: 924 subsets).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    report = evaluate(checkpoint.model, test, max_combinations)
    report.extra.update(extra or {})
    summary = report.to_json()
    (out_dir / "evaluation.md").write_text(markdown_table(report))
    plot_f1_vs_views(report, out_dir / "f1_vs_views.png")
    plot_confusion(report, out_dir / "confusion_all_views.png")
    plot_view_weights(report, out_dir / "view_weights_per_class.png")
    # Last and atomic: experiment runners treat evaluation.json as "this run is finished",
    # so a run stopped while plotting must not look finished (and then lack its plots).
    partial = out_dir / "evaluation.json.partial"
    partial.write_text(json.dumps(summary, indent=2) + "\n")
    partial.replace(out_dir / "evaluation.json")
    return summary
