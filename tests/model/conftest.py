"""Small shared builders for model tests (synthetic shapes only)."""

from __future__ import annotations

import pytest
import torch

from model import RalisConfig, RalisModel, ViewConfig

VIEW_NAMES = ("torso", "right_arm", "left_arm", "right_leg", "left_leg")


def small_config(**overrides: object) -> RalisConfig:
    """A 5-view accelerometer config small enough for fast tests."""
    fields: dict[str, object] = dict(
        views=tuple(ViewConfig(name, 3) for name in VIEW_NAMES),
        num_classes=4,
        embed_dim=16,
        encoder_widths=(8, 8, 16, 16),
        fusion_hidden=8,
        num_experts=6,
        top_k=3,
        expert_hidden=12,
    )
    fields.update(overrides)
    return RalisConfig(**fields)  # type: ignore[arg-type]


def random_batch(
    config: RalisConfig, batch: int, window: int = 40, seed: int = 0
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Random windows and a random mask with at least one present view per sample."""
    gen = torch.Generator().manual_seed(seed)
    x = {v.name: torch.randn(batch, v.in_channels, window, generator=gen) for v in config.views}
    mask = torch.rand(batch, config.num_views, generator=gen) < 0.6
    mask[torch.arange(batch), torch.randint(0, config.num_views, (batch,), generator=gen)] = True
    return x, mask


@pytest.fixture
def model() -> RalisModel:
    torch.manual_seed(0)
    return RalisModel(small_config())
