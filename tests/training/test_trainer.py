"""A tiny real training run: the loss falls, the checkpoint round-trips, runs are seeded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.conftest import tiny_config
from training.checkpoint import Checkpoint
from training.evaluation import embed_views
from training.pipeline import prepare_data
from training.trainer import train


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    train(tiny_config(), out, progress=False)
    return out


def _records(run: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_loss_falls(trained_run: Path) -> None:
    records = _records(trained_run)
    assert len(records) == 10
    assert records[-1]["classification"] < 0.7 * records[0]["classification"]
    assert records[-1]["loss"] < records[0]["loss"]


def test_metrics_lines_hold_losses_f1_and_view_weights(trained_run: Path) -> None:
    record = _records(trained_run)[0]
    assert {"loss", "classification", "contrastive", "load_balance", "val_macro_f1"} <= set(record)
    weights = np.array(record["mean_view_weights_per_class"])
    assert weights.shape == (19, 5)  # DSADS always has 19 classes, 5 views
    assert 0.0 <= record["val_macro_f1"] <= 1.0


def test_checkpoint_round_trips(trained_run: Path) -> None:
    checkpoint = Checkpoint.load(trained_run / "checkpoint.pt")
    best = max(_records(trained_run), key=lambda r: r["val_macro_f1"])
    assert checkpoint.epoch == best["epoch"]
    assert checkpoint.val_macro_f1 == pytest.approx(best["val_macro_f1"])
    assert checkpoint.train_config == tiny_config()
    assert [v.name for v in checkpoint.views] == [
        "torso",
        "right_arm",
        "left_arm",
        "right_leg",
        "left_leg",
    ]
    data = prepare_data(checkpoint.train_config)
    reloaded = Checkpoint.load(trained_run / "checkpoint.pt")
    torch.testing.assert_close(
        embed_views(checkpoint.model, data.test), embed_views(reloaded.model, data.test)
    )
    for name in checkpoint.normalizer.mean:
        np.testing.assert_array_equal(checkpoint.normalizer.mean[name], data.normalizer.mean[name])


def test_same_seed_same_losses(tmp_path: Path) -> None:
    config = tiny_config(epochs=1)
    train(config, tmp_path / "a", progress=False)
    train(config, tmp_path / "b", progress=False)
    assert _records(tmp_path / "a")[0]["loss"] == _records(tmp_path / "b")[0]["loss"]


def test_broken_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable RALIS checkpoint"):
        Checkpoint.load(path)


def test_cosine_schedule_anneals_the_learning_rate(tmp_path: Path) -> None:
    config = tiny_config(epochs=4, lr_schedule="cosine")
    train(config, tmp_path, progress=False)
    rates = [r["lr"] for r in _records(tmp_path)]
    expected = [config.lr * (1 + np.cos(np.pi * e / 4)) / 2 for e in range(4)]
    np.testing.assert_allclose(rates, expected, rtol=1e-6)
