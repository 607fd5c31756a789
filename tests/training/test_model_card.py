"""`training.model_card`: lines written from the checkpoint say what it is and how it was chosen."""

from __future__ import annotations

from dataclasses import replace

from model import RalisConfig
from model.config import ViewConfig
from tests.training.conftest import export_checkpoint
from training.model_card import _architecture, _selection


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


def test_the_subjects_line_says_when_validation_was_trained_on() -> None:
    checkpoint = export_checkpoint()
    config = replace(checkpoint.train_config, train_subjects=(1, 2), val_subjects=(3,))
    held_out = _selection(replace(checkpoint, train_config=config, epoch=7, val_macro_f1=0.5))
    assert held_out.startswith("checkpoint selection 3 (selection metric")
    assert held_out.endswith("kept epoch 7, validation macro-F1 50.00)")
    config = replace(config, train_subjects=(1, 2, 3), select_on="last", view_prior=False)
    monitor = _selection(replace(checkpoint, train_config=config, epoch=7, val_macro_f1=0.5))
    assert monitor == (
        "validation 3 is also trained on, so it only draws the learning curves and the final "
        "epoch is kept (kept epoch 7, validation macro-F1 50.00, on seen subjects)"
    )
