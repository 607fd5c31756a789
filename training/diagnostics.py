"""Why does a fusion lose to a single view? Post-hoc checks on a trained checkpoint.

`python -m training.diagnostics RUN_DIR` scores the test split with all views three ways:
the learned attention weights, uniform weights over the present views, and each single
view; then, per class, the F1 of the fusion and of the best single view next to the mean
attention weight of every view. Last, on validation and test, two ways of combining the
views that could rescue a fusion that loses to its best view: a bias toward that view in the
attention scores, and late fusion (the mean of every present view's head log-probabilities;
the head is trained on every single view, so it scores them). Writes
`RUN_DIR/fusion_diagnostics.md`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch

from model import RalisModel
from model.fusion import masked_softmax
from model.magnorm import magnorm
from training.checkpoint import Checkpoint
from training.data.dataset import MultiViewDataset
from training.evaluation import embed_views, per_class_f1
from training.metrics import macro_f1
from training.pipeline import prepare_split_data, prepare_test_data

# Added to the best view's attention score: 0 is the learned fusion; 3 gives it ~0.9 weight.
SCORE_BIASES = (0.0, 1.0, 2.0, 3.0)


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
    lines += ["", *alternatives_report(checkpoint, best)]
    return "\n".join(lines) + "\n"


@torch.no_grad()
def alternatives_report(checkpoint: Checkpoint, best: str) -> list[str]:
    """Macro-F1 (%) on the windows that have the best view, validation and test: the fusion
    with a bias toward the best view's attention score, late fusion, and the view alone."""
    model = checkpoint.model.eval()
    header = " | ".join(f"bias {b:g}" for b in SCORE_BIASES)
    lines = [
        f"Ways to combine the views, on the windows that have {best} (macro-F1 %; bias b is "
        f"added to {best}'s attention score, b = 0 being the learned fusion, with {best}'s "
        "mean weight in brackets; late = mean of the present views' head log-probabilities):",
        "",
        f"| split | {header} | late fusion | {best} alone |",
        "|---|" + "---|" * (len(SCORE_BIASES) + 2),
    ]
    for split in ("val", "test"):
        data = prepare_split_data(checkpoint.train_config, checkpoint.normalizer, split)
        data = data.subset(data.y >= 0)
        cells = _alternatives(model, data, data.view_names.index(best))
        lines.append(f"| {split} | " + " | ".join(cells) + " |")
    return lines


def _alternatives(
    model: RalisModel,
    data: MultiViewDataset,
    best: int,
    biases: tuple[float, ...] = SCORE_BIASES,
) -> list[str]:
    """Cells: one per bias ("F1 (mean weight of the best view)"), late fusion, the view alone."""
    z = embed_views(model, data)
    mask = torch.from_numpy(data.mask)
    has = data.mask[:, best]
    num_classes = len(data.class_names)

    def score(logits: torch.Tensor) -> float:
        predicted = logits[has].argmax(-1).numpy()
        return macro_f1(data.y[has], predicted, num_classes) * 100

    def fuse(weights: torch.Tensor) -> torch.Tensor:
        fused = (weights.unsqueeze(-1) * z).sum(1)
        return magnorm(fused) if model.config.use_magnorm else fused

    fusion = model.fusion
    # (N, V) scores as the fusion computes them; the "-attention" ablation has none.
    scores = fusion.scorer(z).squeeze(-1) if fusion.use_attention else torch.zeros(z.shape[:2])
    cells = []
    for bias in biases:
        shifted = scores.clone()
        shifted[:, best] += bias
        weights = masked_softmax(shifted, mask)
        mean_weight = float(weights[torch.from_numpy(has), best].mean())
        cells.append(f"{score(model.head(fuse(weights)).logits):.2f} ({mean_weight:.2f})")
    per_view = torch.stack(
        [torch.log_softmax(model.head(z[:, v]).logits, -1) for v in range(z.shape[1])], 1
    )  # (N, V, K)
    present = mask.float().unsqueeze(-1)
    late = (per_view * present).sum(1) / present.sum(1).clamp(min=1.0)
    cells.append(f"{score(late):.2f}")
    cells.append(f"{score(per_view[:, best]):.2f}")
    return cells


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
