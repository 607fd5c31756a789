"""1D ResNet view encoder: 4 residual blocks, global average pooling, linear projection."""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock1d(nn.Module):
    """conv-BN-ReLU-conv-BN plus a (projected) shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, 1, padding, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm1d(out_channels),
            )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        activated: torch.Tensor = self.act(out + self.shortcut(x))
        return activated


class ResNet1dEncoder(nn.Module):
    """Maps a window `(B, C, T)` to an embedding `(B, D)` (not normalised).

    `pose`: an optional preprocessing module run first (pose views: model/pose.py).
    """

    def __init__(
        self,
        in_channels: int,
        embed_dim: int,
        widths: tuple[int, int, int, int],
        kernel_size: int,
        pose: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.pose = pose
        blocks: list[nn.Module] = []
        prev = in_channels
        for index, width in enumerate(widths):
            # Downsample time in blocks 2-4 only: windows are short (~100-125 samples).
            blocks.append(ResidualBlock1d(prev, width, kernel_size, stride=1 if index == 0 else 2))
            prev = width
        self.blocks = nn.Sequential(*blocks)
        self.proj = nn.Linear(prev, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pose is not None:
            x = self.pose(x)
        h = self.blocks(x)  # (B, W, T')
        embedding: torch.Tensor = self.proj(h.mean(dim=-1))  # (B, D)
        return embedding
