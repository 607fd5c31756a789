"""Bring-your-own data: real DSADS windows saved as .npz train, export and keep their lengths."""

from __future__ import annotations

from pathlib import Path

from ralis.bundle import load_manifest
from tests.training.conftest import FIXTURE_ZIP, tiny_config
from training.checkpoint import Checkpoint
from training.data.dsads import load_dsads
from training.data.npz import save_npz
from training.export import export_bundle
from training.trainer import train


def test_npz_data_trains_and_exports_with_its_window_length(tmp_path: Path) -> None:
    real = load_dsads(
        FIXTURE_ZIP, window_seconds=2.0, hop_seconds=1.0, subjects=(1, 2), activities=(1, 9, 12)
    )
    save_npz(real, tmp_path / "mine.npz")
    config = tiny_config(
        data=str(tmp_path / "mine.npz"), test_subjects=(), epochs=2, activities=None
    )
    result = train(config, tmp_path / "run", progress=False)
    checkpoint = Checkpoint.load(result.checkpoint_path)
    assert checkpoint.window_samples == {name: 50 for name in real.view_names}
    manifest = export_bundle(checkpoint, tmp_path / "bundle")
    assert manifest.window_seconds == 2.0
    assert {v.window_samples for v in manifest.views} == {50}
    assert load_manifest(tmp_path / "bundle").classes == real.class_names
