"""Choosing the fusion's view prior on validation (training/view_prior.py).

References follow the definitions, not the module's code: a view "alone" is MagNorm of its
embedding through the head; the prior adds b to one view's attention score before the
softmax over the present views; a bias so large that the view takes all the weight makes
the fusion that view alone.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from tests.training.test_diagnostics import VIEWS, _data, _model
from training.checkpoint import Checkpoint
from training.metrics import macro_f1
from training.view_prior import (
    ViewPrior,
    apply_view_prior,
    as_fields,
    choose_view_prior,
    gate_table,
    report,
    settle_view_prior,
)


def _embeddings(model: torch.nn.Module, data) -> torch.Tensor:  # type: ignore[no-untyped-def]
    x = {v: torch.from_numpy(a.transpose(0, 2, 1).copy()) for v, a in data.x.items()}
    return model.encode(x, torch.from_numpy(data.mask))


@torch.no_grad()
def test_the_best_view_alone_is_chosen_and_a_huge_bias_equals_it() -> None:
    data, model = _data(seed=2), _model()
    z = _embeddings(model, data)
    alone = {}
    for v, name in enumerate(VIEWS):
        has = data.mask[:, v]
        normed = z[has, v] / z[has, v].norm(dim=-1, keepdim=True) * 16**0.5
        predicted = model.head(normed).logits.argmax(-1).numpy()
        alone[name] = macro_f1(data.y[has], predicted, 4)
    prior = choose_view_prior(model, data, biases=(0.0, 1e4))
    assert prior.alone_f1 == alone
    assert prior.view_name == max(alone, key=alone.__getitem__)
    assert prior.fused_f1[1e4] == alone[prior.view_name]
    assert prior.best_bias == max(prior.fused_f1, key=lambda b: (prior.fused_f1[b], -b))
    # The gate: the best bias only if its bootstrap gain's 5th percentile is above zero.
    assert prior.bias == (prior.best_bias if prior.gain_low > 0 else 0.0)
    assert torch.count_nonzero(model.fusion.score_bias) == 0  # choosing changes nothing


@torch.no_grad()
def test_the_prior_shifts_the_softmax_over_present_views() -> None:
    data, model = _data(seed=3), _model()
    prior = choose_view_prior(model, data, biases=(2.5,), gate=False)
    apply_view_prior(model, prior)
    z = _embeddings(model, data)
    mask = torch.from_numpy(data.mask)
    scores = model.fusion.scorer(z).squeeze(-1)
    for row in range(5):
        present = [v for v in range(len(VIEWS)) if data.mask[row, v]]
        raw = [float(scores[row, v]) + (2.5 if v == prior.view else 0.0) for v in present]
        expected = np.exp(raw) / np.exp(raw).sum()
        weights = model.fusion(z[row : row + 1], mask[row : row + 1])[1][0]
        np.testing.assert_allclose(weights[present].numpy(), expected, rtol=1e-5)


def test_the_prior_survives_a_checkpoint_and_old_checkpoints_load_with_none(
    tmp_path: Path,
) -> None:
    from tests.training.conftest import export_checkpoint

    checkpoint = export_checkpoint()
    checkpoint.model.fusion.score_bias[3] = 2.0
    checkpoint.save(tmp_path / "with.pt")
    assert Checkpoint.load(tmp_path / "with.pt").model.fusion.score_bias.tolist() == [
        0.0, 0.0, 0.0, 2.0, 0.0
    ]  # fmt: skip
    state = torch.load(tmp_path / "with.pt", weights_only=True)
    del state["model_state"]["fusion.score_bias"]  # as saved before the prior existed
    torch.save(state, tmp_path / "old.pt")
    assert Checkpoint.load(tmp_path / "old.pt").model.fusion.score_bias.tolist() == [0.0] * 5


def test_gate_table_reads_back_what_the_report_wrote(tmp_path: Path) -> None:
    before = {"1 view": 0.70, "3 views": 0.80, "5 views": 0.85}
    after = {"1 view": 0.70, "3 views": 0.81, "5 views": 0.87}
    for name, bias, low in (("kept", 0.0, -0.004), ("applied", 2.0, 0.012)):
        prior = ViewPrior(3, "right_leg", bias, 2.0, low, {"right_leg": 0.8}, {0.0: 0.8, 2.0: 0.81})
        (tmp_path / name / "view_prior").mkdir(parents=True)
        (tmp_path / name / "view_prior" / "view_prior.md").write_text(report(prior, before, after))
    # A run still training has no report: it is left out, not an error.
    (tmp_path / "running").mkdir()
    runs = [tmp_path / "kept", tmp_path / "applied", tmp_path / "running"]
    table = gate_table(runs).splitlines()
    # The kept run reports the model as trained, the applied one the score with b = 2; the
    # ungated bias changes both from 85.00 to 87.00.
    assert table[2].endswith(
        "| right_leg | 2 | -0.40 | b = 0 | 85.00 | 87.00 | +2.00 | **85.00** |"
    )
    assert table[3].endswith(
        "| right_leg | 2 | +1.20 | applied | 85.00 | 87.00 | +2.00 | **87.00** |"
    )
    assert not any("running" in line for line in table)
    assert table[-1] == (
        "Without the gate, the validation-best bias raised 2 of 2 runs, lowered 0 and left 0 "
        "unchanged."
    )


def test_settling_saves_the_prior_into_the_checkpoint_only_after_missing_view_training(
    tmp_path: Path,
) -> None:
    from tests.training.conftest import export_checkpoint

    checkpoint = export_checkpoint()
    path = tmp_path / "checkpoint.pt"
    checkpoint.save(path)
    rng = np.random.default_rng(4)
    names = [v.name for v in checkpoint.views]
    mask = rng.random((160, len(names))) < 0.7
    mask[~mask.any(1), 0] = True
    val = dataclasses.replace(
        _data(n=160, seed=4),
        views=checkpoint.views,
        x={v: rng.normal(size=(160, 32, 3)).astype(np.float32) for v in names},
        mask=mask,
        y=rng.integers(0, len(checkpoint.class_names), 160),
        class_names=list(checkpoint.class_names),
    )
    complete = np.ones_like(mask)
    assert settle_view_prior(path, val, complete) is None
    assert as_fields(None) is None
    assert Checkpoint.load(path).model.fusion.score_bias.tolist() == [0.0] * len(names)
    prior = settle_view_prior(path, val, mask)
    assert prior is not None
    assert prior.bias == prior.best_bias  # no gate here
    expected = [0.0] * len(names)
    expected[prior.view] = prior.bias
    assert Checkpoint.load(path).model.fusion.score_bias.tolist() == expected
    assert as_fields(prior) == {
        "view": prior.view_name,
        "bias": prior.bias,
        "best_bias": prior.best_bias,
        "gain_5th_percentile": prior.gain_low,
    }
