"""Checkpoints: everything a bundle and an evaluation need survives a save and a load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tests.training.conftest import export_checkpoint
from training.checkpoint import Checkpoint


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    checkpoint = export_checkpoint()
    path = tmp_path / "run" / "checkpoint.pt"
    checkpoint.save(path)
    loaded = Checkpoint.load(path)
    assert loaded.model.config == checkpoint.model.config
    for name, tensor in checkpoint.model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], tensor)
    assert loaded.class_names == checkpoint.class_names
    assert loaded.views == checkpoint.views
    assert loaded.train_config == checkpoint.train_config
    assert (loaded.epoch, loaded.val_macro_f1) == (checkpoint.epoch, checkpoint.val_macro_f1)
    for view in checkpoint.views:
        np.testing.assert_array_equal(
            loaded.normalizer.mean[view.name], checkpoint.normalizer.mean[view.name]
        )
    # The loaded model predicts exactly as the saved one.
    x = {v.name: torch.randn(3, 3, 50) for v in checkpoint.views}
    mask = torch.ones(3, len(checkpoint.views), dtype=torch.bool)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.model.eval().predict_logits(x, mask),
            checkpoint.model.eval().predict_logits(x, mask),
        )
