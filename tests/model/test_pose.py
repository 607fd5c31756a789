"""Pose preprocessing: invariant to where the person stands and how tall they are."""

from __future__ import annotations

import pytest
import torch

from model import RalisConfig, RalisModel, ViewConfig
from model.pose import POSE_CLIP, PoseNormalize


def _poses(batch: int = 3, joints: int = 5, dims: int = 3, length: int = 20) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch, joints * dims, length, generator=gen)


@pytest.mark.parametrize("dims", [2, 3])
def test_translation_and_scale_invariance(dims: int) -> None:
    x = _poses(dims=dims)
    pose = PoseNormalize(dims, root_joint=2)
    offset = torch.randn(3, 1, dims, 20).expand(3, 5, dims, 20).reshape(3, 5 * dims, 20)
    torch.testing.assert_close(pose(x * 7.5 + offset * 100), pose(x), atol=1e-4, rtol=1e-4)


def test_root_is_zero_and_scale_joint_sets_the_unit() -> None:
    x = _poses()
    out = PoseNormalize(3, root_joint=1, scale_joint=4)(x)
    joints = out.reshape(3, 5, 3, 20)
    assert torch.all(joints[:, 1] == 0)
    torch.testing.assert_close(
        joints[:, 4].norm(dim=1).mean(dim=-1), torch.ones(3), atol=1e-4, rtol=0
    )


def test_glitches_are_clipped_and_absent_windows_stay_zero() -> None:
    x = _poses()
    x[0, 6, 3] = 1e5  # one joint coordinate metres away in one frame
    out = PoseNormalize(3)(x)
    assert out.abs().max() <= POSE_CLIP
    assert torch.all(PoseNormalize(3)(torch.zeros(2, 15, 20)) == 0)


def test_model_with_a_pose_view_ignores_where_the_person_stands() -> None:
    config = RalisConfig(
        views=(ViewConfig("imu", 3), ViewConfig("body", 15, pose_dims=3, scale_joint=1)),
        num_classes=3,
        embed_dim=16,
        encoder_widths=(8, 8, 16, 16),
        fusion_hidden=8,
        num_experts=4,
        top_k=2,
        expert_hidden=16,
    )
    model = RalisModel(config).eval()
    imu, body = torch.randn(3, 3, 20), _poses()
    mask = torch.ones(3, 2, dtype=torch.bool)
    shifted = body + torch.tensor([1000.0, -500.0, 20.0]).repeat(5).reshape(1, 15, 1)
    with torch.no_grad():
        a = model.predict_logits({"imu": imu, "body": body}, mask)
        b = model.predict_logits({"imu": imu, "body": shifted}, mask)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_pose_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="root_joint 5 is not a joint index"):
        RalisConfig(views=(ViewConfig("body", 15, pose_dims=3, root_joint=5),), num_classes=2)
    with pytest.raises(ValueError, match="pose_dims must be 2 or 3"):
        RalisConfig(views=(ViewConfig("body", 15, pose_dims=4),), num_classes=2)
