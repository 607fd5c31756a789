from __future__ import annotations

import json

import numpy as np
import pytest

from tests.training.data.synthetic import make_dataset
from training.data.dataset import DatasetError
from training.data.normalize import STD_FLOOR, Normalizer


def shifted_dataset():  # type: ignore[no-untyped-def]
    data = make_dataset(n=60)
    data.x["a"] = data.x["a"] * np.float32(3.0) + np.array([10, -5, 0], dtype=np.float32)
    return data


def test_fit_uses_only_present_samples() -> None:
    data = shifted_dataset()
    data.mask[:10, 0] = False
    data.x["a"][:10] = 1e6  # absent windows must not move the statistics
    data.x["a"][10:12] = np.nan
    data.mask[10:12, 0] = False
    norm = Normalizer.fit(data)
    present = data.x["a"][12:].reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(norm.mean["a"], present.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(norm.std["a"], present.std(axis=0), rtol=1e-5)
    assert norm.mean["a"].dtype == np.float32 and norm.mean["b"].shape == (9,)


def test_apply_standardises_and_keeps_the_input() -> None:
    data = shifted_dataset()
    original = data.x["a"].copy()
    normed = Normalizer.fit(data).apply(data)
    flat = normed.x["a"].reshape(-1, 3)
    np.testing.assert_allclose(flat.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(flat.std(axis=0), 1.0, atol=1e-4)
    assert normed.x["a"].dtype == np.float32
    np.testing.assert_array_equal(data.x["a"], original)
    np.testing.assert_array_equal(normed.y, data.y)
    normed.validate()


def test_constant_channel_is_floored() -> None:
    data = make_dataset()
    data.x["a"][:, :, 1] = 4.0
    norm = Normalizer.fit(data)
    assert norm.std["a"][1] == np.float32(STD_FLOOR)
    assert np.isfinite(norm.apply(data).x["a"]).all()


def test_dict_round_trip_is_json_ready() -> None:
    norm = Normalizer.fit(shifted_dataset())
    encoded = json.loads(json.dumps(norm.to_dict()))
    assert set(encoded) == {"a", "b"} and set(encoded["a"]) == {"mean", "std"}
    restored = Normalizer.from_dict(encoded)
    for name in ("a", "b"):
        np.testing.assert_array_equal(restored.mean[name], norm.mean[name])
        np.testing.assert_array_equal(restored.std[name], norm.std[name])


def test_errors() -> None:
    data = make_dataset()
    data.mask[:, 1] = False
    with pytest.raises(DatasetError, match="view 'b' is never present"):
        Normalizer.fit(data)
    only_a = Normalizer.from_dict({"a": {"mean": [0, 0, 0], "std": [1, 1, 1]}})
    with pytest.raises(DatasetError, match=r"no normalisation statistics for views \['b'\]"):
        only_a.apply(make_dataset())
    with pytest.raises(DatasetError, match="has 9 channels; the normaliser was fitted on 3"):
        only_a.apply_view("a", np.zeros((2, 5, 9), dtype=np.float32))
    with pytest.raises(DatasetError, match="equal-length"):
        Normalizer.from_dict({"a": {"mean": [0, 0], "std": [1]}})
    with pytest.raises(DatasetError, match="must be positive"):
        Normalizer.from_dict({"a": {"mean": [0], "std": [0]}})
    with pytest.raises(DatasetError, match="expected keys 'mean' and 'std'"):
        Normalizer.from_dict({"a": {"mu": [0], "std": [1]}})


def test_pose_views_get_the_identity() -> None:
    data = make_dataset(n=6, views=(("arm", "acc", 3, 20), ("body", "pose3d", 9, 20)))
    normalizer = Normalizer.fit(data)
    np.testing.assert_array_equal(normalizer.mean["body"], np.zeros(9))
    np.testing.assert_array_equal(normalizer.std["body"], np.ones(9))
    assert not np.all(normalizer.mean["arm"] == 0)
