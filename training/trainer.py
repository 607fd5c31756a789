"""The one training loop: seeded, resumable, with a step budget, a warm-up + cosine schedule,
early stopping and checkpoint selection on a smoothed validation metric.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from model import RalisConfig, RalisModel, ViewConfig, compute_losses, contrastive_term
from training.checkpoint import Checkpoint
from training.config import TrainConfig, as_it_ran
from training.data.batches import Batch, iterate_batches
from training.data.dataset import ViewInfo
from training.data.view_subsets import keep_random_view_subsets
from training.evaluation import validation_scores
from training.pipeline import PreparedData, prepare_data

log = logging.getLogger(__name__)

RESUME_FILE = "last.pt"  # full training state after the latest epoch (not for release)
LEARNING_CURVES = "learning_curves.png"


@dataclass
class TrainResult:
    checkpoint_path: Path
    best_epoch: int
    best_val_macro_f1: float  # the smoothed selection metric at the kept epoch
    seconds_per_epoch: float
    total_seconds: float
    epochs_run: int = 0
    planned_epochs: int = 0
    steps: int = 0
    stopped_early: bool = False


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def shared_encoder_group(view: ViewInfo) -> str:
    """The encoder a view shares under `share_encoders`: one per modality, channel count and
    pose normalisation, so only views an encoder can take alike end up together."""
    group = f"{view.modality}_{view.num_channels}ch"
    if view.pose_dims:
        group += f"_root{view.root_joint}_scale{view.scale_joint}"
    return group


def build_model_config(config: TrainConfig, data: PreparedData) -> RalisConfig:
    """The architecture for this data, with the config's ablation overrides."""
    views = tuple(
        ViewConfig(
            v.name,
            v.num_channels,
            encoder_group=shared_encoder_group(v) if config.share_encoders else None,
            pose_dims=v.pose_dims,
            root_joint=v.root_joint if v.pose_dims else 0,
            scale_joint=v.scale_joint if v.pose_dims else None,
        )
        for v in data.train.views
    )
    return RalisConfig(views=views, num_classes=len(data.train.class_names), **config.model)


