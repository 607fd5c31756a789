"""The onnxruntime runner: providers, I/O checks, bundle verification, outputs."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from ralis.bundle import BundleError, Manifest, load_manifest, sha256_of, write_manifest
from service.runtime import (
    CPU,
    CUDA,
    ModelRuntime,
    batch_bucket,
    choose_precision,
    choose_providers,
)
from tests.service.bundle_factory import EMBEDDING_DIM, VIEWS, build_bundle


def test_provider_choice() -> None:
    assert choose_providers("cpu", [CUDA, CPU]) == [CPU]
    assert choose_providers("auto", [CUDA, CPU]) == [CUDA, CPU]
    assert choose_providers("cuda", [CUDA, CPU]) == [CUDA, CPU]
    assert choose_providers("auto", [CPU]) == [CPU]


def test_precision_choice(tiny_bundle: Path) -> None:
    float_only = load_manifest(tiny_bundle)
    views = [v.model_copy(update={"encoder_file_int8": v.encoder_file}) for v in float_only.views]
    record = {"method": "test", "calibration_data": "test", "calibration_windows": 1}
    with_int8 = Manifest.model_validate(float_only.model_dump() | {"views": views, "int8": record})
    assert choose_precision("auto", with_int8, CPU) == "int8"
    assert choose_precision("auto", with_int8, CUDA) == "fp32"
    assert choose_precision("auto", float_only, CPU) == "fp32"
    assert choose_precision("fp32", with_int8, CPU) == "fp32"
    assert choose_precision("int8", with_int8, CUDA) == "int8"


def test_int8_asked_of_a_float_only_bundle_is_refused(tiny_bundle: Path) -> None:
    with pytest.raises(BundleError, match="no int8 encoders"):
        ModelRuntime.load(tiny_bundle, "cpu", 1, precision="int8")


def test_cuda_without_gpu_falls_back_to_cpu_with_a_warning(
    tiny_bundle: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert choose_providers("cuda", [CPU]) == [CPU]
    with caplog.at_level(logging.WARNING, logger="service.runtime"):
        runtime = ModelRuntime.load(tiny_bundle, "cuda", 1)
    expected = CUDA if runtime.provider == CUDA else CPU
    assert runtime.provider == expected
    if expected == CPU:
        assert "falling back to CPU" in caplog.text


def test_auto_precision_follows_the_provider_actually_got(
    default_bundle: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """CUDA listed but failing to initialise leaves the sessions on CPU: "auto" must then
    serve the int8 encoders as on any CPU, not the float ones chosen for the request."""
    real_session = ort.InferenceSession

    def cuda_fails(path: str, sess_options: object, providers: list[object]) -> object:
        return real_session(path, sess_options=sess_options, providers=[CPU])

    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", cuda_fails)
    with caplog.at_level(logging.WARNING, logger="service.runtime"):
        runtime = ModelRuntime.load(default_bundle, "cuda", 1, max_batch_size=1)
    assert "CUDA execution provider failed to initialise" in caplog.text
    assert runtime.provider == CPU
    assert runtime.precision == "int8"
    for view in runtime.manifest.views:
        assert runtime._encoders[view.name].file == view.encoder_file_int8


def test_cuda_sessions_run_in_full_fp32(tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TF32 moved probabilities by 0.04 on an H200, and cuDNN's exhaustive search per input
    shape cost seconds of latency: CUDA sessions ask for full FP32 and heuristic choice."""
    requested: list[object] = []
    real_session = ort.InferenceSession

    def recording_session(path: str, sess_options: object, providers: list[object]) -> object:
        requested.append(providers)
        return real_session(path, sess_options=sess_options, providers=[CPU])

    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", recording_session)
    ModelRuntime.load(tiny_bundle, "cuda", 1)
    assert requested
    for providers in requested:
        assert providers == [
            (CUDA, {"use_tf32": "0", "cudnn_conv_algo_search": "HEURISTIC"}),
            CPU,
        ]


def test_batch_buckets_are_the_next_power_of_two() -> None:
    powers = [1, 2, 4, 8, 16, 32, 64, 128]
    for rows in range(1, 129):
        assert batch_bucket(rows) == min(p for p in powers if p >= rows), rows


