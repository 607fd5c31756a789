"""Scenario averaging over view combinations, on a hand-made example."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from model.moe import HeadOutput
from training.data.dataset import MultiViewDataset, ViewInfo
from training.evaluation import evaluate, scenario_sizes


class _Config:
    embed_dim = 2


class OracleIfFirstView(nn.Module):
    """Predicts the true label when view 0 is available, else always class 0.

    Windows carry their label as their value, so "encoding" is reading it.
    """

    config = _Config()

    def encode(self, x: dict[str, torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        labels = next(iter(x.values()))[:, 0, 0].long()
        one_hot = nn.functional.one_hot(labels, 2).float()  # (B, 2)
        return one_hot.unsqueeze(1).expand(-1, mask.shape[1], -1) * mask.unsqueeze(-1)

    def fusion(self, z: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fused = z[:, 0] * mask[:, :1]
        return fused, mask.float() / mask.sum(1, keepdim=True)

    def head(self, fused: torch.Tensor) -> HeadOutput:
        # argmax of all-zero logits is class 0
        return HeadOutput(fused, None, None, None)


def _dataset(n: int = 8) -> MultiViewDataset:
    y = np.arange(n) % 2
    views = [ViewInfo(f"v{i}", "acc", ("x", "y", "z"), 25.0) for i in range(3)]
    x = {
        v.name: np.repeat(y[:, None, None], 3, axis=2).repeat(4, axis=1).astype(np.float32)
        for v in views
    }
    return MultiViewDataset(
        views, x, np.ones((n, 3), bool), y.astype(np.int64), np.ones(n, np.int64), ["a", "b"]
    )


def test_scenario_sizes_follow_the_paper() -> None:
    assert scenario_sizes(5) == {"1 view": 1, "3 views": 3, "5 views": 5}
    assert scenario_sizes(3) == {"1 view": 1, "2 views": 2, "3 views": 3}


def test_scenarios_average_every_combination() -> None:
    report = evaluate(OracleIfFirstView(), _dataset())  # type: ignore[arg-type]
    # Without view 0 every prediction is class 0: F1 = (2/3 + 0) / 2 = 1/3; with it, 1.
    assert report.scenarios["1 view"] == pytest.approx((1 + 1 / 3 + 1 / 3) / 3)
    assert report.scenarios["2 views"] == pytest.approx((1 + 1 + 1 / 3) / 3)
    assert report.scenarios["3 views"] == pytest.approx(1.0)
    assert [r.views for r in report.combinations["1 view"]] == [("v0",), ("v1",), ("v2",)]
    assert report.confusion_all_views.tolist() == [[4, 0], [0, 4]]


def test_samples_without_chosen_views_are_left_out() -> None:
    data = _dataset()
    mask = data.mask.copy()
    mask[:4, 0] = False  # view 0 missing for half the samples
    report = evaluate(OracleIfFirstView(), data.with_mask(mask))  # type: ignore[arg-type]
    only_v0 = report.combinations["1 view"][0]
    assert only_v0.views == ("v0",) and only_v0.num_samples == 4
    assert only_v0.macro_f1 == 1.0
