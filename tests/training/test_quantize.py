"""Int8 encoders: what the quantiser writes into a bundle, and how the service serves them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from ralis.bundle import ENCODER_INPUT, Manifest, load_manifest, sha256_of, write_manifest
from service.runtime import ModelRuntime
from tests.service.bundle_factory import build_bundle
from training import quantize
from training.quantize import int8_parity, quantize_bundle

ROWS = 96


def _windows(manifest: Manifest, rows: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        v.name: rng.standard_normal((rows, len(v.channels), v.window_samples)).astype(np.float32)
        for v in manifest.views
    }


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    return build_bundle(tmp_path / "bundle")


def test_quantize_adds_int8_encoders_and_keeps_the_float_ones(bundle: Path) -> None:
    before = load_manifest(bundle)
    float_hashes = dict(before.sha256)
    calibration = _windows(before, ROWS, seed=0)
    after = quantize_bundle(bundle, calibration, "random windows", _windows(before, 40, seed=1))

    assert load_manifest(bundle, verify=True) == after  # written, and every hash checks out
    assert {k: v for k, v in after.sha256.items() if k in float_hashes} == float_hashes
    for view in after.views:
        assert view.encoder_file_int8 == view.encoder_file.replace(".onnx", ".int8.onnx")
        assert after.sha256[view.encoder_file_int8] == sha256_of(bundle / view.encoder_file_int8)
    assert after.int8 is not None
    assert after.int8.calibration_windows == ROWS
    assert after.int8.calibration_data == "random windows"
    assert after.int8.parity["windows"] == 40
    assert 0.0 <= after.int8.parity["argmax_agreement_all_views"] <= 1.0


def test_the_layers_reading_the_raw_window_stay_float(bundle: Path) -> None:
    manifest = quantize_bundle(bundle, _windows(load_manifest(bundle), ROWS, 0), "random")
    graph = onnx.load(str(bundle / manifest.views[0].encoder_file_int8)).graph  # type: ignore[arg-type]
    readers = [node for node in graph.node if ENCODER_INPUT in node.input]
    assert any(node.op_type == "Conv" for node in readers)
    quantised = [node for node in graph.node if node.op_type == "QuantizeLinear"]
    assert quantised, "no quantised tensor at all"
    assert not any(ENCODER_INPUT in node.input for node in quantised)


def test_quantizing_again_replaces_the_int8_files(bundle: Path) -> None:
    manifest = load_manifest(bundle)
    quantize_bundle(bundle, _windows(manifest, ROWS, 0), "first")
    again = quantize_bundle(bundle, _windows(manifest, ROWS, 5), "second")
    assert again.int8 is not None and again.int8.calibration_data == "second"
    int8_files = [name for name in again.sha256 if ".int8." in name]
    assert sorted(int8_files) == sorted({v.encoder_file_int8 for v in again.views})  # type: ignore[type-var]
    assert load_manifest(bundle, verify=True) == again


def _bundle_bytes(bundle: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(bundle.iterdir())}


def test_a_failed_requantisation_leaves_the_bundle_untouched(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quantising and the parity check happen aside: if either fails, not a byte changes."""
    manifest = load_manifest(bundle)
    quantize_bundle(bundle, _windows(manifest, ROWS, 0), "first")
    before = _bundle_bytes(bundle)

    def parity_fails(*args: object) -> dict[str, float]:
        raise RuntimeError("the parity check ran out of memory")

    monkeypatch.setattr(quantize, "int8_parity", parity_fails)
    with pytest.raises(RuntimeError, match="out of memory"):
        quantize_bundle(bundle, _windows(manifest, ROWS, 5), "second", _windows(manifest, 20, 1))
    assert _bundle_bytes(bundle) == before  # no staging folder left behind either
    assert load_manifest(bundle, verify=True).int8.calibration_data == "first"  # type: ignore[union-attr]


