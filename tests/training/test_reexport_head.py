"""Re-exporting a bundle's head from its own ONNX weights (training/reexport_head.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import onnx
import pytest
import torch

from model.moe import ExpertBank
from ralis.bundle import load_manifest, sha256_of
from tests.training.conftest import export_checkpoint
from training.checkpoint import Checkpoint
from training.export import check_parity, export_bundle
from training.reexport_head import head_from_onnx, main, reexport_head

pytestmark = pytest.mark.slow  # ONNX exports


def _einsum_experts(bank: ExpertBank, x: torch.Tensor) -> torch.Tensor:
    """How the expert layers were written before 2026-12-03 (bundles up to 1.2.0)."""
    h = torch.relu(torch.einsum("nd,edh->neh", x, bank.w1) + bank.b1)
    return torch.einsum("neh,ehk->nek", h, bank.w2) + bank.b2


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Checkpoint, Path]]:
    """A bundle whose head was exported with einsum, as the shipped 1.2.0 head was."""
    checkpoint = export_checkpoint()
    torch.nn.init.normal_(checkpoint.model.fusion.score_bias)  # the view prior is kept too
    out = tmp_path_factory.mktemp("bundle") / "b"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ExpertBank, "forward", _einsum_experts)
        export_bundle(checkpoint, out, "tiny", "0.0.1")
    yield checkpoint, out


def _ops(path: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def test_the_weights_read_back_are_the_models(exported: tuple[Checkpoint, Path]) -> None:
    checkpoint, out = exported
    module = head_from_onnx(onnx.load(str(out / "head.onnx")))
    model = checkpoint.model
    for name, value in model.fusion.state_dict().items():
        torch.testing.assert_close(module.fusion.state_dict()[name], value, rtol=0, atol=0)
    for name, value in model.head.state_dict().items():
        if name != "w_noise":  # used in training only; not in the inference graph
            torch.testing.assert_close(module.head.state_dict()[name], value, rtol=0, atol=0)
    assert module.head.top_k == model.head.top_k
    assert module.head.num_experts == model.head.num_experts


def test_reexport_keeps_the_predictions_and_the_manifest_true(
    exported: tuple[Checkpoint, Path], tmp_path: Path
) -> None:
    checkpoint, original = exported
    bundle = tmp_path / "copy"
    shutil.copytree(original, bundle)
    assert "Einsum" in _ops(bundle / "head.onnx")
    parity = reexport_head(bundle)
    assert parity is not None
    assert "Einsum" not in _ops(bundle / "head.onnx")
    assert parity.subsets == 31 and parity.argmax_agreement == 1.0
    assert parity.max_probability_diff < 1e-5
    manifest = load_manifest(bundle)  # checks every file's SHA-256
    assert manifest.sha256["head.onnx"] == sha256_of(bundle / "head.onnx")
    # Against the torch model itself, not only against the old file.
    report = check_parity(checkpoint, bundle, num_samples=8)
    assert report.max_probability_diff < 1e-4 and report.argmax_agreement == 1.0
    # A second run has nothing left to do and leaves the file alone.
    after = (bundle / "head.onnx").read_bytes()
    assert reexport_head(bundle) is None
    assert (bundle / "head.onnx").read_bytes() == after


def test_an_mlp_head_has_nothing_to_do(tmp_path: Path) -> None:
    bundle = tmp_path / "mlp"
    export_bundle(export_checkpoint(use_moe=False), bundle)
    before = (bundle / "head.onnx").read_bytes()
    assert reexport_head(bundle) is None
    assert (bundle / "head.onnx").read_bytes() == before


def test_a_head_it_cannot_read_is_refused_and_left_alone(tmp_path: Path) -> None:
    bundle = tmp_path / "no_attention"
    with pytest.MonkeyPatch.context() as patch:  # an einsum-era head without learned attention
        patch.setattr(ExpertBank, "forward", _einsum_experts)
        export_bundle(export_checkpoint(use_attention=False), bundle)
    before = {f.name: f.read_bytes() for f in bundle.iterdir()}
    with pytest.raises(ValueError, match="learned-attention fusion with a mixture-of-experts"):
        reexport_head(bundle)
    assert main([str(bundle)]) == 1
    assert {f.name: f.read_bytes() for f in bundle.iterdir()} == before
