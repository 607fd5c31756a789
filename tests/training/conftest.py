"""Shared fixtures for training tests: the real DSADS subset and a tiny trained run."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import TrainConfig
from training.data.cache import CACHE_DIR_ENV

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
