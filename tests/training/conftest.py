"""Shared fixtures for training tests: the real DSADS subset and a tiny trained run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model import RalisConfig, RalisModel, ViewConfig
from training.checkpoint import Checkpoint
from training.config import TrainConfig
from training.data.cache import CACHE_DIR_ENV
from training.data.dataset import ViewInfo
from training.data.normalize import Normalizer

FIXTURE_ZIP = Path(__file__).resolve().parents[1] / "fixtures" / "dsads_subset" / "dsads_subset.zip"

# A model small enough to train for a few epochs in seconds on 2 CPU cores.
TINY_MODEL = {
    "embed_dim": 16,
    "encoder_widths": (8, 8, 16, 16),
    "fusion_hidden": 8,
    "num_experts": 4,
    "top_k": 2,
    "expert_hidden": 16,
}


@pytest.fixture(autouse=True)
def _private_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Keep tests away from the user's ~/.cache/ralis."""
    cache_dir = tmp_path_factory.mktemp("ralis-cache")
    monkeypatch.setenv(CACHE_DIR_ENV, str(cache_dir))
    return cache_dir


def tiny_config(**overrides: object) -> TrainConfig:
    """Subject 1 trains, subject 2 validates and tests, on the real fixture (4 s windows)."""
    fields: dict[str, object] = dict(
        data=str(FIXTURE_ZIP),
        window_seconds=4.0,
        train_hop_seconds=1.0,
        train_subjects=(1,),
        val_subjects=(2,),
        test_subjects=(2,),
        activities=(1, 9, 12),
        epochs=10,
        min_steps=0,
        lr=3e-3,
        batch_size=8,
        model=dict(TINY_MODEL),
    )
    fields.update(overrides)
    return TrainConfig(**fields)  # type: ignore[arg-type]


VIEWS = ("torso", "right_arm", "left_arm", "right_leg", "left_leg")


def export_checkpoint(**model_overrides: object) -> Checkpoint:
    """A 5-view untrained tiny model with a made-up normaliser, for export tests."""
    torch.manual_seed(0)
    config = RalisConfig(
        # One shared encoder keeps the test to two (slow) exports per bundle.
        views=tuple(ViewConfig(v, 3, encoder_group="acc") for v in VIEWS),
        num_classes=6,
        **{**TINY_MODEL, **model_overrides},  # type: ignore[arg-type]
    )
    model = RalisModel(config).eval()
    if config.use_moe:
        torch.nn.init.normal_(model.head.w_gate)  # untrained zeros would tie in top-K
    rng = np.random.default_rng(0)
    normalizer = Normalizer(
        mean={v: rng.normal(size=3).astype(np.float32) for v in VIEWS},
        std={v: rng.uniform(0.5, 2, size=3).astype(np.float32) for v in VIEWS},
    )
    views = [ViewInfo(v, "acc", tuple(f"{v}_acc_{a}" for a in "xyz"), 25.0) for v in VIEWS]
    train_config = TrainConfig(data="tiny", window_seconds=2.0)
    return Checkpoint(model, normalizer, views, [f"c{i}" for i in range(6)], train_config, 1, 0.5)
