"""Why does a fusion lose to a single view? Post-hoc checks on a trained checkpoint.

`python -m training.diagnostics RUN_DIR` scores the test split with all views three ways:
the learned attention weights, uniform weights over the present views, and each single
view; then, per class, the F1 of the fusion and of the best single view next to the mean
attention weight of every view. Writes `RUN_DIR/fusion_diagnostics.md`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch

from training.checkpoint import Checkpoint
from training.evaluation import embed_views, per_class_f1
from training.metrics import macro_f1
from training.pipeline import prepare_test_data


@torch.no_grad()
def fusion_report(checkpoint: Checkpoint, run_dir: Path) -> str:
    model = checkpoint.model.eval()
    test = prepare_test_data(checkpoint.train_config, checkpoint.normalizer)
    test = test.subset(test.y >= 0)
    z = embed_views(model, test)
    mask = torch.from_numpy(test.mask)
    num_classes = len(test.class_names)
    y = test.y

    def predict(weights: torch.Tensor | None, view_mask: torch.Tensor) -> np.ndarray:
        if weights is None:
            fused, _ = model.fusion(z, view_mask)
        else:
            fused = (weights.unsqueeze(-1) * z).sum(1)
            if model.config.use_magnorm:
                fused = fused / fused.norm(dim=-1, keepdim=True) * fused.shape[-1] ** 0.5
        predicted: np.ndarray = model.head(fused).logits.argmax(-1).numpy()
        return predicted

    learned = predict(None, mask)
    uniform_w = mask.float() / mask.sum(1, keepdim=True)
    uniform = predict(uniform_w, mask)
    _, attention = model.fusion(z, mask)
    singles = {}
    for index, name in enumerate(test.view_names):
        only = torch.zeros_like(mask)
        only[:, index] = mask[:, index]
        singles[name] = predict(None, only)
    lines = [
        f"# Fusion diagnostics: {run_dir}",
        "",
        "| all views, fused with | test macro-F1 (%) |",
        "|---|---|",
        f"| learned attention weights | {macro_f1(y, learned, num_classes) * 100:.2f} |",
        f"| uniform weights | {macro_f1(y, uniform, num_classes) * 100:.2f} |",
    ]
    # A view alone is scored on the windows that have it; so is the fusion next to it, since
    # under view-drop protocols "all views" and "one view" otherwise cover different windows.
    has = {name: test.mask[:, index] for index, name in enumerate(test.view_names)}
    single_f1 = {
        n: macro_f1(y[has[n]], p[has[n]], num_classes) if has[n].any() else 0.0
        for n, p in singles.items()
    }
    best = max(single_f1, key=single_f1.__getitem__)
    lines.append(f"| best single view ({best}) | {single_f1[best] * 100:.2f} |")
    lines += [
        "",
        "Each view alone against the fusion of every view present, on the same windows (those "
        "that have the view):",
        "",
        "| view | windows | view alone | fusion | fusion - view |",
        "|---|---|---|---|---|",
    ]
    for name, present in has.items():
        if not present.any():
            continue
        fused_here = macro_f1(y[present], learned[present], num_classes)
        lines.append(
            f"| {name} | {int(present.sum())} | {single_f1[name] * 100:.2f} | "
            f"{fused_here * 100:.2f} | {(fused_here - single_f1[name]) * 100:+.2f} |"
        )
    lines += [
        "",
        "Per class: F1 (%) of the learned fusion, of the best single view, and the mean "
        "attention weight of each view (all views present).",
        "",
        "| class | fusion F1 | " + f"{best} F1 | " + " | ".join(test.view_names) + " |",
        "|---|---|---|" + "---|" * len(test.view_names),
    ]
    fusion_class = per_class_f1(y, learned, num_classes)
    best_class = per_class_f1(y[has[best]], singles[best][has[best]], num_classes)
    for k, name in enumerate(test.class_names):
        weights = attention[torch.from_numpy(y == k)].mean(0).numpy()
        cells = " | ".join(f"{w:.2f}" for w in weights)
        lines.append(
            f"| {name} | {fusion_class[k] * 100:.1f} | {best_class[k] * 100:.1f} | {cells} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    torch.set_num_threads(1)
    checkpoint = Checkpoint.load(args.run_dir / "checkpoint.pt")
    report = fusion_report(checkpoint, args.run_dir)
    (args.run_dir / "fusion_diagnostics.md").write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
