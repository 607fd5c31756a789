"""Attention fusion over the views present for each sample."""

from __future__ import annotations

import torch
from torch import nn

from model.magnorm import magnorm

# Finite stand-in for -inf: keeps masked softmax NaN-free in forward and backward.
_MASKED_SCORE = -1e9


def masked_softmax(scores: torch.Tensor, view_mask: torch.Tensor) -> torch.Tensor:
    """Softmax over dim -1 restricted to `view_mask`; masked entries get exactly 0."""
    scores = scores.masked_fill(~view_mask, _MASKED_SCORE)
    weights = torch.softmax(scores, dim=-1)
    return weights * view_mask.to(weights.dtype)


class AttentionFusion(nn.Module):
    """Shared 2-layer MLP scores each present view; fused = MagNorm(sum_v w_v z_v)."""

    def __init__(
        self,
        embed_dim: int,
        hidden: int,
        use_attention: bool = True,
        stop_grad: bool = True,
        use_magnorm: bool = True,
    ) -> None:
        super().__init__()
        # No output bias: softmax is shift-invariant, so it could never learn anything.
        self.scorer = nn.Sequential(
            nn.Linear(embed_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1, bias=False)
        )
        self.use_attention = use_attention
        self.stop_grad = stop_grad
        self.use_magnorm = use_magnorm

    def weights(self, z: torch.Tensor, view_mask: torch.Tensor) -> torch.Tensor:
        """View weights `(B, V)` from embeddings `(B, V, D)`; zero for absent views."""
        if not self.use_attention:
            return masked_softmax(torch.zeros_like(z[..., 0]), view_mask)
        scorer_input = z.detach() if self.stop_grad else z
        scores = self.scorer(scorer_input).squeeze(-1)  # (B, V)
        return masked_softmax(scores, view_mask)

    def forward(
        self, z: torch.Tensor, view_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (fused `(B, D)`, weights `(B, V)`)."""
        w = self.weights(z, view_mask)
        # Zero absent rows explicitly so whatever they hold (even NaN) cannot leak in.
        z = torch.where(view_mask.unsqueeze(-1), z, torch.zeros_like(z))
        fused = (w.unsqueeze(-1) * z).sum(dim=1)  # (B, D)
        if self.use_magnorm:
            fused = magnorm(fused)
        return fused, w
