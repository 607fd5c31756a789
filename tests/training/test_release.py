"""`training.release`: a bundle, parity on the windows it is given, a card from the checkpoint."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ralis.bundle import load_manifest
from tests.training.conftest import export_checkpoint
from training import release

WINDOWS = Path(__file__).resolve().parents[1] / "fixtures" / "dsads_windows" / "windows.npz"

pytestmark = pytest.mark.slow  # two ONNX exports


def test_release_writes_a_bundle_and_a_card_from_the_checkpoint(tmp_path: Path) -> None:
    checkpoint = export_checkpoint()
    config = replace(
        checkpoint.train_config,
        data="/data/daily_sports_activities.zip",
        window_seconds=4.0,
        train_hop_seconds=1.0,
        protocol="uniform",
        train_subjects=(1, 2, 3, 4),
        val_subjects=(5,),
        augment_transforms=("rotate", "scale"),
        contrastive_batch_size=16,
    )
    checkpoint = replace(checkpoint, train_config=config, epoch=17, val_macro_f1=0.8123)
    checkpoint.model.fusion.score_bias[3] = 2.0  # a view prior on the right leg
    run = tmp_path / "run"
    checkpoint.save(run / "checkpoint.pt")
    scenarios = {"1 views": 0.7, "3 views": 0.8, "5 views": 0.9}
    (run / "evaluation.json").write_text(json.dumps({"scenarios": scenarios}))
    out = tmp_path / "bundle"
    assert release.main([str(run), "--out", str(out), "--check-windows", str(WINDOWS)]) == 0

    manifest = load_manifest(out, verify=True)
    assert manifest.view_names == ["torso", "right_arm", "left_arm", "right_leg", "left_leg"]
    card_text = (out / "MODEL_CARD.md").read_text()
    card = " ".join(card_text.split())  # the card wraps its lines
    # Every fact below comes from the checkpoint, none from a template.
    assert "any non-empty subset of 5 views (31 subsets)" in card
    assert "75% overlap" in card  # 1 s hop on 4 s windows
    assert "uniform view dropping" in card
    assert "Augmentation: rotate, scale." in card
    assert "training 1, 2, 3, 4; checkpoint selection 5" in card
    assert "batch 16 (the contrastive loss on a separate batch of 16)" in card
    assert "kept epoch 17, validation macro-F1 81.23" in card
    assert "| 5 views | 90.00 |" in card_text
    assert "real windows from windows.npz (57 windows x 31 subsets)" in card
    assert "random inputs (64 windows x 31 subsets)" in card
    assert "UCI Daily and Sports Activities" in card
    assert "training/view_prior.py): +2 on right_leg." in card
    # TINY_MODEL's sizes, and the encoder kernel's default since 2026-12-02.
    assert (
        "Architecture: 1D ResNet encoders of widths 8/8/16/16, kernel 9, embedding 16; "
        "4 experts, top 2; changed from the paper's model: nothing." in card
    )


def test_check_windows_must_hold_every_view(tmp_path: Path) -> None:
    import numpy as np

    partial = tmp_path / "partial.npz"
    np.savez(partial, X_torso=np.zeros((2, 100, 3), np.float32))
    with pytest.raises(SystemExit, match="right_arm, left_arm, right_leg, left_leg"):
        release.check_windows(export_checkpoint(), partial)
