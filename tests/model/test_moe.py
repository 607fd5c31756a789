"""Noisy top-K gating and the load-balancing loss."""

from __future__ import annotations

import pytest
import torch

from model.moe import HeadOutput, MLPHead, SparseMoEHead, cv_squared, load_balance_loss


@pytest.fixture
def head() -> SparseMoEHead:
    torch.manual_seed(0)
    moe = SparseMoEHead(in_dim=8, num_classes=5, num_experts=16, top_k=3, hidden=10)
    torch.nn.init.normal_(moe.w_gate, std=1.0)  # non-degenerate routing
    return moe


@pytest.mark.parametrize("training", [True, False])
def test_exactly_k_nonzero_gates_summing_to_one(head: SparseMoEHead, training: bool) -> None:
    head.train(training)
    out = head(torch.randn(64, 8))
    assert out.gates is not None
    assert torch.all((out.gates > 0).sum(-1) == 3)
    torch.testing.assert_close(out.gates.sum(-1), torch.ones(64))


def test_gating_noise_only_in_training(head: SparseMoEHead) -> None:
    x = torch.randn(32, 8)
    head.eval()
    torch.testing.assert_close(head(x).logits, head(x).logits)
    head.train()
    torch.nn.init.normal_(head.w_noise, std=1.0)
    assert not torch.equal(head(x).gates, head(x).gates)


def test_logits_equal_gate_weighted_selected_experts(head: SparseMoEHead) -> None:
    head.eval()
    x = torch.randn(4, 8)
    out = head(x)
    experts = head.experts(x)  # (N, E, K)
    assert out.gates is not None
    for n in range(4):
        chosen = out.gates[n].nonzero().flatten()
        expected = sum(out.gates[n, e] * experts[n, e] for e in chosen)
        torch.testing.assert_close(out.logits[n], expected)


def test_each_expert_is_its_own_two_layer_mlp(head: SparseMoEHead) -> None:
    x = torch.randn(5, 8)
    bank = head.experts
    out = bank(x)  # (N, E, K)
    assert out.shape == (5, 16, 5)
    for e in range(16):  # expert e alone: relu(x W1_e + b1_e) W2_e + b2_e
        hidden = torch.relu(x @ bank.w1[e] + bank.b1[e])
        torch.testing.assert_close(out[:, e], hidden @ bank.w2[e] + bank.b2[e])


def test_balance_loss_zero_for_uniform_routing_and_grows_with_imbalance() -> None:
    logits = torch.zeros(4, 2)
    uniform = HeadOutput(logits, None, torch.full((16,), 2.0), torch.full((16,), 3.0))
    assert float(load_balance_loss(uniform)) == pytest.approx(0.0, abs=1e-9)
    losses = []
    for skew in (0.0, 1.0, 4.0, 16.0):
        importance = torch.ones(16)
        importance[0] += skew
        losses.append(float(load_balance_loss(HeadOutput(logits, None, importance, importance))))
    assert losses == sorted(losses) and losses[-1] > losses[0] + 1


def test_cv_squared_known_value() -> None:
    x = torch.tensor([1.0, 3.0])  # mean 2, population variance 1
    assert float(cv_squared(x)) == pytest.approx(0.25)


def test_load_is_differentiable_in_training(head: SparseMoEHead) -> None:
    head.train()
    out = head(torch.randn(32, 8))
    load_balance_loss(out).backward()
    assert head.w_gate.grad is not None and head.w_gate.grad.abs().sum() > 0
    assert head.w_noise.grad is not None and head.w_noise.grad.abs().sum() > 0


def test_mlp_head_has_no_balance_term() -> None:
    out = MLPHead(8, 5, 10)(torch.randn(3, 8))
    assert out.logits.shape == (3, 5)
    assert float(load_balance_loss(out)) == 0.0
