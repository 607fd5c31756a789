"""The one training loop: seeded, with progress, JSON-lines metrics and best-F1 selection."""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from model import RalisConfig, RalisModel, ViewConfig, compute_losses
from training.checkpoint import Checkpoint
from training.config import TrainConfig
from training.data.batches import iterate_batches
from training.evaluation import quick_macro_f1
from training.pipeline import PreparedData, prepare_data

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    checkpoint_path: Path
    best_epoch: int
    best_val_macro_f1: float
    seconds_per_epoch: float
    total_seconds: float


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model_config(config: TrainConfig, data: PreparedData) -> RalisConfig:
    """The architecture for this data, with the config's ablation overrides."""
    views = tuple(ViewConfig(v.name, v.num_channels) for v in data.train.views)
    return RalisConfig(views=views, num_classes=len(data.train.class_names), **config.model)


def _to_torch(batch: dict[str, Any]) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    x = {name: torch.from_numpy(array) for name, array in batch["x"].items()}
    return x, torch.from_numpy(batch["mask"]), torch.from_numpy(batch["y"])


def train(
    config: TrainConfig,
    out_dir: Path,
    data: PreparedData | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train with `config`, writing `checkpoint.pt` and `metrics.jsonl` into `out_dir`."""
    torch.set_num_threads(config.num_threads)
    seed_everything(config.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = data or prepare_data(config)
    model_config = build_model_config(config, data)
    model = RalisModel(model_config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    # "constant" is the paper's setting; "cosine" anneals to 0 over the run, per epoch.
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
        if config.lr_schedule == "cosine"
        else None
    )
    rng = np.random.default_rng(config.seed)
    metrics_path = out_dir / "metrics.jsonl"
    checkpoint_path = out_dir / "checkpoint.pt"
    best_f1, best_epoch = -1.0, 0
    started = time.perf_counter()
    epoch_seconds: list[float] = []
    with metrics_path.open("w") as metrics_file:
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            model.train()
            sums = {"loss": 0.0, "classification": 0.0, "contrastive": 0.0, "load_balance": 0.0}
            steps = 0
            # Augmentation acts on physical units, then normalises (rotations need real axes).
            batches = iterate_batches(
                data.train_raw if config.augment else data.train,
                config.batch_size,
                shuffle=True,
                rng=rng,
                augment=config.augment,
                drop_last=True,
                normalizer=data.normalizer if config.augment else None,
            )
            bar = tqdm(
                batches,
                total=len(data.train) // config.batch_size,
                desc=f"epoch {epoch}/{config.epochs}",
                disable=not progress,
                leave=False,
            )
            for batch in bar:
                x, mask, y = _to_torch(batch)
                output = model(x, mask)
                terms = compute_losses(output, y, model_config)
                loss = (
                    config.cls_weight * terms.classification
                    + config.contrastive_weight * terms.contrastive
                    + config.balance_weight * terms.load_balance
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                steps += 1
                sums["loss"] += float(loss.detach())
                for name, value in terms._asdict().items():
                    sums[name] += float(value.detach())
                if steps % 20 == 0:
                    bar.set_postfix(loss=f"{sums['loss'] / steps:.3f}", best_f1=f"{best_f1:.3f}")
            epoch_lr = float(optimizer.param_groups[0]["lr"])
            if scheduler is not None:
                scheduler.step()
            val_f1, weights_per_class = quick_macro_f1(model, data.val)
            epoch_seconds.append(time.perf_counter() - epoch_start)
            improved = config.select_on == "last" or val_f1 > best_f1
            if improved:
                best_f1, best_epoch = val_f1, epoch
                Checkpoint(
                    model,
                    data.normalizer,
                    data.train.views,
                    data.train.class_names,
                    config,
                    epoch,
                    val_f1,
                    {name: int(array.shape[1]) for name, array in data.train.x.items()},
                ).save(checkpoint_path)
            record = {
                "epoch": epoch,
                **{k: v / max(steps, 1) for k, v in sums.items()},
                "val_macro_f1": val_f1,
                "best_val_macro_f1": best_f1,
                "lr": epoch_lr,
                "seconds": epoch_seconds[-1],
                "mean_view_weights_per_class": np.round(weights_per_class, 4).tolist(),
            }
            metrics_file.write(json.dumps(record) + "\n")
            metrics_file.flush()
            message = (
                f"epoch {epoch}/{config.epochs} loss {record['loss']:.4f} "
                f"(cls {record['classification']:.4f} con {record['contrastive']:.4f} "
                f"bal {record['load_balance']:.4f}) val F1 {val_f1:.4f} "
                f"best {best_f1:.4f}@{best_epoch} {epoch_seconds[-1]:.1f}s"
            )
            log.info(message)
    total = time.perf_counter() - started
    return TrainResult(checkpoint_path, best_epoch, best_f1, float(np.mean(epoch_seconds)), total)
