"""Inference-only modules with the ONNX bundle's I/O contract (see ralis/bundle.py)."""

from __future__ import annotations

import torch
from torch import nn

from model.fusion import AttentionFusion
from model.magnorm import magnorm
from model.network import RalisModel


class EncoderForExport(nn.Module):
    """`window (B, C, T)` -> `embedding (B, D)`, MagNorm'd when the model uses MagNorm."""

    def __init__(self, model: RalisModel, group: str) -> None:
        super().__init__()
        self.encoder = model.encoders[group]
        self.use_magnorm = model.config.use_magnorm

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        z = self.encoder(window)
        return magnorm(z) if self.use_magnorm else z


class HeadForExport(nn.Module):
    """`(embeddings (B, V, D), view_mask (B, V))` -> probabilities, logits, weights, fused.

    Same mask semantics as `RalisModel`: absent rows are ignored whatever they hold. The
    caller guarantees at least one present view per row.
    """

    def __init__(self, fusion: AttentionFusion, head: nn.Module) -> None:
        super().__init__()
        self.fusion = fusion
        self.head = head

    @classmethod
    def of(cls, model: RalisModel) -> HeadForExport:
        """The head of a whole model."""
        return cls(model.fusion, model.head)

    def forward(
        self, embeddings: torch.Tensor, view_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        fused, weights = self.fusion(embeddings, view_mask)
        logits = self.head(fused).logits
        return torch.softmax(logits, dim=-1), logits, weights, fused
