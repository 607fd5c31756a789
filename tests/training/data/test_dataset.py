from __future__ import annotations

import numpy as np
import pytest

from tests.training.data.synthetic import make_dataset
from training.data.dataset import DatasetError, ViewInfo
from training.data.windowing import num_windows, seconds_to_samples, sliding_windows


def test_synthetic_dataset_is_valid() -> None:
    data = make_dataset()
    data.validate()
    assert len(data) == 40 and data.view_names == ["a", "b"] and data.num_views == 2


def test_subset_by_boolean_and_integer_index() -> None:
    data = make_dataset()
    chosen = data.subject == 2
    by_mask = data.subset(chosen)
    by_index = data.subset(np.flatnonzero(chosen))
    assert len(by_mask) == len(by_index) == int(chosen.sum())
    np.testing.assert_array_equal(by_mask.x["b"], data.x["b"][chosen])
    np.testing.assert_array_equal(by_index.y, data.y[chosen])
    assert set(by_mask.subject.tolist()) == {2}
    assert len(data.subset(np.array([], dtype=np.int64))) == 0
    assert len(data.subset(np.array([]))) == 0
    by_mask.validate()
    with pytest.raises(DatasetError, match="boolean subset index has shape"):
        data.subset(np.ones(3, dtype=bool))
    with pytest.raises(DatasetError, match="boolean or integer"):
        data.subset(np.array([0.5]))


def test_with_mask_replaces_only_the_mask() -> None:
    data = make_dataset()
    mask = data.mask.copy()
    mask[0, 1] = False
    masked = data.with_mask(mask)
    assert not masked.mask[0, 1] and data.mask[0, 1]
    assert masked.x["a"] is data.x["a"]
    with pytest.raises(DatasetError, match="mask must be bool of shape"):
        data.with_mask(mask[:, :1])
    with pytest.raises(DatasetError, match="mask must be bool"):
        data.with_mask(mask.astype(int))


def test_validate_accepts_nan_only_where_the_view_is_absent() -> None:
    data = make_dataset()
    data.x["a"][3, 5, 1] = np.nan
    with pytest.raises(DatasetError, match=r"x\['a'\] has NaN .* \(first: sample 3\)"):
        data.validate()
    data.mask[3, 0] = False
    data.validate()


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda d: setattr(d, "y", d.y.astype(np.int32)), "y must be int64"),
        (lambda d: setattr(d, "y", d.y[:-1]), r"sample counts differ: y 39, subject 40, mask 40"),
        (lambda d: d.y.__setitem__(0, 3), "labels y must be -1"),
        (lambda d: d.y.__setitem__(0, -2), "labels y must be -1"),
        (lambda d: setattr(d, "subject", d.subject[:5]), "sample counts differ: y 40, subject 5"),
        (lambda d: setattr(d, "mask", d.mask[:, :1]), "mask must be bool of shape"),
        (lambda d: d.x.__setitem__("a", d.x["a"].astype(np.float64)), "expected float32"),
        (lambda d: d.x.__setitem__("a", d.x["a"][:, :, :2]), r"expected \(N=40, T, C=3\)"),
        (lambda d: d.x.__setitem__("a", d.x["a"][:7]), r"x\['a'\] 7, x\['b'\] 40"),
        (lambda d: d.x.pop("b"), "x has arrays for"),
        (lambda d: setattr(d, "class_names", []), "class_names is empty"),
        (lambda d: d.views.append(d.views[0]), "duplicate view names"),
    ],
)
def test_validate_names_the_problem(corrupt: object, message: str) -> None:
    data = make_dataset()
    corrupt(data)  # type: ignore[operator]
    with pytest.raises(DatasetError, match=message):
        data.validate()


def test_unlabelled_samples_are_valid() -> None:
    data = make_dataset()
    data.y[:5] = -1
    data.validate()


def test_view_info_checks_name_modality_and_channels() -> None:
    ViewInfo("cam", "pose3d", tuple(f"c{i}" for i in range(51)), 30.0)
    with pytest.raises(DatasetError, match="unknown modality 'video'; known: acc, gyro"):
        ViewInfo("cam", "video", ("a",), 30.0)
    with pytest.raises(DatasetError, match="not divisible by 2"):
        ViewInfo("cam", "pose2d", ("a", "b", "c"), 30.0)
    with pytest.raises(DatasetError, match="multiple of 3 channels"):
        ViewInfo("wrist", "imu", ("a", "b"), 30.0)
    with pytest.raises(DatasetError, match="view name 'left wrist' is not accepted"):
        ViewInfo("left wrist", "acc", ("x", "y", "z"), 30.0)
    with pytest.raises(DatasetError, match="sampling_rate_hz must be positive"):
        ViewInfo("wrist", "acc", ("x", "y", "z"), 0.0)


def test_windowing_helpers() -> None:
    assert seconds_to_samples(4.0, 25.0, "w") == 100
    assert seconds_to_samples(0.04, 25.0, "w") == 1
    with pytest.raises(ValueError, match="w=0.05 s is 1.25 samples at 25 Hz; use a multiple"):
        seconds_to_samples(0.05, 25.0, "w")
    with pytest.raises(ValueError, match="must be positive"):
        seconds_to_samples(-1.0, 25.0, "w")
    assert num_windows(500, 100, 50) == 9 and num_windows(99, 100, 50) == 0
    recording = np.arange(20, dtype=np.float32).reshape(10, 2)
    windows = sliding_windows(recording, 4, 3)
    assert windows.shape == (3, 4, 2)
    np.testing.assert_array_equal(windows[2], recording[6:10])
    assert sliding_windows(recording, 11, 1).shape == (0, 11, 2)
