"""A prior toward the most reliable view in the fusion's attention, chosen on validation.

A RALIS extension, not in the paper. Under missing-view training on DSADS, the learned
attention weights come out nearly even (about 0.2-0.3 per view of 5), and in half of those
runs the fusion scored below the right leg alone on the same windows
(`training/diagnostics.py`). This picks the view that scores best alone on validation, and
the bias b in `BIASES` added to its attention score that gives the fusion the best
validation macro-F1 on the windows that have that view. Ties go to the smaller b, and b = 0
leaves the model as trained. The bias lives in `model.fusion.score_bias`, so the exported
head carries it.

`python -m training.view_prior RUN_DIR` applies it to a finished run. It writes
`RUN_DIR/view_prior/` (`view_prior.md`, the choice on validation and the test scenarios
before and after, plus `checkpoint.pt` with the prior set) and leaves the run itself as it
was.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from model import RalisModel
from training.checkpoint import Checkpoint
from training.data.dataset import MultiViewDataset
from training.evaluation import embed_views, evaluate
from training.metrics import macro_f1
from training.pipeline import prepare_split_data

BIASES = (0.0, 1.0, 2.0, 3.0)  # 3 gives the view about 0.9 of the weight among 5

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ViewPrior:
    """The chosen view and bias, with the validation scores that chose them (macro-F1)."""

    view: int
    view_name: str
    bias: float
    alone_f1: dict[str, float]  # each view alone, on the validation windows that have it
    fused_f1: dict[float, float]  # per bias: the fusion on the windows that have `view`


@torch.no_grad()
def choose_view_prior(
    model: RalisModel, val: MultiViewDataset, biases: tuple[float, ...] = BIASES
) -> ViewPrior:
    """The validation-best single view and its attention-score bias (module docstring)."""
    labelled = val.subset(val.y >= 0)
    z = embed_views(model, labelled)
    mask = torch.from_numpy(labelled.mask)
    classes = len(labelled.class_names)
    names = labelled.view_names
    fusion = model.fusion
    base = fusion.score_bias.clone()

    def f1(rows: torch.Tensor, logits: torch.Tensor) -> float:
        return macro_f1(labelled.y[rows.numpy()], logits.argmax(-1).numpy(), classes)

    alone: dict[str, float] = {}
    for index, name in enumerate(names):
        has = mask[:, index]
        if bool(has.any()):
            only = torch.zeros_like(mask[has])
            only[:, index] = True
            alone[name] = f1(has, model.head(fusion(z[has], only)[0]).logits)
    view = names.index(max(alone, key=alone.__getitem__))
    has = mask[:, view]
    fused: dict[float, float] = {}
    try:
        for bias in biases:
            fusion.score_bias.copy_(base)
            fusion.score_bias[view] += bias
            fused[bias] = f1(has, model.head(fusion(z[has], mask[has])[0]).logits)
    finally:
        fusion.score_bias.copy_(base)
    best = max(fused.values())
    chosen = min(b for b, score in fused.items() if score == best)
    return ViewPrior(view, names[view], chosen, alone, fused)


def apply_view_prior(model: RalisModel, prior: ViewPrior) -> None:
    """Add the prior's bias to its view's attention score."""
    with torch.no_grad():
        model.fusion.score_bias[prior.view] += prior.bias


def report(prior: ViewPrior, before: dict[str, float], after: dict[str, float]) -> str:
    """Markdown: the choice on validation, and the test scenarios before and after."""
    lines = [
        "# View prior (chosen on validation)",
        "",
        "Each view alone, validation macro-F1 (%) on the windows that have it:",
        "",
        "| view | alone |",
        "|---|---|",
        *(f"| {name} | {score * 100:.2f} |" for name, score in prior.alone_f1.items()),
        "",
        f"Fusion with bias b on {prior.view_name}'s attention score, validation macro-F1 (%) "
        f"on the windows that have {prior.view_name}:",
        "",
        "| b | fusion |",
        "|---|---|",
        *(f"| {b:g} | {score * 100:.2f} |" for b, score in prior.fused_f1.items()),
        "",
        f"Chosen: b = {prior.bias:g} on {prior.view_name}.",
        "",
        "| test macro-F1 (%) | " + " | ".join(before) + " |",
        "|---|" + "---|" * len(before),
        "| as trained | " + " | ".join(f"{v * 100:.2f}" for v in before.values()) + " |",
        "| with the prior | " + " | ".join(f"{v * 100:.2f}" for v in after.values()) + " |",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--max-combinations", type=int, default=100)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    torch.set_num_threads(1)
    checkpoint = Checkpoint.load(args.run_dir / "checkpoint.pt")
    config, normalizer = checkpoint.train_config, checkpoint.normalizer
    val = prepare_split_data(config, normalizer, "val")
    test = prepare_split_data(config, normalizer, "test")
    model = checkpoint.model
    before = evaluate(model, test, args.max_combinations).scenarios
    prior = choose_view_prior(model, val)
    apply_view_prior(model, prior)
    after = evaluate(model, test, args.max_combinations).scenarios
    out = args.run_dir / "view_prior"
    out.mkdir(exist_ok=True)
    (out / "view_prior.md").write_text(report(prior, before, after))
    checkpoint.save(out / "checkpoint.pt")
    log.info("b = %g on %s; test %s -> %s", prior.bias, prior.view_name, before, after)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