def test_a_crash_while_replacing_the_int8_files_leaves_a_servable_bundle(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between replacing one int8 file and the next, the bundle must still verify:
    it is then a float-only bundle, and "auto" serves it in fp32."""
    manifest = load_manifest(bundle)
    quantize_bundle(bundle, _windows(manifest, ROWS, 0), "first")
    real_replace = os.replace
    replaced: list[object] = []

    def crash_after_one(source: Path, target: Path) -> None:
        if ".int8." in Path(target).name:
            if replaced:
                raise KeyboardInterrupt
            replaced.append(target)
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", crash_after_one)
    with pytest.raises(KeyboardInterrupt):
        quantize_bundle(bundle, _windows(manifest, ROWS, 5), "second")
    monkeypatch.undo()
    on_disk = load_manifest(bundle, verify=True)
    assert on_disk.int8 is None and not on_disk.has_int8
    assert ModelRuntime.load(bundle, "cpu", 1, precision="auto").precision == "fp32"
    assert not [f for f in bundle.iterdir() if f.name.startswith(".")]


def test_a_killed_runs_staging_folder_is_cleared_by_the_next(bundle: Path) -> None:
    """SIGKILL skips the staging folder's clean-up; it must not ship inside the bundle."""
    leftover = bundle / ".int8-killed"
    leftover.mkdir()
    (leftover / "encoder_torso.int8.onnx").write_bytes(b"half written")
    quantize_bundle(bundle, _windows(load_manifest(bundle), ROWS, 0), "after a kill")
    assert not [f for f in bundle.iterdir() if f.name.startswith(".")]


def test_parity_of_identical_encoders_is_perfect(bundle: Path) -> None:
    """An 'int8' file that is a byte copy of the float one must agree everywhere."""
    manifest = load_manifest(bundle)
    views = []
    hashes = dict(manifest.sha256)
    for view in manifest.views:
        copy = view.encoder_file.replace(".onnx", ".copy.onnx")
        shutil.copy(bundle / view.encoder_file, bundle / copy)
        hashes[copy] = sha256_of(bundle / copy)
        views.append(view.model_copy(update={"encoder_file_int8": copy}))
    record = {"method": "copy", "calibration_data": "none", "calibration_windows": 1}
    twin = Manifest.model_validate(
        manifest.model_dump() | {"views": views, "sha256": hashes, "int8": record}
    )
    write_manifest(bundle, twin)
    parity = int8_parity(bundle, twin, _windows(manifest, 30, seed=2))
    assert parity["argmax_agreement_all_views"] == 1.0
    assert parity["argmax_agreement_single_view_mean"] == 1.0
    assert parity["max_probability_diff_all_views"] == 0.0


def test_the_runtime_serves_the_int8_encoders(bundle: Path) -> None:
    manifest = quantize_bundle(bundle, _windows(load_manifest(bundle), ROWS, 0), "random")
    fp32 = ModelRuntime.load(bundle, "cpu", 1, precision="fp32")
    int8 = ModelRuntime.load(bundle, "cpu", 1, precision="auto")
    assert (fp32.precision, int8.precision) == ("fp32", "int8")
    view_files = {v.name: (v.encoder_file, v.encoder_file_int8) for v in manifest.views}
    assert {n: s.file for n, s in fp32._encoders.items()} == {
        n: f for n, (f, _) in view_files.items()
    }
    assert {n: s.file for n, s in int8._encoders.items()} == {
        n: q for n, (_, q) in view_files.items()
    }
    view = manifest.views[0]
    windows = _windows(manifest, 8, seed=3)[view.name]
    quantised, reference = int8.encode(view.name, windows), fp32.encode(view.name, windows)
    assert quantised.shape == reference.shape == (8, manifest.embedding_dim)
    # MagNorm'd: every embedding on the sphere of radius sqrt(D), whatever the precision.
    norms = np.linalg.norm(quantised, axis=1)
    np.testing.assert_allclose(norms, np.sqrt(manifest.embedding_dim), rtol=1e-3)


def test_the_model_card_gets_one_int8_section_from_the_record(bundle: Path) -> None:
    (bundle / "MODEL_CARD.md").write_text("# Model card\n\n## Limitations\nFew subjects.\n")
    manifest = load_manifest(bundle)
    quantize_bundle(bundle, _windows(manifest, ROWS, 0), "first", _windows(manifest, 20, 1))
    quantize_bundle(
        bundle, _windows(manifest, ROWS, 0), "second", _windows(manifest, 20, 1), "held out"
    )
    card = (bundle / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card\n\n## Limitations\nFew subjects.\n\n## Int8 encoders")
    assert card.count("## Int8 encoders") == 1
    assert "second" in card and "first" not in card
    assert "on 20 held-out windows (held out)" in card


def test_views_sharing_an_encoder_share_its_int8_copy(tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "shared", shared_encoder=True)
    manifest = quantize_bundle(bundle, _windows(load_manifest(bundle), ROWS, 0), "random")
    assert len({v.encoder_file for v in manifest.views}) == 1
    assert len({v.encoder_file_int8 for v in manifest.views}) == 1
    assert manifest.int8 is not None and manifest.int8.calibration_windows == ROWS
    assert load_manifest(bundle, verify=True) == manifest