def test_bucketed_batches_give_the_unpadded_outputs(tiny_bundle: Path) -> None:
    """As on CUDA: a batch of 5 runs as 8 rows; the caller still gets exactly its 5 rows."""
    plain = ModelRuntime.load(tiny_bundle, "cpu", 1)
    bucketed = ModelRuntime.load(tiny_bundle, "cpu", 1)
    bucketed._bucketed = True  # what a CUDA provider sets
    seen_rows: list[int] = []
    real = bucketed._encoders["torso"]

    class SpySession:
        def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            seen_rows.append(next(iter(feeds.values())).shape[0])
            result: list[np.ndarray] = real.session.run(outputs, feeds)
            return result

    bucketed._encoders["torso"] = dataclasses.replace(real, session=SpySession())
    rng = np.random.default_rng(1)
    windows = rng.normal(size=(5, 3, 100)).astype(np.float32)
    embeddings = bucketed.encode("torso", windows)
    assert seen_rows == [8]
    np.testing.assert_allclose(embeddings, plain.encode("torso", windows), rtol=1e-5, atol=1e-5)

    stacked = np.repeat(embeddings[:, None, :], len(VIEWS), axis=1)
    mask = rng.random((5, len(VIEWS))) < 0.5
    mask[:, 0] = True
    ours, reference = bucketed.head(stacked, mask), plain.head(stacked, mask)
    for got, want in zip(ours, reference, strict=True):
        assert got.shape[0] == 5
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_encoder_and_head_outputs(tiny_bundle: Path) -> None:
    runtime = ModelRuntime.load(tiny_bundle, "cpu", 1)
    windows = np.random.default_rng(0).normal(size=(4, 3, 100)).astype(np.float32)
    embeddings = runtime.encode("torso", windows)
    assert embeddings.shape == (4, EMBEDDING_DIM)
    # MagNorm: every embedding has norm sqrt(D).
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), EMBEDDING_DIM**0.5, rtol=1e-5)

    stacked = np.repeat(embeddings[:, None, :], len(VIEWS), axis=1)
    mask = np.zeros((4, len(VIEWS)), dtype=np.bool_)
    mask[:, [0, 4]] = True
    out = runtime.head(stacked, mask)
    assert out.probabilities.shape == (4, 19)
    np.testing.assert_allclose(out.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(out.view_weights[:, 1:4] == 0.0)
    np.testing.assert_allclose(out.view_weights.sum(axis=1), 1.0, rtol=1e-5)


def test_views_sharing_an_encoder_file_share_a_session(tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "shared", shared_encoder=True)
    runtime = ModelRuntime.load(bundle, "cpu", 1)
    window = np.ones((1, 3, 100), dtype=np.float32)
    np.testing.assert_array_equal(
        runtime.encode("torso", window), runtime.encode("left_leg", window)
    )


def test_a_tampered_file_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "tampered"
    shutil.copytree(tiny_bundle, bundle)
    with (bundle / "head.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match=r"head.onnx: SHA-256 mismatch"):
        ModelRuntime.load(bundle, "cpu", 1)


def test_a_missing_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no manifest.json"):
        ModelRuntime.load(tmp_path, "cpu", 1)


def test_an_encoder_that_does_not_match_the_manifest_is_refused(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    # Swap the torso encoder for one expecting another window length, with a correct hash.
    bundle = tmp_path / "mismatch"
    shutil.copytree(tiny_bundle, bundle)
    other = build_bundle(tmp_path / "other", window_samples=50)
    shutil.copy(other / "encoder_torso.onnx", bundle / "encoder_torso.onnx")
    manifest = load_manifest(bundle, verify=False)
    hashes = dict(
        manifest.sha256, **{"encoder_torso.onnx": sha256_of(bundle / "encoder_torso.onnx")}
    )
    write_manifest(bundle, manifest.model_copy(update={"sha256": hashes}))
    with pytest.raises(BundleError, match=r"encoder of view 'torso'.*100 samples"):
        ModelRuntime.load(bundle, "cpu", 1)
