"""The bundle contract: the shipped default bundle validates, bad manifests are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from ralis.bundle import BundleError, Manifest, load_manifest, sha256_of

DEFAULT_BUNDLE = Path(__file__).resolve().parents[2] / "service" / "default_bundle"


def test_default_bundle_validates_and_matches_its_hashes() -> None:
    manifest = load_manifest(DEFAULT_BUNDLE, verify=True)
    assert manifest.view_names == ["torso", "right_arm", "left_arm", "right_leg", "left_leg"]
    assert len(manifest.classes) == 19
    assert manifest.window_seconds == 4.0
    assert all(v.window_samples == 100 and v.sampling_rate_hz == 25.0 for v in manifest.views)
    assert {"test_macro_f1_1_view", "test_macro_f1_5_views"} <= set(manifest.metrics)
    size = sum(f.stat().st_size for f in DEFAULT_BUNDLE.iterdir())
    assert size < 20 * 1024 * 1024


def test_default_manifest_validates_against_the_json_schema() -> None:
    schema = Manifest.model_json_schema()
    jsonschema.validate(json.loads((DEFAULT_BUNDLE / "manifest.json").read_text()), schema)


def _copy(tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE, copy)
    return copy


def test_missing_file_is_named(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    (copy / "encoder_torso.onnx").unlink()
    with pytest.raises(BundleError, match="encoder_torso.onnx: listed in the manifest but missing"):
        load_manifest(copy)


def test_unsupported_format_version_is_refused(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = 99
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="format_version 99 is not supported"):
        load_manifest(copy, verify=False)


def test_unhashed_file_reference_is_refused(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["sha256"]["head.onnx"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"files without a sha256 entry: \['head.onnx'\]"):
        load_manifest(copy, verify=False)


def test_not_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="invalid manifest"):
        load_manifest(tmp_path)


def test_sha256_of_known_bytes(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"abc")
    assert sha256_of(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def _with_int8_on(copy: Path, views: list[str], record: bool) -> None:
    """Point `views` at an int8 copy of their encoder; `record`: add the calibration record."""
    manifest = json.loads((copy / "manifest.json").read_text())
    for view in manifest["views"]:
        if view["name"] in views:
            int8 = view["encoder_file"].replace(".onnx", ".int8.onnx")
            if not (copy / int8).exists():
                shutil.copy(copy / view["encoder_file"], copy / int8)
            view["encoder_file_int8"] = int8
            manifest["sha256"][int8] = sha256_of(copy / int8)
    manifest["int8"] = (
        {"method": "test", "calibration_data": "test", "calibration_windows": 1} if record else None
    )
    (copy / "manifest.json").write_text(json.dumps(manifest))


def _strip_int8(copy: Path) -> None:
    manifest = json.loads((copy / "manifest.json").read_text())
    for view in manifest["views"]:
        view["encoder_file_int8"] = None
    manifest["int8"] = None
    manifest["sha256"] = {k: v for k, v in manifest["sha256"].items() if ".int8." not in k}
    (copy / "manifest.json").write_text(json.dumps(manifest))


def test_int8_encoders_for_every_view_are_accepted(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    _strip_int8(copy)
    _with_int8_on(copy, ["torso", "right_arm", "left_arm", "right_leg", "left_leg"], record=True)
    manifest = load_manifest(copy)
    assert manifest.has_int8
    assert manifest.encoder_file(manifest.views[0], "int8") == "encoder_torso.int8.onnx"
    assert manifest.encoder_file(manifest.views[0], "fp32") == "encoder_torso.onnx"


def test_int8_encoders_on_some_views_only_are_refused(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    _strip_int8(copy)
    _with_int8_on(copy, ["torso"], record=True)
    with pytest.raises(BundleError, match=r"int8 encoders must come for every view"):
        load_manifest(copy)


def test_int8_encoders_without_their_calibration_record_are_refused(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    _strip_int8(copy)
    _with_int8_on(copy, ["torso", "right_arm", "left_arm", "right_leg", "left_leg"], record=False)
    with pytest.raises(BundleError, match=r"record: absent"):
        load_manifest(copy)


def test_asking_a_float_only_bundle_for_int8_names_the_remedy(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    _strip_int8(copy)
    manifest = load_manifest(copy)
    assert not manifest.has_int8
    with pytest.raises(BundleError, match=r"no int8 encoders .*training.quantize"):
        manifest.encoder_file(manifest.views[0], "int8")
