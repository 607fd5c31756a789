"""`training.pipeline`: one loader for training and evaluation, so both see the same data."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tests.training.conftest import tiny_config
from training.data.normalize import Normalizer
from training.pipeline import load_raw_splits, load_split, prepare_data, prepare_test_data


def test_evaluation_sees_the_test_split_that_training_saw() -> None:
    # Once `ralis evaluate` dropped the activity subset and loaded other data (or raised).
    config = tiny_config(activities=(1, 12), protocol="uniform")
    prepared = prepare_data(config)
    test = prepare_test_data(config, prepared.normalizer)
    assert len(test) == len(prepared.test)
    np.testing.assert_array_equal(test.y, prepared.test.y)
    np.testing.assert_array_equal(test.mask, prepared.test.mask)
    for name in test.view_names:
        np.testing.assert_allclose(test.x[name], prepared.test.x[name])
    assert set(np.unique(test.y).tolist()) == {0, 11}  # only activities 1 and 12, as asked


def test_splits_hold_their_subjects_and_training_windows_overlap() -> None:
    config = tiny_config(activities=(1,))
    train, val, test = load_raw_splits(config)
    assert set(np.unique(train.subject)) == {1} and set(np.unique(test.subject)) == {2}
    # 4 s windows: 1 s hop for training, none for evaluation.
    assert len(train) > 3 * len(load_split(config, "val"))
    assert isinstance(Normalizer.fit(train), Normalizer)


def test_overlapping_windows_under_a_missing_view_protocol_are_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # tiny_config trains on 4 s windows with a 1 s hop.
    with caplog.at_level(logging.WARNING, logger="training.pipeline"):
        prepare_data(tiny_config(activities=(1,), protocol="per_view"))
    assert "training windows overlap" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="training.pipeline"):
        prepare_data(tiny_config(activities=(1,)))  # complete data: nothing is missing
    assert "training windows overlap" not in caplog.text


def test_views_dropped_per_segment_need_no_warning_and_match_across_neighbours(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 4 s windows every 1 s over 5 s segments: neighbours share segments, and a view a
    # segment lost is absent from every window over that segment.
    config = tiny_config(activities=(1,), protocol="per_view", train_drop_unit="segment")
    with caplog.at_level(logging.WARNING, logger="training.pipeline"):
        prepared = prepare_data(config)
    assert "training windows overlap" not in caplog.text
    train = prepared.train_raw
    assert train.segments is not None
    checked = 0
    for column in range(train.num_views):
        for segment in np.unique(train.segments):
            over = (train.segments[:, 0] <= segment) & (segment <= train.segments[:, 1])
            inside = over & (train.segments[:, 0] == train.segments[:, 1])
            # A window lying inside one segment shows that segment's draw; a window that
            # also covers it can only have the view where that draw kept it.
            if inside.any() and not train.mask[inside, column].all():
                assert not train.mask[over, column].any()
                checked += 1
    assert checked > 0
