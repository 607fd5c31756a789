"""The whole network: missing-view invariance, gradients, ablation switches, export parts."""

from __future__ import annotations

import math

import pytest
import torch

from model import EmptyViewSetError, RalisConfig, RalisModel, ViewConfig, compute_losses
from model.config import TABLE5_ABLATIONS
from model.export import EncoderForExport, HeadForExport
from tests.model.conftest import VIEW_NAMES, random_batch, small_config

ABLATIONS: dict[str, dict[str, object]] = {
    **TABLE5_ABLATIONS,
    "cocoa": {"contrastive": "cocoa"},
}


def _train_step_grads(config: RalisConfig, mask: torch.Tensor | None = None) -> RalisModel:
    torch.manual_seed(0)
    model = RalisModel(config)
    x, random_mask = random_batch(config, batch=12)
    out = model(x, random_mask if mask is None else mask)
    labels = torch.arange(12) % config.num_classes
    terms = compute_losses(out, labels, config)
    (terms.classification + terms.contrastive + 0.01 * terms.load_balance).backward()
    return model


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_every_trainable_parameter_gets_a_gradient(name: str) -> None:
    config = small_config(**ABLATIONS[name])
    model = _train_step_grads(config, mask=torch.ones(12, 5, dtype=torch.bool))
    missing = [
        n
        for n, p in model.named_parameters()
        if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0
    ]
    if not config.use_attention:
        # Uniform weights: the scorer is unused by design.
        missing = [n for n in missing if not n.startswith("fusion.scorer")]
    assert missing == []


def test_no_nan_with_one_present_view() -> None:
    config = small_config()
    mask = torch.zeros(12, 5, dtype=torch.bool)
    mask[:, 2] = True
    model = _train_step_grads(config, mask=mask)
    for p in model.parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all()


def test_missing_views_equal_running_only_present_views(model: RalisModel) -> None:
    model.eval()
    config = model.config
    x, mask = random_batch(config, batch=10, seed=3)
    # Absent windows hold garbage: it must not matter.
    for i, name in enumerate(VIEW_NAMES):
        x[name][~mask[:, i]] = float("nan")
    with torch.no_grad():
        out = model(x, mask)
        for sample in range(10):
            present = [n for i, n in enumerate(VIEW_NAMES) if mask[sample, i]]
            alone = model(
                {n: x[n][sample : sample + 1] for n in present}, torch.ones(1, 5, dtype=torch.bool)
            )
            torch.testing.assert_close(alone.fused[0], out.fused[sample], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(
                alone.fused_logits[0], out.fused_logits[sample], atol=1e-5, rtol=1e-5
            )
    assert torch.isfinite(out.fused_logits).all()
    assert torch.all(out.view_weights[~mask] == 0)
    torch.testing.assert_close(out.view_weights.sum(1), torch.ones(10))


def test_sample_without_views_is_an_error(model: RalisModel) -> None:
    x, mask = random_batch(model.config, batch=4)
    mask[2] = False
    with pytest.raises(EmptyViewSetError, match=r"samples \[2\]"):
        model(x, mask)


def test_magnorm_puts_embeddings_on_the_sphere(model: RalisModel) -> None:
    x, mask = random_batch(model.config, batch=6)
    out = model(x, mask)
    radius = math.sqrt(model.config.embed_dim)
    norms = out.view_embeddings.norm(dim=-1)
    torch.testing.assert_close(norms[mask], torch.full_like(norms[mask], radius))
    torch.testing.assert_close(out.fused.norm(dim=-1), torch.full((6,), radius))


def test_stop_gradient_keeps_fusion_scorer_out_of_encoder_gradient() -> None:
    """With stop-grad the encoder gradient ignores the scorer; without, it does not."""
    grads = {}
    for stop in (True, False):
        torch.manual_seed(0)
        config = small_config(stop_grad_attention=stop)
        model = RalisModel(config)
        x, mask = random_batch(config, batch=8)
        z = model.encode(x, mask)
        z.retain_grad()
        weights = model.fusion.weights(z, mask)
        weights.sum(dim=0)[0].backward()  # depends on z only through the scorer
        grads[stop] = z.grad
    assert grads[True] is None or torch.all(grads[True] == 0)
    assert grads[False] is not None and grads[False].abs().sum() > 0


def test_shared_encoder_group() -> None:
    config = small_config(
        views=tuple(
            ViewConfig(n, 3, encoder_group="limb" if "arm" in n else None) for n in VIEW_NAMES
        )
    )
    model = RalisModel(config)
    assert set(model.encoders) == {"torso", "limb", "right_leg", "left_leg"}
    x, mask = random_batch(config, batch=5)
    assert model(x, mask).view_embeddings.shape == (5, 5, config.embed_dim)


def test_mismatched_channels_in_a_group_are_refused() -> None:
    with pytest.raises(ValueError, match="mixes 3 and 6 channels"):
        RalisConfig(views=(ViewConfig("a", 3, "g"), ViewConfig("b", 6, "g")), num_classes=3)


def test_config_round_trips_through_dict() -> None:
    config = small_config(use_moe=False, contrastive="full_graph")
    assert RalisConfig.from_dict(config.to_dict()) == config


def test_predict_logits_uses_only_the_fusion(model: RalisModel) -> None:
    model.eval()
    x, mask = random_batch(model.config, batch=6)
    with torch.no_grad():
        torch.testing.assert_close(model.predict_logits(x, mask), model(x, mask).fused_logits)


def test_export_modules_match_the_model(model: RalisModel) -> None:
    model.eval()
    x, mask = random_batch(model.config, batch=6, seed=7)
    with torch.no_grad():
        out = model(x, mask)
        stacked = torch.stack(
            [EncoderForExport(model, name)(x[name]) for name in VIEW_NAMES], dim=1
        )
        probabilities, logits, weights, fused = HeadForExport.of(model)(stacked, mask)
    torch.testing.assert_close(logits, out.fused_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, out.view_weights, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(fused, out.fused, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(6))
