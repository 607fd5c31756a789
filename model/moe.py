"""Sparse mixture-of-experts head with noisy top-K gating (Shazeer et al. 2017)."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class HeadOutput(NamedTuple):
    """Logits plus the gating statistics the load-balancing loss needs."""

    logits: torch.Tensor  # (N, K)
    gates: torch.Tensor | None  # (N, E), exactly top_k non-zeros per row; None for the MLP head
    importance: torch.Tensor | None  # (E,) sum of gates over tokens
    load: torch.Tensor | None  # (E,) (smooth estimate of) tokens routed to each expert


def cv_squared(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Squared coefficient of variation; 0 for a single value."""
    if x.numel() <= 1:
        return x.new_zeros(())
    return x.float().var(unbiased=False) / (x.float().mean() ** 2 + eps)


def load_balance_loss(head: HeadOutput) -> torch.Tensor:
    """CV^2(importance) + CV^2(load) (Shazeer et al. 2017, Eq. 6-10)."""
    if head.importance is None or head.load is None:
        return head.logits.new_zeros(())
    return cv_squared(head.importance) + cv_squared(head.load)


class ExpertBank(nn.Module):
    """E independent 2-layer MLPs evaluated together with batched weights."""

    def __init__(self, num_experts: int, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(num_experts, in_dim, hidden))
        self.b1 = nn.Parameter(torch.zeros(num_experts, hidden))
        self.w2 = nn.Parameter(torch.empty(num_experts, hidden, out_dim))
        self.b2 = nn.Parameter(torch.zeros(num_experts, out_dim))
        for w in (self.w1, self.w2):
            bound = 1.0 / math.sqrt(w.shape[1])
            nn.init.uniform_(w, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, D)` -> every expert's logits `(N, E, K)`."""
        # Matrix products, not einsum: onnxruntime's CPU Einsum rearranges the first layer's
        # (E, D, H) weight on every call, which made the exported head 3.6x dearer at batch 1
        # (BENCHMARKS.md section 20). Here the rearranged weight is a constant of the graph.
        experts, in_dim, hidden = self.w1.shape
        first = self.w1.transpose(0, 1).reshape(in_dim, experts * hidden)  # (D, E * H)
        h = torch.relu((x @ first).reshape(-1, experts, hidden) + self.b1)  # (N, E, H)
        return (h.transpose(0, 1) @ self.w2).transpose(0, 1) + self.b2  # (N, E, K)


class SparseMoEHead(nn.Module):
    """Noisy top-K gated mixture of MLP experts giving class logits.

    Experts are evaluated densely (they are tiny) and combined with the sparse gates; the
    result equals evaluating only the K selected experts, and it traces to plain ONNX.
    """

    def __init__(
        self, in_dim: int, num_classes: int, num_experts: int, top_k: int, hidden: int
    ) -> None:
        super().__init__()
        self.num_experts = num_experts
        self.top_k = top_k
        self.w_gate = nn.Parameter(torch.zeros(in_dim, num_experts))
        self.w_noise = nn.Parameter(torch.zeros(in_dim, num_experts))
        self.experts = ExpertBank(num_experts, in_dim, hidden, num_classes)

    def _gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        clean = x @ self.w_gate  # (N, E)
        noisy_training = self.training and self.top_k < self.num_experts
        if not noisy_training:
            top_values, top_index = clean.topk(self.top_k, dim=-1)
            gates = torch.zeros_like(clean).scatter(-1, top_index, torch.softmax(top_values, -1))
            return gates, (gates > 0).to(x.dtype).sum(0)
        noise_std = F.softplus(x @ self.w_noise) + 1e-2
        noisy = clean + torch.randn_like(clean) * noise_std
        top_values, top_index = noisy.topk(self.top_k + 1, dim=-1)
        kept_values, kept_index = top_values[:, : self.top_k], top_index[:, : self.top_k]
        gates = torch.zeros_like(clean).scatter(-1, kept_index, torch.softmax(kept_values, -1))
        # Smooth load estimate (Shazeer et al. 2017, Appendix A): P(expert stays in the top K
        # when only its own noise is redrawn).
        threshold_in = top_values[:, self.top_k : self.top_k + 1]  # K+1-th value
        threshold_out = top_values[:, self.top_k - 1 : self.top_k]  # K-th value
        is_in = noisy > threshold_in
        normal = torch.distributions.Normal(0.0, 1.0)
        # torch's Normal.cdf carries no annotations
        prob_in = normal.cdf((clean - threshold_in) / noise_std)  # type: ignore[no-untyped-call]
        prob_out = normal.cdf((clean - threshold_out) / noise_std)  # type: ignore[no-untyped-call]
        load = torch.where(is_in, prob_in, prob_out).sum(0)
        return gates, load

    def forward(self, x: torch.Tensor) -> HeadOutput:
        gates, load = self._gates(x)
        expert_logits = self.experts(x)  # (N, E, K)
        logits = (gates.unsqueeze(-1) * expert_logits).sum(dim=1)
        return HeadOutput(logits, gates, gates.sum(0), load)


class MLPHead(nn.Module):
    """Plain 2-layer MLP head: the "-MoE" ablation."""

    def __init__(self, in_dim: int, num_classes: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )

    def forward(self, x: torch.Tensor) -> HeadOutput:
        return HeadOutput(self.net(x), None, None, None)
