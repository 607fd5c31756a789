"""The RALIS network: per-view encoders, attention fusion and a MoE head, all masked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import nn

from model.config import RalisConfig, ViewConfig
from model.encoder import ResNet1dEncoder
from model.fusion import AttentionFusion
from model.losses import adjusted_center_loss, classification_loss, cocoa_loss, full_graph_loss
from model.magnorm import magnorm
from model.moe import HeadOutput, MLPHead, SparseMoEHead, load_balance_loss
from model.pose import PoseNormalize


class EmptyViewSetError(ValueError):
    """A sample has no present view: there is nothing to classify."""


class RalisOutput(NamedTuple):
    """Everything the losses need from one forward pass."""

    view_embeddings: torch.Tensor  # (B, V, D), zeros where absent
    view_mask: torch.Tensor  # (B, V) bool
    view_weights: torch.Tensor  # (B, V), zeros where absent, rows sum to 1
    fused: torch.Tensor  # (B, D)
    fused_logits: torch.Tensor  # (B, K)
    view_logits: torch.Tensor | None  # (B, V, K), zeros where absent; None without ind. views
    fused_head: HeadOutput  # gating stats of the fused tokens (all tokens with joint balance)
    view_head: HeadOutput | None  # gating stats of the individual-view tokens


class LossTerms(NamedTuple):
    """Unweighted loss terms; the training config weighs them."""

    classification: torch.Tensor
    contrastive: torch.Tensor
    load_balance: torch.Tensor


def check_view_mask(view_mask: torch.Tensor) -> None:
    """Raise if any sample has no present view."""
    empty = (~view_mask.any(dim=1)).nonzero().flatten()
    if empty.numel():
        raise EmptyViewSetError(
            f"samples {empty.tolist()[:10]} have no present view; at least one view is required"
        )


class RalisModel(nn.Module):
    """Multi-view classifier robust to arbitrarily missing views."""

    def __init__(self, config: RalisConfig) -> None:
        super().__init__()
        self.config = config
        groups: dict[str, ViewConfig] = {}
        for view in config.views:
            groups.setdefault(view.group, view)
        self.encoders = nn.ModuleDict(
            {
                group: ResNet1dEncoder(
                    view.in_channels,
                    config.embed_dim,
                    config.encoder_widths,
                    config.kernel_size,
                    pose=(
                        PoseNormalize(view.pose_dims, view.root_joint, view.scale_joint)
                        if view.pose_dims
                        else None
                    ),
                )
                for group, view in groups.items()
            }
        )
        self.fusion = AttentionFusion(
            config.embed_dim,
            config.fusion_hidden,
            config.num_views,
            use_attention=config.use_attention,
            stop_grad=config.stop_grad_attention,
            use_magnorm=config.use_magnorm,
        )
        self.head: nn.Module
        if config.use_moe:
            self.head = SparseMoEHead(
                config.embed_dim,
                config.num_classes,
                config.num_experts,
                config.top_k,
                config.expert_hidden,
            )
        else:
            self.head = MLPHead(config.embed_dim, config.num_classes, config.expert_hidden)

    # ---------------------------------------------------------------- encoding

    def encode_view(self, view_name: str, x: torch.Tensor) -> torch.Tensor:
        """One view's windows `(B, C, T)` -> embeddings `(B, D)` (MagNorm'd if enabled)."""
        group = next(v.group for v in self.config.views if v.name == view_name)
        z = self.encoders[group](x)
        return magnorm(z) if self.config.use_magnorm else z

    def encode(self, x: Mapping[str, torch.Tensor], view_mask: torch.Tensor) -> torch.Tensor:
        """Encode only the present windows; returns `(B, V, D)` with zeros where absent.

        Views sharing an encoder are run in one call; absent windows never enter an encoder,
        so their contents (even NaN) and batch statistics cannot affect anything.
        """
        batch = view_mask.shape[0]
        config = self.config
        z = view_mask.new_zeros((batch, config.num_views, config.embed_dim), dtype=torch.float32)
        by_group: dict[str, list[int]] = {}
        for index, view in enumerate(config.views):
            if view.name in x and bool(view_mask[:, index].any()):
                by_group.setdefault(view.group, []).append(index)
        for group, indices in by_group.items():
            chunks = [x[config.views[i].name][view_mask[:, i]] for i in indices]
            out = self.encoders[group](torch.cat(chunks))  # (M, D)
            if config.use_magnorm:
                out = magnorm(out)
            start = 0
            for i, chunk in zip(indices, chunks, strict=True):
                rows = view_mask[:, i].nonzero().flatten()
                z = z.index_put((rows, torch.full_like(rows, i)), out[start : start + len(chunk)])
                start += len(chunk)
        return z

    # ----------------------------------------------------------------- forward

    def forward(self, x: Mapping[str, torch.Tensor], view_mask: torch.Tensor) -> RalisOutput:
        """Training/analysis forward. `x` maps view name -> `(B, C_v, T_v)`; views missing
        from `x` count as absent whatever `view_mask` says."""
        present_in_x = torch.tensor(
            [v.name in x for v in self.config.views], dtype=torch.bool, device=view_mask.device
        )
        view_mask = view_mask.bool() & present_in_x
        check_view_mask(view_mask)
        z = self.encode(x, view_mask)
        fused, weights = self.fusion(z, view_mask)
        if not self.config.individual_view_training:
            fused_head = self.head(fused)
            return RalisOutput(
                z, view_mask, weights, fused, fused_head.logits, None, fused_head, None
            )

        tokens = z[view_mask]  # (M, D) present view tokens, row-major over (B, V)
        if self.config.separate_load_balance:
            fused_head = self.head(fused)
            view_head: HeadOutput | None = self.head(tokens)
            assert view_head is not None
            token_logits = view_head.logits
        else:
            # "-sep. load" ablation: one routing over fused and view tokens together.
            fused_head = self.head(torch.cat([fused, tokens]))
            view_head = None
            token_logits = fused_head.logits[fused.shape[0] :]
            fused_head = fused_head._replace(logits=fused_head.logits[: fused.shape[0]])
        view_logits = z.new_zeros((*view_mask.shape, self.config.num_classes))
        view_logits = view_logits.masked_scatter(view_mask.unsqueeze(-1), token_logits)
        return RalisOutput(
            z, view_mask, weights, fused, fused_head.logits, view_logits, fused_head, view_head
        )

    def predict_logits(
        self, x: Mapping[str, torch.Tensor], view_mask: torch.Tensor
    ) -> torch.Tensor:
        """Inference path: only the fusion goes to the head. Returns logits `(B, K)`."""
        view_mask = view_mask.bool() & torch.tensor(
            [v.name in x for v in self.config.views], dtype=torch.bool, device=view_mask.device
        )
        check_view_mask(view_mask)
        z = self.encode(x, view_mask)
        fused, _ = self.fusion(z, view_mask)
        logits: torch.Tensor = self.head(fused).logits
        return logits


def contrastive_term(output: RalisOutput, config: RalisConfig) -> torch.Tensor:
    """The configured contrastive loss of one batch (needs no labels)."""
    z, mask = output.view_embeddings, output.view_mask
    if config.contrastive == "adjusted_center":
        return adjusted_center_loss(z, output.view_weights, mask, config.temperature)
    if config.contrastive == "full_graph":
        return full_graph_loss(z, mask, config.temperature)
    if config.contrastive == "cocoa":
        return cocoa_loss(z, mask, config.temperature)
    return z.new_zeros(())


def compute_losses(
    output: RalisOutput,
    labels: torch.Tensor,
    config: RalisConfig,
    class_weights: torch.Tensor | None = None,
) -> LossTerms:
    """The three unweighted loss terms of one batch (paper Eq. 11 and 12).

    `class_weights (K,)` re-weights the classification terms per class (None: all 1).
    """
    individual = config.individual_view_training
    cls = classification_loss(
        output.fused_logits,
        labels,
        output.view_logits if individual else None,
        output.view_mask if individual else None,
        class_weights,
        config.label_smoothing,
    )
    contrast = contrastive_term(output, config)
    balance = load_balance_loss(output.fused_head)
    if output.view_head is not None:
        balance = balance + load_balance_loss(output.view_head)
    return LossTerms(cls, contrast, balance)
