"""Berkeley MHAD loader on 8 real trials (tests/fixtures/berkeley_mhad_subset)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model.pose import PoseNormalize
from training.data.berkeley_mhad import (
    ACC_VIEWS,
    SKELETON_VIEWS,
    is_berkeley_mhad,
    load_berkeley_mhad,
    window_starts,
)
from training.data.dataset import DatasetError
from training.data.normalize import Normalizer

FIXTURE = (
    Path(__file__).resolve().parents[2] / "fixtures" / "berkeley_mhad_subset" / "trials_subset.npz"
)
LENGTHS = [116, 66, 79, 93, 69, 80, 46, 47]  # frames per fixture trial


def test_window_starts_cover_the_trial_end() -> None:
    assert window_starts(116, 60, 15) == [0, 15, 30, 45, 56]
    assert window_starts(60, 60, 15) == [0]
    assert window_starts(46, 60, 15) == [0]  # short trial: one padded window


def test_windows_views_labels_and_trials() -> None:
    data = load_berkeley_mhad(FIXTURE, window_seconds=2.0, hop_seconds=0.5)
    expected = sum(len(window_starts(n, 60, 15)) for n in LENGTHS)
    assert len(data) == expected
    assert data.view_names == [*ACC_VIEWS, *SKELETON_VIEWS]
    assert data.x["left_wrist"].shape == (expected, 60, 3)
    assert data.x["skeleton"].shape == (expected, 60, 48)
    assert data.x["skel_left_arm"].shape == (expected, 60, 15)
    assert data.mask.all()
    assert data.trial is not None
    assert sorted(set(data.trial.tolist())) == list(range(8))
    # Every window of a trial carries that trial's label and subject.
    assert set(data.y[data.trial == 0].tolist()) == {7}
    assert data.class_names[7].startswith("throwing")
    assert set(data.subject.tolist()) == {1, 8}


def test_skeleton_views_lead_with_pelvis_and_neck() -> None:
    data = load_berkeley_mhad(FIXTURE)
    for name in SKELETON_VIEWS:
        view = next(v for v in data.views if v.name == name)
        assert view.channels[:6] == (
            "pelvis_x",
            "pelvis_y",
            "pelvis_z",
            "neck_x",
            "neck_y",
            "neck_z",
        )
        assert (view.root_joint, view.scale_joint, view.vertical_axis) == (0, 1, 2)
    # The README: the pelvis has x = y = 0 in every frame.
    assert np.all(data.x["skeleton"][:, :, :2] == 0)


def test_short_trials_are_padded_with_their_last_frame() -> None:
    data = load_berkeley_mhad(FIXTURE, subjects=[8])
    assert data.trial is not None
    short = data.x["right_wrist"][data.trial == 6][0]  # 46 frames
    np.testing.assert_array_equal(short[46:], np.repeat(short[45:46], 14, axis=0))


def test_subject_filter_and_errors(tmp_path: Path) -> None:
    assert set(load_berkeley_mhad(FIXTURE, subjects=(8,)).subject.tolist()) == {8}
    with pytest.raises(DatasetError, match="no trials"):
        load_berkeley_mhad(FIXTURE, subjects=(5,))
    with pytest.raises(DatasetError, match="unknown Berkeley MHAD views"):
        load_berkeley_mhad(FIXTURE, views=("head",))
    assert is_berkeley_mhad(FIXTURE)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    assert not is_berkeley_mhad(other)


def test_pose_views_are_not_standardised_and_normalise_in_the_model() -> None:
    data = load_berkeley_mhad(FIXTURE)
    normalizer = Normalizer.fit(data)
    np.testing.assert_array_equal(normalizer.mean["skeleton"], 0)
    np.testing.assert_array_equal(normalizer.std["skeleton"], 1)
    assert normalizer.std["left_wrist"].min() > 0.01  # acc views are standardised
    windows = torch.from_numpy(data.x["skeleton"][:4].transpose(0, 2, 1).copy())
    out = PoseNormalize(3, root_joint=0, scale_joint=1)(windows)
    assert torch.all(out[:, :3] == 0)  # the root, centred
    neck = out[:, 3:6].norm(dim=1)  # (B, T) pelvis-neck distance in body scales
    torch.testing.assert_close(neck.mean(dim=1), torch.ones(4), atol=1e-3, rtol=0)
