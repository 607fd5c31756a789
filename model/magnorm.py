"""MagNorm: put embeddings on one hypersphere of radius sqrt(D)."""

from __future__ import annotations

import math

import torch


def magnorm(z: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """`z / ||z|| * sqrt(D)` over the last dimension."""
    normed: torch.Tensor = z / z.norm(dim=-1, keepdim=True).clamp_min(eps) * math.sqrt(z.shape[-1])
    return normed
