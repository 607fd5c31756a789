"""ONNX bundle export: parity with torch for every view subset, manifest, tamper refusal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from model import RalisConfig, RalisModel, ViewConfig
from ralis.bundle import BundleError, load_manifest
from tests.training.conftest import TINY_MODEL, VIEWS, export_checkpoint
from training.checkpoint import Checkpoint
from training.config import TrainConfig
from training.data.dataset import ViewInfo
from training.data.normalize import Normalizer
from training.export import check_parity, export_bundle

pytestmark = pytest.mark.slow  # ONNX exports


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Checkpoint, Path]:
    checkpoint = export_checkpoint()
    out = tmp_path_factory.mktemp("bundle") / "b"
    export_bundle(checkpoint, out, "tiny", "0.0.1", metrics={"test_f1_5_views": 0.5})
    return checkpoint, out


def test_parity_for_every_view_subset(bundle: tuple[Checkpoint, Path]) -> None:
    checkpoint, out = bundle
    report = check_parity(checkpoint, out, num_samples=16)
    assert report.subsets_checked == 31
    assert report.max_probability_diff < 1e-4
    assert report.argmax_agreement == 1.0


def test_parity_without_moe_and_magnorm(tmp_path: Path) -> None:
    checkpoint = export_checkpoint(use_moe=False, use_magnorm=False)
    export_bundle(checkpoint, tmp_path / "b")
    report = check_parity(checkpoint, tmp_path / "b", num_samples=8)
    assert report.max_probability_diff < 1e-4 and report.argmax_agreement == 1.0


def test_manifest_describes_the_bundle(bundle: tuple[Checkpoint, Path]) -> None:
    checkpoint, out = bundle
    manifest = load_manifest(out)
    assert manifest.view_names == list(VIEWS)
    assert manifest.window_seconds == 2.0
    assert all(v.window_samples == 50 for v in manifest.views)
    np.testing.assert_allclose(manifest.views[0].norm_std, checkpoint.normalizer.std["torso"])
    assert set(manifest.sha256) == {"head.onnx", "encoder_acc.onnx"}
    assert {v.encoder_file for v in manifest.views} == {"encoder_acc.onnx"}
    assert manifest.metrics == {"test_f1_5_views": 0.5}


def test_tampered_file_is_refused(bundle: tuple[Checkpoint, Path], tmp_path: Path) -> None:
    _, out = bundle
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in out.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    data = bytearray((copy / "head.onnx").read_bytes())
    data[-10] ^= 0xFF
    (copy / "head.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="head.onnx: SHA-256 mismatch"):
        load_manifest(copy)


def test_invalid_manifest_is_refused(bundle: tuple[Checkpoint, Path], tmp_path: Path) -> None:
    _, out = bundle
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["views"][0]["norm_std"] = [1.0]  # wrong length
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="norm_mean/norm_std need 3 values"):
        load_manifest(tmp_path, verify=False)


def test_pose_view_exports_with_its_normalisation_inside_the_encoder(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = RalisConfig(
        views=(ViewConfig("wrist", 3), ViewConfig("body", 15, pose_dims=3, scale_joint=1)),
        num_classes=4,
        **TINY_MODEL,  # type: ignore[arg-type]
    )
    model = RalisModel(config).eval()
    torch.nn.init.normal_(model.head.w_gate)
    views = [
        ViewInfo("wrist", "acc", ("x", "y", "z"), 25.0),
        ViewInfo(
            "body",
            "pose3d",
            tuple(f"j{j}{a}" for j in range(5) for a in "xyz"),
            25.0,
            scale_joint=1,
            vertical_axis=2,
        ),
    ]
    normalizer = Normalizer(
        mean={"wrist": np.zeros(3, np.float32), "body": np.zeros(15, np.float32)},
        std={"wrist": np.ones(3, np.float32), "body": np.ones(15, np.float32)},
    )
    checkpoint = Checkpoint(
        model,
        normalizer,
        views,
        ["a", "b", "c", "d"],
        TrainConfig(data="t", window_seconds=2.0),
        1,
        0.5,
    )
    export_bundle(checkpoint, tmp_path / "b")
    report = check_parity(checkpoint, tmp_path / "b", num_samples=8)
    assert report.max_probability_diff < 1e-4 and report.argmax_agreement == 1.0
    checkpoint.save(tmp_path / "c.pt")
    reloaded = Checkpoint.load(tmp_path / "c.pt")
    assert reloaded.views == views and reloaded.model.config == config


def test_parity_with_a_view_prior_on_the_attention_scores(tmp_path: Path) -> None:
    """The fusion's score_bias (training/view_prior.py) is part of the exported head."""
    checkpoint = export_checkpoint()
    embeddings = torch.randn(4, len(VIEWS), TINY_MODEL["embed_dim"])  # type: ignore[arg-type]
    mask = torch.ones(4, len(VIEWS), dtype=torch.bool)
    plain = checkpoint.model.fusion(embeddings, mask)[1]
    checkpoint.model.fusion.score_bias.copy_(torch.tensor([3.0, -2.0, 0.0, 1.0, 0.0]))
    assert not torch.allclose(plain, checkpoint.model.fusion(embeddings, mask)[1])
    export_bundle(checkpoint, tmp_path / "b")
    report = check_parity(checkpoint, tmp_path / "b", num_samples=8)
    assert report.max_probability_diff < 1e-4 and report.argmax_agreement == 1.0
