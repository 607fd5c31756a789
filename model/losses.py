"""Losses: contrastive view alignment (adjusted center, full graph, COCOA) and classification.

All functions take view embeddings `z (B, V, D)` and `view_mask (B, V)`; absent views are
masked, never filled in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_MASKED_LOGIT = -1e9


# --------------------------------------------------------------------------- pair loss


def pair_nt_xent(
    a: torch.Tensor, b: torch.Tensor, valid: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Paper Eq. 4-6: L_pair(a, b) = l(a, b) + l(b, a), batched over P pairs.

    l is NT-Xent with cosine similarity: sample i's positive is its partner; negatives are
    every other *valid* sample of the batch on both sides (SimCLR-style 2N - 2 negatives).
    The two directions are **summed**, as in Eq. 4 (not averaged).

    Args:
        a, b: `(P, N, D)` paired embeddings.
        valid: `(P, N)` bool, which samples take part in each pair's loss.
    Returns:
        `(P, N)` per-sample loss, the sum of the two directions; 0 where not valid.
    """
    n = a.shape[1]
    z = F.normalize(torch.cat([a, b], dim=1), dim=-1)  # (P, 2N, D)
    logits = z @ z.transpose(1, 2) / temperature  # (P, 2N, 2N)
    candidate = torch.cat([valid, valid], dim=1)  # (P, 2N)
    self_pair = torch.eye(2 * n, dtype=torch.bool, device=a.device)
    allowed = candidate.unsqueeze(1) & ~self_pair  # (P, 2N, 2N)
    logits = logits.masked_fill(~allowed, _MASKED_LOGIT)
    partner = torch.arange(2 * n, device=a.device).roll(n)  # i <-> i + N
    positive = logits.gather(-1, partner.expand(logits.shape[0], -1).unsqueeze(-1)).squeeze(-1)
    loss = torch.logsumexp(logits, dim=-1) - positive  # (P, 2N)
    loss = loss[:, :n] + loss[:, n:]  # Eq. 4: l(a, b) + l(b, a)
    return torch.where(valid, loss, torch.zeros_like(loss))


def _mean_over(values: torch.Tensor, include: torch.Tensor) -> torch.Tensor:
    """Mean of `values` where `include`; 0 (still in the graph) when nothing is included."""
    count = include.sum()
    total = torch.where(include, values, torch.zeros_like(values)).sum()
    return total / count.clamp_min(1)


# ------------------------------------------------------------------ adjusted center