def class_weights(labels: np.ndarray, num_classes: int, power: float = 1.0) -> torch.Tensor:
    """Inverse class frequency N / (K * n_k) over labelled samples, raised to `power` and
    rescaled so that the mean weight per labelled sample is 1; 0 for absent classes."""
    counts = np.bincount(labels[labels >= 0], minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = (counts.sum() / (present.sum() * counts[present])) ** power
    if present.any():  # power 1 is already at mean 1
        weights *= counts.sum() / (weights * counts).sum()
    return torch.tensor(weights, dtype=torch.float32)


def config_differences(
    saved: dict[str, Any], config: TrainConfig, ignore: frozenset[str] = frozenset()
) -> list[str]:
    """The fields (but `ignore`) in which a saved run's configuration differs from `config`,
    as "field: saved -> wanted". Fields added to TrainConfig after the run started count as they
    behaved then (`as_it_ran`) or else as their defaults, so that a new option does not make
    every interrupted run start afresh; tuples and lists alike."""
    defaults = TrainConfig(data=config.data).to_json_dict()

    def filled(saved_part: dict[str, Any], default_part: dict[str, Any]) -> dict[str, Any]:
        merged = dict(default_part)
        for key, value in saved_part.items():
            if isinstance(value, dict) and isinstance(default_part.get(key), dict):
                merged[key] = filled(value, default_part[key])
            else:
                merged[key] = value
        return merged

    def flat(config_dict: dict[str, Any]) -> dict[str, Any]:
        """`model`'s entries as "model.<field>", so that a difference names the field."""
        model = config_dict.pop("model", {})
        return config_dict | {f"model.{key}": value for key, value in model.items()}

    before = flat(filled(as_it_ran(json.loads(json.dumps(saved))), defaults))
    wanted = flat(config.to_json_dict())
    return [
        f"{key}: {before.get(key)!r} -> {wanted.get(key)!r}"
        for key in sorted((set(before) | set(wanted)) - ignore)
        if before.get(key) != wanted.get(key)
    ]


def same_config(saved: dict[str, Any], config: TrainConfig) -> bool:
    """Whether a saved run's configuration is `config` (see `config_differences`)."""
    return not config_differences(saved, config)


def _endless(make: Callable[[], Iterator[Batch]]) -> Iterator[Batch]:
    """Batches from `make()`, started afresh (a new shuffle) each time one pass ends."""
    while True:
        yield from make()


def _to_torch(batch: Batch) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    x = {name: torch.from_numpy(array) for name, array in batch["x"].items()}
    return x, torch.from_numpy(batch["mask"]), torch.from_numpy(batch["y"])


# ------------------------------------------------------------------------------ schedule


def steps_per_epoch(num_samples: int, batch_size: int) -> int:
    """Optimiser steps in one epoch (full batches only, but at least one)."""
    return max(num_samples // batch_size, 1)


def planned_epochs(config: TrainConfig, num_samples: int) -> int:
    """`config.epochs`, or more when that would give fewer than `config.min_steps` steps."""
    per_epoch = steps_per_epoch(num_samples, config.batch_size)
    return max(config.epochs, math.ceil(config.min_steps / per_epoch))


def lr_factor(step: int, total_steps: int, schedule: str, warmup_fraction: float) -> float:
    """Multiplier of the base learning rate at optimiser step `step` (0-based)."""
    if schedule == "constant":
        return 1.0
    warmup = round(warmup_fraction * total_steps) if schedule == "warmup_cosine" else 0
    if step < warmup:
        return (step + 1) / warmup
    progress = min((step - warmup) / max(total_steps - warmup, 1), 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def patience_epochs(config: TrainConfig, planned: int) -> int:
    return max(config.patience, math.ceil(config.patience_fraction * planned))


def selection_value(record: dict[str, Any], select_on: str) -> float:
    if select_on == "val_f1":
        return float(record["val_macro_f1"])
    return float(record["val_scenario_mean"])


# ------------------------------------------------------------------------------ the loop


def train(
    config: TrainConfig,
    out_dir: Path,
    data: PreparedData | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train with `config`, writing `checkpoint.pt`, `metrics.jsonl` and the learning-curve
    plot into `out_dir`. Resumes from `out_dir/last.pt` when it holds the same config."""
    torch.set_num_threads(config.num_threads)
    seed_everything(config.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = data or prepare_data(config)
    model_config = build_model_config(config, data)
    model = RalisModel(model_config)
    optimizer_class = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    optimizer = optimizer_class(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    # The weights that are validated and kept: the raw ones, or their moving average.
    averaged = (
        AveragedModel(
            model,
            multi_avg_fn=(
                ema_with_warmup(config.weight_ema)
                if config.weight_ema_warmup
                else get_ema_multi_avg_fn(config.weight_ema)  # type: ignore[no-untyped-call]
            ),
            use_buffers=True,
        )
        if config.weight_ema is not None
        else None
    )
    kept_model = model if averaged is None else cast(RalisModel, averaged.module)
    per_epoch = steps_per_epoch(len(data.train), config.batch_size)
    epochs = planned_epochs(config, len(data.train))
    total_steps = epochs * per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(step, total_steps, config.lr_schedule, config.warmup_fraction),
    )
    patience = patience_epochs(config, epochs)
    weights = (
        class_weights(data.train.y, len(data.train.class_names), config.class_balance_power)
        if config.class_balance
        else None
    )
    if weights is not None:
        log.info("class weights: %s", np.round(weights.numpy(), 3).tolist())
    rng = np.random.default_rng(config.seed)
    transforms = frozenset(config.augment_transforms) if config.augment_transforms else None
    if config.augment_transforms == ():
        transforms = frozenset()
    metrics_path = out_dir / "metrics.jsonl"
    checkpoint_path = out_dir / "checkpoint.pt"
    resume_path = out_dir / RESUME_FILE

    history: list[dict[str, Any]] = []
    best_value, best_epoch, stale, steps = -1.0, 0, 0, 0
    elapsed_before = 0.0
    finished = False
    if resume_path.is_file():
        state = torch.load(resume_path, map_location="cpu", weights_only=False)
        if same_config(state["train_config"], config):
            model.load_state_dict(state["model_state"])
            if averaged is not None:
                averaged.load_state_dict(state["averaged_state"])
            optimizer.load_state_dict(state["optimizer_state"])
            scheduler.load_state_dict(state["scheduler_state"])
            rng.bit_generator.state = state["numpy_rng"]
            torch.set_rng_state(state["torch_rng"])
            history = state["history"]
            best_value, best_epoch = state["best_value"], state["best_epoch"]
            stale, steps = state["stale"], state["steps"]
            elapsed_before, finished = state["elapsed"], state["finished"]
            log.info("resuming %s after epoch %d", out_dir, len(history))
        else:
            log.warning("%s holds another configuration; starting afresh", resume_path)
    start_epoch = len(history) + 1
    started = time.perf_counter()
    log.info(
        "training %d planned epochs x %d steps (%d steps), patience %d epochs",
        epochs,
        per_epoch,
        total_steps,
        patience,
    )
    with metrics_path.open("w") as metrics_file:
        for past in history:
            metrics_file.write(json.dumps(past) + "\n")
        for epoch in range(start_epoch, epochs + 1):
            if finished:
                break
            epoch_start = time.perf_counter()
            model.train()
            sums = {"loss": 0.0, "classification": 0.0, "contrastive": 0.0, "load_balance": 0.0}
            epoch_steps = 0

            # Augmentation acts on physical units, then normalises (rotations need real axes).
            def draw(batch_size: int) -> Iterator[Batch]:
                return iterate_batches(
                    data.train_raw if config.augment else data.train,
                    batch_size,
                    shuffle=True,
                    rng=rng,
                    augment=config.augment,
                    drop_last=len(data.train) >= batch_size,
                    normalizer=data.normalizer if config.augment else None,
                    transforms=transforms,
                    augment_probability=config.augment_probability,
                    max_rotation_deg=config.augment_max_rotation_deg,
                )

            batches = draw(config.batch_size)
            contrastive_batches = (
                _endless(lambda: draw(config.contrastive_batch_size or config.batch_size))
                if config.contrastive_batch_size is not None
                else None
            )
            bar = tqdm(
                batches,
                total=per_epoch,
                desc=f"epoch {epoch}/{epochs}",
                disable=not progress,
                leave=False,
            )
            epoch_lr = float(optimizer.param_groups[0]["lr"])
            for batch in bar:
                batch["mask"] = keep_random_view_subsets(
                    batch["mask"], config.view_subset_probability, rng
                )
                x, mask, y = _to_torch(batch)
                output = model(x, mask)
                terms = compute_losses(output, y, model_config, weights)
                if contrastive_batches is not None:  # the contrastive loss on its own batch
                    xc, mask_c, _ = _to_torch(next(contrastive_batches))
                    terms = terms._replace(
                        contrastive=contrastive_term(model(xc, mask_c), model_config)
                    )
                loss = (
                    config.cls_weight * terms.classification
                    + config.contrastive_weight * terms.contrastive
                    + config.balance_weight * terms.load_balance
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                scheduler.step()
                if averaged is not None:
                    _update_average(averaged, model)
                epoch_steps += 1
                sums["loss"] += float(loss.detach())
                for name, value in terms._asdict().items():
                    sums[name] += float(value.detach())
                if epoch_steps % 20 == 0:
                    bar.set_postfix(loss=f"{sums['loss'] / epoch_steps:.3f}")
            steps += epoch_steps
            scores = validation_scores(kept_model, data.val, config.val_combinations)
            record: dict[str, Any] = {
                "epoch": epoch,
                **{k: v / max(epoch_steps, 1) for k, v in sums.items()},
                "val_macro_f1": scores.all_views_f1,
                "val_scenarios": scores.scenarios,
                "val_scenario_mean": scores.scenario_mean,
                "lr": epoch_lr,
                "steps": steps,
            }
            earlier = history[len(history) - config.smoothing + 1 :] if config.smoothing > 1 else []
            recent = [selection_value(r, config.select_on) for r in earlier]
            smoothed = float(np.mean([*recent, selection_value(record, config.select_on)]))
            record["selection_smoothed"] = smoothed
            # "last" keeps every epoch as it comes, so the kept epoch is always the newest.
            keep = smoothed > best_value or config.select_on == "last"
            stale = 0 if keep else stale + 1
            if keep:
                best_value, best_epoch = smoothed, epoch
                Checkpoint(
                    kept_model,
                    data.normalizer,
                    data.train.views,
                    data.train.class_names,
                    config,
                    epoch,
                    scores.all_views_f1,
                    {name: int(array.shape[1]) for name, array in data.train.x.items()},
                ).save(checkpoint_path)
            record["best_epoch"] = best_epoch
            record["best_selection"] = best_value
            record["seconds"] = time.perf_counter() - epoch_start
            record["mean_view_weights_per_class"] = np.round(scores.weights_per_class, 4).tolist()
            history.append(record)
            metrics_file.write(json.dumps(record) + "\n")
            metrics_file.flush()
            finished = stale >= patience
            log.info(
                "epoch %d/%d loss %.4f (cls %.4f con %.4f bal %.4f) val F1 %.4f scen %.4f "
                "sel %.4f best %.4f@%d lr %.2e %.1fs",
                epoch,
                epochs,
                record["loss"],
                record["classification"],
                record["contrastive"],
                record["load_balance"],
                scores.all_views_f1,
                scores.scenario_mean,
                smoothed,
                best_value,
                best_epoch,
                epoch_lr,
                record["seconds"],
            )
            if finished:
                log.info("early stop: no improvement for %d epochs", stale)
            finished = finished or epoch == epochs
            torch.save(
                {
                    "train_config": config.to_dict(),
                    "model_state": model.state_dict(),
                    "averaged_state": None if averaged is None else averaged.state_dict(),
                    "optimizer_state": optimizer.state_dict(),
                    "scheduler_state": scheduler.state_dict(),
                    "numpy_rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(),
                    "history": history,
                    "best_value": best_value,
                    "best_epoch": best_epoch,
                    "stale": stale,
                    "steps": steps,
                    "elapsed": elapsed_before + time.perf_counter() - started,
                    "finished": finished,
                },
                resume_path,
            )
            _plot(history, out_dir / LEARNING_CURVES, config.select_on)
    total = elapsed_before + time.perf_counter() - started
    seconds = [r["seconds"] for r in history] or [0.0]
    if history:
        _plot(history, out_dir / LEARNING_CURVES, config.select_on)
    return TrainResult(
        checkpoint_path,
        best_epoch,
        best_value,
        float(np.mean(seconds)),
        total,
        epochs_run=len(history),
        planned_epochs=epochs,
        steps=steps,
        stopped_early=len(history) < epochs,
    )


_Params = tuple[torch.Tensor, ...] | list[torch.Tensor]


def ema_with_warmup(decay: float) -> Callable[[_Params, _Params, torch.Tensor | int], None]:
    """An EMA update for `AveragedModel` whose k-th update (k = 1, 2, ...; the first call only
    copies) uses min(decay, (1 + k) / (10 + k)): 0.18 at k = 1, 0.9 at k = 80."""

    @torch.no_grad()
    def update(averaged: _Params, current: _Params, k: torch.Tensor | int) -> None:
        step = float(k)
        effective = min(decay, (1.0 + step) / (10.0 + step))
        for mine, theirs in zip(averaged, current, strict=True):
            if mine.is_floating_point():
                mine.lerp_(theirs, 1.0 - effective)
            # integer buffers (BatchNorm's batch counter): copied by _update_average

    return update


def _update_average(averaged: AveragedModel, model: torch.nn.Module) -> None:
    """One EMA step of weights and BatchNorm statistics; integer buffers (BatchNorm's batch
    counter) are counts, not weights, and are copied instead of averaged."""
    averaged.update_parameters(model)
    with torch.no_grad():
        for mine, theirs in zip(averaged.module.buffers(), model.buffers(), strict=True):
            if not mine.is_floating_point():
                mine.copy_(theirs)


def _plot(history: list[dict[str, Any]], path: Path, select_on: str) -> None:
    from training.plots import plot_learning_curves

    plot_learning_curves(history, path, select_on)
