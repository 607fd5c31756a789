"""Pose preprocessing inside the encoder: root-centred, scale-normalised joints.

It lives in the model (not the data pipeline) so the exported ONNX encoder carries it and a
serving runtime only has to send raw joint coordinates (with identity normalisation).
"""

from __future__ import annotations

import torch
from torch import nn

# Normalised coordinates are clipped to this many body scales: depth-camera skeletons have
# glitch frames metres away from the body, which would otherwise dominate a window.
POSE_CLIP = 4.0
_EPS = 1e-6


class PoseNormalize(nn.Module):
    """`(B, J * dims, T)` joint-major coordinates -> root-centred, scale-normalised, clipped.

    Per frame, every joint minus the root joint (translation invariance). Per window, one
    scale: the mean over frames of |scale_joint - root| when a scale joint is given (a
    bone that does not change with the action, e.g. pelvis to neck), else the mean distance
    of all joints to the root. An all-zero (absent) window stays zero.
    """

    def __init__(self, dims: int, root_joint: int = 0, scale_joint: int | None = None) -> None:
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"pose dims must be 2 or 3, got {dims}")
        self.dims = dims
        self.root_joint = root_joint
        self.scale_joint = scale_joint

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, length = x.shape
        joints = x.reshape(batch, channels // self.dims, self.dims, length)  # (B, J, d, T)
        centred = joints - joints[:, self.root_joint : self.root_joint + 1]
        distance = centred.pow(2).sum(dim=2).add(_EPS).sqrt()  # (B, J, T)
        if self.scale_joint is None:
            scale = distance.mean(dim=(1, 2))  # (B,)
        else:
            scale = distance[:, self.scale_joint].mean(dim=-1)  # (B,)
        scale = scale.clamp_min(1e-3).reshape(batch, 1, 1, 1)
        out = (centred / scale).clamp(-POSE_CLIP, POSE_CLIP)
        return out.reshape(batch, channels, length)
