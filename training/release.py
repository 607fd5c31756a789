"""Package a trained run as a bundle, with parity numbers and a model card from the checkpoint.

`python -m training.release RUN_DIR --out service/default_bundle
    [--check-windows tests/fixtures/dsads_windows/windows.npz]`
reads `RUN_DIR/checkpoint.pt` and `RUN_DIR/evaluation.json` (written by `ralis train`).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from training.checkpoint import Checkpoint
from training.export import check_parity, export_bundle
from training.model_card import DATASETS, dataset_kind, model_card


def check_windows(checkpoint: Checkpoint, path: Path) -> dict[str, np.ndarray]:
    """Raw windows `X_<view>` of shape (N, T, C) from an .npz file, normalised as the model
    expects, channel-major (N, C, T).

    Raises:
        SystemExit: the file lacks one of the checkpoint's views.
    """
    arrays = np.load(path)
    missing = [v.name for v in checkpoint.views if f"X_{v.name}" not in arrays]
    if missing:
        raise SystemExit(f"{path} has no X_<view> arrays for {', '.join(missing)}")
    return {
        view.name: np.ascontiguousarray(
            checkpoint.normalizer.apply_view(view.name, arrays[f"X_{view.name}"]).transpose(0, 2, 1)
        )
        for view in checkpoint.views
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=Path("service/default_bundle"))
    parser.add_argument("--name", default="ralis-dsads-acc")
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument(
        "--check-windows",
        type=Path,
        default=None,
        help="an .npz of real held-out windows (X_<view>: N x T x C, raw units) for the ONNX "
        "parity check, e.g. tests/fixtures/dsads_windows/windows.npz; random inputs always",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("onnxscript").setLevel(logging.WARNING)  # optimiser notes per initializer
    checkpoint = Checkpoint.load(args.run / "checkpoint.pt")
    evaluation = json.loads((args.run / "evaluation.json").read_text())
    metrics = {
        f"test_macro_f1_{name.replace(' ', '_')}": float(score)
        for name, score in evaluation["scenarios"].items()
    }
    config = checkpoint.train_config
    description = (
        f"{DATASETS[dataset_kind(config)][0]}, {len(checkpoint.views)} views, "
        f"{config.window_seconds:g} s windows, train subjects {list(config.train_subjects)}, "
        f"selection {list(config.val_subjects)}, test {list(config.test_subjects)}"
    )
    export_bundle(checkpoint, args.out, args.name, args.version, description, metrics)
    parity = {}
    if args.check_windows is not None:
        windows = check_windows(checkpoint, args.check_windows)
        parity[f"real windows from {args.check_windows.name}"] = check_parity(
            checkpoint, args.out, windows=windows
        )
    parity["random inputs"] = check_parity(checkpoint, args.out, num_samples=64)
    # The card is documentation, not a bundle file: it is not hashed by the manifest.
    card = model_card(checkpoint, evaluation, parity, f"{args.name} {args.version}")
    (args.out / "MODEL_CARD.md").write_text(card)
    logging.info("bundle written to %s; parity %s", args.out, parity)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
