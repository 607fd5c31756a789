"""The fusion diagnostics' alternative combinations, on an untrained tiny model.

References come from the paper's definitions, not from the diagnostics' code: bias 0 is the
model's own fusion (softmax attention, MagNorm, head), and a bias so large that the best
view takes all the weight is that view alone (MagNorm of an already normalised embedding).
"""

from __future__ import annotations

import numpy as np
import torch

from model import RalisModel
from model.config import ViewConfig
from tests.model.conftest import small_config
from training.data.dataset import MultiViewDataset, ViewInfo
from training.diagnostics import _alternatives
from training.metrics import macro_f1

VIEWS = ("torso", "right_leg", "left_leg")
CLASSES = 4


def _data(n: int = 96, window: int = 32, seed: int = 0) -> MultiViewDataset:
    rng = np.random.default_rng(seed)
    mask = rng.random((n, len(VIEWS))) < 0.7
    mask[:, 1] |= rng.random(n) < 0.5  # most windows have the "best" view
    mask[~mask.any(1), 0] = True
    return MultiViewDataset(
        views=[ViewInfo(v, "acc", tuple(f"{v}_{a}" for a in "xyz"), 25.0) for v in VIEWS],
        x={v: rng.normal(size=(n, window, 3)).astype(np.float32) for v in VIEWS},
        mask=mask,
        y=rng.integers(0, CLASSES, n),
        subject=np.ones(n, dtype=np.int64),
        class_names=[f"c{k}" for k in range(CLASSES)],
    )


def _model() -> RalisModel:
    torch.manual_seed(0)
    views = tuple(ViewConfig(v, 3) for v in VIEWS)
    return RalisModel(small_config(views=views, num_experts=4, top_k=2, expert_hidden=16)).eval()


def _f1_percent(data: MultiViewDataset, rows: np.ndarray, logits: torch.Tensor) -> str:
    predicted = logits.argmax(-1).numpy()[rows]
    return f"{macro_f1(data.y[rows], predicted, CLASSES) * 100:.2f}"


@torch.no_grad()
def test_bias_zero_is_the_model_fusion_and_a_huge_bias_is_the_view_alone() -> None:
    data, model, best = _data(), _model(), 1
    cells = _alternatives(model, data, best, biases=(0.0, 1e4))
    x = {v: torch.from_numpy(a.transpose(0, 2, 1).copy()) for v, a in data.x.items()}
    mask = torch.from_numpy(data.mask)
    z = model.encode(x, mask)
    has = data.mask[:, best]
    fused, _ = model.fusion(z, mask)
    assert cells[0].split(" ")[0] == _f1_percent(data, has, model.head(fused).logits)
    alone = z[:, best] / z[:, best].norm(dim=-1, keepdim=True) * 16**0.5
    expected_alone = _f1_percent(data, has, model.head(alone).logits)
    assert cells[1] == f"{expected_alone} (1.00)"
    assert cells[-1] == expected_alone  # the "view alone" column


@torch.no_grad()
def test_late_fusion_averages_the_present_views_log_probabilities() -> None:
    data, model = _data(seed=1), _model()
    cells = _alternatives(model, data, 0, biases=())
    x = {v: torch.from_numpy(a.transpose(0, 2, 1).copy()) for v, a in data.x.items()}
    z = model.encode(x, torch.from_numpy(data.mask))
    total = torch.zeros(len(data), CLASSES)
    for row in range(len(data)):
        present = [v for v in range(len(VIEWS)) if data.mask[row, v]]
        for v in present:
            total[row] += torch.log_softmax(model.head(z[row : row + 1, v]).logits[0], -1)
        total[row] /= len(present)
    assert cells[0] == _f1_percent(data, data.mask[:, 0], total)
