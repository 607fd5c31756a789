"""`training.model_card`: the architecture line names what an ablation switched off."""

from __future__ import annotations

from model import RalisConfig
from model.config import ViewConfig
from training.model_card import _architecture


def test_the_architecture_line_names_the_switched_off_components_and_nothing_else() -> None:
    views = (ViewConfig("wrist", 3), ViewConfig("ankle", 3))
    plain = _architecture(RalisConfig(views=views, num_classes=4, kernel_size=5))
    assert plain.endswith("kernel 5, embedding 128; 16 experts, top 3; changed from the "
                          "paper's model: nothing")  # fmt: skip
    ablated = _architecture(
        RalisConfig(views=views, num_classes=4, use_moe=False, contrastive="none")
    )
    assert ablated.endswith(
        "changed from the paper's model: {'use_moe': False, 'contrastive': 'none'}"
    )
