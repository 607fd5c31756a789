"""Package a trained run as the shipped default bundle, with parity numbers and a model card.

`python -m training.release RUN_DIR --out service/default_bundle`
reads `RUN_DIR/checkpoint.pt` and `RUN_DIR/evaluation.json` (written by `ralis train`).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from training.checkpoint import Checkpoint
from training.export import ParityReport, check_parity, export_bundle

REAL_WINDOWS = Path(__file__).resolve().parents[1] / "tests/fixtures/dsads_windows/windows.npz"


def real_test_windows(checkpoint: Checkpoint) -> dict[str, np.ndarray] | None:
    """The committed real test-subject windows, normalised, channel-major `(N, C, T)`."""
    if not REAL_WINDOWS.is_file():
        return None
    arrays = np.load(REAL_WINDOWS)
    return {
        view.name: np.ascontiguousarray(
            checkpoint.normalizer.apply_view(view.name, arrays[f"X_{view.name}"]).transpose(0, 2, 1)
        )
        for view in checkpoint.views
    }


def model_card(
    checkpoint: Checkpoint, evaluation: dict, parity: ParityReport, random_parity: ParityReport
) -> str:
    config = checkpoint.train_config
    augmentation = "scaling, time warping, rotations up to 30 degrees" if config.augment else "none"
    scenarios = evaluation["scenarios"]
    rows = "\n".join(f"| {name} | {score * 100:.2f} |" for name, score in scenarios.items())
    views = ", ".join(v.name for v in checkpoint.views)
    return f"""# Model card: RALIS default model (DSADS, 5 accelerometers)

## What it does
Recognises 19 daily and sports activities from 4-second windows of any non-empty subset of
five 3-axis accelerometers ({views}; m/s^2, 25 Hz). Classes: {", ".join(checkpoint.class_names)}.

## Data and protocol
- Data: UCI Daily and Sports Activities (DSADS), real recordings, re-windowed from the
  continuous 5-minute recordings into {config.window_seconds:g} s windows
  (training hop {config.train_hop_seconds or config.window_seconds:g} s, i.e. 50% overlap).
- Training subjects: {", ".join(f"p{s}" for s in config.train_subjects)}; checkpoint
  selection on {", ".join(f"p{s}" for s in config.val_subjects)} (best validation macro-F1,
  epoch {checkpoint.epoch} of {config.epochs}, validation macro-F1
  {checkpoint.val_macro_f1 * 100:.2f}). Test subjects
  {", ".join(f"p{s}" for s in config.test_subjects)} were never seen.
- Missing views: uniform view dropping during training (each view dropped with probability
  10^(-3/5) = 0.251 per window), so the model has seen missing sensors.
- Augmentation: {augmentation}.
- Optimiser: Adam, lr {config.lr:g}, batch {config.batch_size}; loss weights
  classification {config.cls_weight:g} / contrastive {config.contrastive_weight:g} /
  load balance {config.balance_weight:g}; seed {config.seed}.

## Test-subject macro-F1 (p6-p8, 4 s windows without overlap, complete recordings)
Each scenario is the mean over every combination of that many sensors.

| scenario | macro-F1 (%) |
|---|---|
{rows}

## ONNX parity (onnxruntime CPU vs PyTorch, every one of the 31 non-empty sensor subsets)
- real test windows ({parity.samples_per_subset} windows x {parity.subsets_checked} subsets):
  largest probability difference {parity.max_probability_diff:.2e}, argmax agreement
  {parity.argmax_agreement * 100:.2f}%
- random inputs ({random_parity.samples_per_subset} x {random_parity.subsets_checked}):
  largest difference {random_parity.max_probability_diff:.2e}, argmax agreement
  {random_parity.argmax_agreement * 100:.2f}%

## Limitations
Trained on 4 subjects of one dataset, sensors in fixed positions and orientations as in
DSADS; other placements, sampling rates far from 25 Hz or other populations will do worse.

## Licence and attribution
Model weights: same licence as this repository. Training data: B. Barshan and K. Altun
(2010), Daily and Sports Activities, UCI Machine Learning Repository,
https://doi.org/10.24432/C5C59F, CC BY 4.0; K. Altun, B. Barshan, O. Tunçel, "Comparative
study on classifying human activities with miniature inertial and magnetic sensors",
Pattern Recognition 43(10):3605-3620, 2010.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=Path("service/default_bundle"))
    parser.add_argument("--name", default="ralis-dsads-acc")
    parser.add_argument("--version", default="1.0.0")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("onnxscript").setLevel(logging.WARNING)  # optimiser notes per initializer
    checkpoint = Checkpoint.load(args.run / "checkpoint.pt")
    evaluation = json.loads((args.run / "evaluation.json").read_text())
    metrics = {
        f"test_macro_f1_{name.replace(' ', '_')}": float(score)
        for name, score in evaluation["scenarios"].items()
    }
    description = (
        "UCI Daily and Sports Activities (DSADS), 5 accelerometers, 4 s windows, "
        f"train subjects {list(checkpoint.train_config.train_subjects)}, "
        f"selection {list(checkpoint.train_config.val_subjects)}, "
        f"test {list(checkpoint.train_config.test_subjects)}"
    )
    export_bundle(checkpoint, args.out, args.name, args.version, description, metrics)
    windows = real_test_windows(checkpoint)
    parity = check_parity(checkpoint, args.out, windows=windows)
    random_parity = check_parity(checkpoint, args.out, num_samples=64)
    # The card is documentation, not a bundle file: it is not hashed by the manifest.
    (args.out / "MODEL_CARD.md").write_text(
        model_card(checkpoint, evaluation, parity, random_parity)
    )
    logging.info("bundle written to %s; parity real %s random %s", args.out, parity, random_parity)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
