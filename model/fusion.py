"""Attention fusion over the views present for each sample."""

from __future__ import annotations

from typing import Any

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
    """Shared 2-layer MLP scores each present view; fused = MagNorm(sum_v w_v z_v).

    `score_bias` (one number per view, added to the scores) is a RALIS extension, not in the
    paper: zero in training, it is set afterwards from validation data when the learned
    weights are too even to let the most reliable view lead (`training/view_prior.py`).
    """

    def __init__(
        self,
        embed_dim: int,
        hidden: int,
        num_views: int,
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
        self.score_bias: torch.Tensor
        self.register_buffer("score_bias", torch.zeros(num_views))

    def weights(self, z: torch.Tensor, view_mask: torch.Tensor) -> torch.Tensor:
        """View weights `(B, V)` from embeddings `(B, V, D)`; zero for absent views."""
        if not self.use_attention:
            scores = torch.zeros_like(z[..., 0])
        else:
            scorer_input = z.detach() if self.stop_grad else z
            scores = self.scorer(scorer_input).squeeze(-1)  # (B, V)
        return masked_softmax(scores + self.score_bias, view_mask)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # Checkpoints from before `score_bias` existed hold none: theirs is zero.
        state_dict.setdefault(prefix + "score_bias", torch.zeros_like(self.score_bias))
        super()._load_from_state_dict(state_dict, prefix, *args)

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
