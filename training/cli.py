"""`ralis train`, `ralis evaluate` and `ralis export`: thin wrappers over tested functions."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from model.config import ABLATIONS
from training.config import DEFAULT_DSADS, TrainConfig
from training.data.dsads import VIEW_SETS


def _subjects(text: str) -> tuple[int, ...]:
    return tuple(int(s) for s in text.split(",") if s)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainConfig(data="")
    parser.add_argument("--data", default=DEFAULT_DSADS, help="DSADS zip/folder or an .npz")
    parser.add_argument("--view-set", default=d.view_set, choices=list(VIEW_SETS))
    parser.add_argument("--window-seconds", type=float, default=d.window_seconds)
    parser.add_argument("--train-hop-seconds", type=float, default=None)
    parser.add_argument(
        "--train-drop-unit",
        choices=["window", "segment"],
        default=d.train_drop_unit,
        help="missing-view protocol on training data: per window, or per recording segment "
        "(with overlapping windows, so neighbours cannot hold what a window lost)",
    )
    parser.add_argument("--train-subjects", type=_subjects, default=d.train_subjects)
    parser.add_argument(
        "--val-subjects",
        type=_subjects,
        default=d.val_subjects,
        help="checkpoint selection and early stopping; may repeat training subjects only "
        "with --select-on last --no-view-prior (a final model: validation then only monitors)",
    )
    parser.add_argument("--test-subjects", type=_subjects, default=d.test_subjects)
    parser.add_argument(
        "--protocol", default=d.protocol, choices=["complete", "uniform", "per_view"]
    )
    parser.add_argument(
        "--eval-protocol", default=None, choices=["complete", "uniform", "per_view"]
    )
    parser.add_argument(
        "--recipe",
        default="default",
        choices=["default", "paper"],
        help="'paper': 20 epochs of plain Adam at a constant lr, best all-views val F1 kept "
        "(the paper's literal settings); flags given explicitly still win",
    )
    parser.add_argument("--epochs", type=int, default=None, help=f"minimum epochs ({d.epochs})")
    parser.add_argument(
        "--min-steps", type=int, default=None, help=f"minimum optimiser steps ({d.min_steps})"
    )
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument(
        "--lr-schedule", default=None, choices=["constant", "cosine", "warmup_cosine"]
    )
    parser.add_argument("--optimizer", default=None, choices=["adam", "adamw"])
    parser.add_argument("--weight-decay", type=float, default=None)
    parser.add_argument("--patience", type=int, default=None, help="early-stopping epochs")
    parser.add_argument("--select-on", default=None, choices=["val_scenarios", "val_f1", "last"])
    parser.add_argument("--smoothing", type=int, default=None, help="epochs averaged")
    parser.add_argument(
        "--weight-ema",
        type=float,
        default=None,
        help="evaluate and keep an exponential moving average of the weights with this decay "
        "per step (e.g. 0.999); default off",
    )
    parser.add_argument(
        "--weight-ema-warmup",
        action="store_const",
        const=True,
        default=None,
        help="with --weight-ema: the k-th update's decay is min(decay, (1 + k) / (10 + k))",
    )
    parser.add_argument(
        "--augment-transforms",
        default=None,
        type=lambda text: tuple(t for t in text.split(",") if t),
        help="comma-separated subset of rotate,scale,flip,time_warp, or 'all' "
        "(default: rotate,flip,time_warp)",
    )
    parser.add_argument(
        "--augment-probability",
        type=float,
        default=None,
        help="augment each present view window with this probability, else keep it as "
        f"recorded (default {d.augment_probability})",
    )
    parser.add_argument(
        "--augment-max-rotation",
        dest="augment_max_rotation_deg",
        type=float,
        default=None,
        help="bound of the inertial rotations, degrees about a random axis "
        f"(default {d.augment_max_rotation_deg})",
    )
    parser.add_argument(
        "--view-subset-probability",
        type=float,
        default=None,
        help="show each training window, with this probability, only a random non-empty "
        f"subset of its views (default {d.view_subset_probability})",
    )
    parser.add_argument(
        "--share-encoders",
        action="store_const",
        const=True,
        default=None,
        help="views of one modality and channel count share one encoder",
    )
    parser.add_argument("--cls-weight", type=float, default=d.cls_weight)
    parser.add_argument("--contrastive-weight", type=float, default=d.contrastive_weight)
    parser.add_argument("--balance-weight", type=float, default=d.balance_weight)
    parser.add_argument(
        "--class-balance-power",
        type=float,
        default=d.class_balance_power,
        help="class weights N / (K n_k) to this power, mean 1 per window (1: fully "
        "balanced, 0.5: square root, 0: none)",
    )
    parser.add_argument(
        "--contrastive-batch-size",
        type=int,
        default=d.contrastive_batch_size,
        help=f"a separate batch of this size for the contrastive loss (default "
        f"{d.contrastive_batch_size}; 0: share the classification batch, as before 2026-12-02)",
    )
    parser.add_argument(
        "--no-augment", dest="augment", action="store_false", help="no data augmentation"
    )
    parser.add_argument(
        "--view-prior",
        action=argparse.BooleanOptionalAction,
        default=d.view_prior,
        help="after training with views missing, bias the fusion toward the view that scores "
        "best alone on validation (training/view_prior.py)",
    )
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--threads", type=int, default=d.num_threads)
    parser.add_argument(
        "--contrastive",
        default="adjusted_center",
        choices=["adjusted_center", "full_graph", "cocoa", "none"],
        help="'none' = the -contrast ablation, 'full_graph' = +full graph",
    )
    parser.add_argument("--embed-dim", type=int, default=128)
    parser.add_argument(
        "--kernel-size",
        type=int,
        default=None,
        help="encoder convolution kernel (default 9, which beat 5 on DSADS and Berkeley MHAD; "
        "5 before 2026-12-02)",
    )
    parser.add_argument(
        "--label-smoothing",
        type=float,
        default=None,
        help="label smoothing of every classification term (default 0, the paper's)",
    )
    for ablation in ABLATIONS:  # the paper's Table 5, one flag per ablation
        if ablation.flag is not None:
            parser.add_argument(
                f"--{ablation.flag}", action="store_true", help=f"the {ablation.name} ablation"
            )


_RECIPE_FLAGS = (
    "epochs",
    "min_steps",
    "lr_schedule",
    "optimizer",
    "weight_decay",
    "patience",
    "select_on",
    "smoothing",
    "weight_ema",
    "weight_ema_warmup",
    "augment_probability",
    "augment_max_rotation_deg",
    "view_subset_probability",
    "share_encoders",
)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    from training.config import PAPER_RECIPE

    model: dict[str, Any] = {"contrastive": args.contrastive, "embed_dim": args.embed_dim}
    if args.kernel_size is not None:
        model["kernel_size"] = args.kernel_size
    if args.label_smoothing is not None:
        model["label_smoothing"] = args.label_smoothing
    recipe: dict[str, Any] = dict(PAPER_RECIPE) if args.recipe == "paper" else {}
    recipe |= {k: getattr(args, k) for k in _RECIPE_FLAGS if getattr(args, k) is not None}
    if args.augment_transforms is not None:  # "all" = every transform, scaling included
        all_transforms = args.augment_transforms == ("all",)
        recipe["augment_transforms"] = None if all_transforms else args.augment_transforms
    for ablation in ABLATIONS:
        if ablation.dest is not None and getattr(args, ablation.dest):
            model.update(ablation.overrides)
    return TrainConfig(
        data=args.data,
        view_set=args.view_set,
        window_seconds=args.window_seconds,
        train_hop_seconds=args.train_hop_seconds,
        train_drop_unit=args.train_drop_unit,
        train_subjects=args.train_subjects,
        val_subjects=args.val_subjects,
        test_subjects=args.test_subjects,
        protocol=args.protocol,
        eval_protocol=args.eval_protocol,
        batch_size=args.batch_size,
        lr=args.lr,
        cls_weight=args.cls_weight,
        contrastive_weight=args.contrastive_weight,
        balance_weight=args.balance_weight,
        class_balance_power=args.class_balance_power,
        contrastive_batch_size=args.contrastive_batch_size or None,  # 0: one shared batch
        augment=args.augment,
        view_prior=args.view_prior,
        seed=args.seed,
        num_threads=args.threads,
        model=model,
        **recipe,
    )


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("onnxscript").setLevel(logging.WARNING)  # optimiser notes per initializer


def train_main(argv: list[str]) -> int:
    """`ralis train`: train, then evaluate the best checkpoint on the test subjects."""
    parser = argparse.ArgumentParser(prog="ralis train", description=train_main.__doc__)
    add_train_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("runs/latest"))
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    _setup_logging()
    from training.checkpoint import Checkpoint
    from training.pipeline import prepare_data
    from training.reporting import write_evaluation
    from training.trainer import train

    config = config_from_args(args)
    data = prepare_data(config)
    result = train(config, args.out, data=data, progress=not args.no_progress)
    from training.view_prior import after_training

    prior: dict[str, Any] = after_training(
        config.view_prior, result.checkpoint_path, data.val, data.train.mask
    )
    checkpoint = Checkpoint.load(result.checkpoint_path)
    summary = write_evaluation(
        checkpoint,
        data.test,
        args.out,
        extra=prior
        | {
            "best_epoch": result.best_epoch,
            "best_val_macro_f1": result.best_val_macro_f1,
            "epochs_run": result.epochs_run,
            "planned_epochs": result.planned_epochs,
            "steps": result.steps,
            "stopped_early": result.stopped_early,
            "seconds_per_epoch": result.seconds_per_epoch,
            "total_seconds": result.total_seconds,
        },
    )
    logging.getLogger(__name__).info("test: %s", json.dumps(summary["scenarios"]))
    return 0


def evaluate_main(argv: list[str]) -> int:
    """`ralis evaluate CHECKPOINT`: test-subject macro-F1 over view combinations, with plots."""
    parser = argparse.ArgumentParser(prog="ralis evaluate", description=evaluate_main.__doc__)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", default=None, help="override the data path in the checkpoint")
    parser.add_argument("--protocol", default=None, choices=["complete", "uniform", "per_view"])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    _setup_logging()
    import dataclasses

    from training.checkpoint import Checkpoint
    from training.pipeline import prepare_test_data
    from training.reporting import write_evaluation

    checkpoint = Checkpoint.load(args.checkpoint)
    config = checkpoint.train_config
    if args.data:
        config = dataclasses.replace(config, data=args.data)
    if args.protocol:
        config = dataclasses.replace(config, eval_protocol=args.protocol)
    test = prepare_test_data(config, checkpoint.normalizer)
    summary = write_evaluation(checkpoint, test, args.out or args.checkpoint.parent / "evaluation")
    logging.getLogger(__name__).info("test: %s", json.dumps(summary["scenarios"]))
    return 0


def export_main(argv: list[str]) -> int:
    """`ralis export CHECKPOINT --out DIR`: write an ONNX model bundle and check parity."""
    parser = argparse.ArgumentParser(prog="ralis export", description=export_main.__doc__)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", default="ralis-dsads-acc")
    parser.add_argument("--version", default="0.1.0")
    parser.add_argument("--metrics", type=Path, default=None, help="JSON of numbers for the card")
    args = parser.parse_args(argv)
    _setup_logging()
    from training.checkpoint import Checkpoint
    from training.export import check_parity, export_bundle

    checkpoint = Checkpoint.load(args.checkpoint)
    metrics = json.loads(args.metrics.read_text()) if args.metrics else {}
    export_bundle(checkpoint, args.out, args.name, args.version, metrics=metrics)
    parity = check_parity(checkpoint, args.out)
    logging.getLogger(__name__).info("parity: %s", parity)
    return 0