def adjusted_center_loss(
    z: torch.Tensor, weights: torch.Tensor, view_mask: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Adjusted center contrastive loss (paper Eq. 4-7), O(V N^2).

    View a of sample i is contrasted with the stop-gradient weighted center of the other
    present views, `c_a = sum_v w_v z_v - w_a z_a`, weighted by stop-gradient `(1 - w_a)`
    and divided by `V_i - 1`, which makes it a weighted average over views because the
    weights sum to 1 over the present views. Samples with fewer than 2 present views skip.
    """
    w = weights.detach()
    z_masked = torch.where(view_mask.unsqueeze(-1), z, torch.zeros_like(z))
    weighted = w.unsqueeze(-1) * z_masked.detach()  # (B, V, D)
    total = weighted.sum(dim=1, keepdim=True)  # computed once: (B, 1, D)
    centers = total - weighted  # (B, V, D): center of the other views, for every view
    present_count = view_mask.sum(dim=1)  # (B,)
    eligible = present_count >= 2
    valid = (view_mask & eligible.unsqueeze(1)).transpose(0, 1)  # (V, B)
    pair = pair_nt_xent(z_masked.transpose(0, 1), centers.transpose(0, 1), valid, temperature)
    per_sample = ((1 - w).transpose(0, 1) * pair).sum(0)  # (B,)
    per_sample = per_sample / (present_count - 1).clamp_min(1).to(z.dtype)
    return _mean_over(per_sample, eligible)


# ---------------------------------------------------------------------- full graph


def full_graph_loss(z: torch.Tensor, view_mask: torch.Tensor, temperature: float) -> torch.Tensor:
    """Every pair of present views contrasted (CMC's full graph), O(V^2 N^2).

    Per sample: mean over its present pairs; then mean over samples with >= 2 views.
    """
    num_views = z.shape[1]
    first, second = torch.triu_indices(num_views, num_views, offset=1, device=z.device)
    if first.numel() == 0:
        return z.sum() * 0
    z_masked = torch.where(view_mask.unsqueeze(-1), z, torch.zeros_like(z))
    a = z_masked[:, first].transpose(0, 1)  # (P, B, D)
    b = z_masked[:, second].transpose(0, 1)
    valid = (view_mask[:, first] & view_mask[:, second]).transpose(0, 1)  # (P, B)
    pair = pair_nt_xent(a, b, valid, temperature)
    pairs_per_sample = valid.sum(0)
    per_sample = pair.sum(0) / pairs_per_sample.clamp_min(1).to(z.dtype)
    return _mean_over(per_sample, pairs_per_sample > 0)


# --------------------------------------------------------------------------- COCOA


def cocoa_loss(
    z: torch.Tensor, view_mask: torch.Tensor, temperature: float, negative_weight: float = 1.0
) -> torch.Tensor:
    """COCOA (Deldari et al. 2022): cross-view correlation + same-view discrimination.

    Positive term: per sample, mean over its present view pairs of
    `exp((1 - cos(z_a, z_b)) / t)`, averaged over samples with >= 2 views. Negative term:
    per view, mean over pairs of distinct samples having that view of `exp(cos / t)`,
    averaged over views with >= 2 samples.
    """
    zn = F.normalize(z, dim=-1)
    zn = torch.where(view_mask.unsqueeze(-1), zn, torch.zeros_like(zn))
    batch, num_views = view_mask.shape
    # Positive: cross-view within a sample.
    sim_views = zn @ zn.transpose(1, 2)  # (B, V, V)
    upper = torch.ones(num_views, num_views, dtype=torch.bool, device=z.device).triu(1)
    pair_ok = view_mask.unsqueeze(2) & view_mask.unsqueeze(1) & upper  # (B, V, V)
    pos = torch.exp((1 - sim_views) / temperature)
    pairs = pair_ok.sum(dim=(1, 2))
    pos_per_sample = torch.where(pair_ok, pos, torch.zeros_like(pos)).sum(dim=(1, 2))
    pos_term = _mean_over(pos_per_sample / pairs.clamp_min(1).to(z.dtype), pairs > 0)
    # Negative: same view across different samples.
    zv = zn.transpose(0, 1)  # (V, B, D)
    sim_samples = zv @ zv.transpose(1, 2)  # (V, B, B)
    off_diag = ~torch.eye(batch, dtype=torch.bool, device=z.device)
    present = view_mask.transpose(0, 1)  # (V, B)
    neg_ok = present.unsqueeze(2) & present.unsqueeze(1) & off_diag  # (V, B, B)
    neg = torch.exp(sim_samples / temperature)
    neg_pairs = neg_ok.sum(dim=(1, 2))
    neg_per_view = torch.where(neg_ok, neg, torch.zeros_like(neg)).sum(dim=(1, 2))
    neg_term = _mean_over(neg_per_view / neg_pairs.clamp_min(1).to(z.dtype), neg_pairs > 0)
    return pos_term + negative_weight * neg_term


# ------------------------------------------------------------------ classification


def classification_loss(
    fused_logits: torch.Tensor,
    labels: torch.Tensor,
    view_logits: torch.Tensor | None = None,
    view_mask: torch.Tensor | None = None,
    class_weights: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Paper Eq. 11: cross-entropy on the fused logits plus every present view's logits,
    averaged over the terms that exist. Labels -1 are unlabelled and contribute nothing.

    `class_weights (K,)`: each term is multiplied by its class's weight (e.g. inverse class
    frequency, mean 1 over the training samples); the average still divides by the count.
    `label_smoothing` e: each term is the cross-entropy against 1 - e on the label plus e / K
    on every class (0: the paper's).
    """
    labelled = labels >= 0
    safe_labels = labels.clamp_min(0)
    terms = F.cross_entropy(
        fused_logits, safe_labels, reduction="none", label_smoothing=label_smoothing
    )  # (B,)
    sample_weight = (
        class_weights.to(terms.dtype)[safe_labels]
        if class_weights is not None
        else torch.ones_like(terms)
    )  # (B,)
    terms = terms * sample_weight
    total = torch.where(labelled, terms, torch.zeros_like(terms)).sum()
    count = labelled.sum()
    if view_logits is not None and view_mask is not None:
        num_views = view_logits.shape[1]
        per_view = F.cross_entropy(
            view_logits.reshape(-1, view_logits.shape[-1]),
            safe_labels.repeat_interleave(num_views),
            reduction="none",
            label_smoothing=label_smoothing,
        ).reshape(-1, num_views)  # (B, V)
        per_view = per_view * sample_weight.unsqueeze(1)
        include = view_mask & labelled.unsqueeze(1)
        total = total + torch.where(include, per_view, torch.zeros_like(per_view)).sum()
        count = count + include.sum()
    return total / count.clamp_min(1).to(fused_logits.dtype)
