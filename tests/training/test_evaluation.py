"""Scenario averaging over view combinations, on a hand-made example."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from model.moe import HeadOutput
from training.data.dataset import MultiViewDataset, ViewInfo
from training.evaluation import evaluate, scenario_sizes, trial_votes, view_combinations


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


def test_trial_votes_take_the_majority_of_each_trial() -> None:
    trial = np.array([5, 5, 5, 9, 9, 2])
    y_true = np.array([1, 1, 1, 0, 0, 1])
    y_pred = np.array([1, 0, 1, 0, 1, 0])
    labels, votes = trial_votes(trial, y_true, y_pred, num_classes=2)
    # Trials sorted by id: 2 -> [0], 5 -> [1, 0, 1], 9 -> [0, 1] (tie: lowest class).
    assert labels.tolist() == [1, 1, 0] and votes.tolist() == [0, 1, 0]


def test_trial_level_scores_when_the_dataset_knows_its_trials() -> None:
    data = _dataset()
    data.trial = np.array([0, 1, 0, 1, 2, 3, 2, 3], dtype=np.int64)
    report = evaluate(OracleIfFirstView(), data)  # type: ignore[arg-type]
    assert report.scenarios_trial["3 views"] == pytest.approx(1.0)
    first = report.combinations["1 view"][0]
    assert first.num_trials == 4 and first.trial_macro_f1 == 1.0
    assert report.per_class_f1_all_views == [1.0, 1.0]


def test_view_combinations_sample_when_there_are_too_many() -> None:
    assert len(view_combinations(12, 6, None)) == 924
    sample = view_combinations(12, 6, 50, seed=3)
    assert len(sample) == 50 and len(set(sample)) == 50
    assert sample == view_combinations(12, 6, 50, seed=3)  # fixed
    assert view_combinations(5, 3, 50) == view_combinations(5, 3, None)  # all 10 fit
