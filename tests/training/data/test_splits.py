from __future__ import annotations

import numpy as np
import pytest

from tests.training.data.synthetic import make_dataset
from training.data.splits import split_by_subject


def test_default_split_is_the_papers_3_2_3() -> None:
    data = make_dataset(n=80, subjects=range(1, 9))
    train, val, test = split_by_subject(data)
    assert set(train.subject.tolist()) == {1, 2, 3}
    assert set(val.subject.tolist()) == {4, 5}
    assert set(test.subject.tolist()) == {6, 7, 8}
    assert len(train) + len(val) + len(test) == len(data)
    np.testing.assert_array_equal(train.x["a"], data.x["a"][np.isin(data.subject, [1, 2, 3])])


def test_explicit_subjects_and_left_out_ones() -> None:
    data = make_dataset(n=30, subjects=(10, 20, 30))
    train, val, test = split_by_subject(data, train=[10], val=[], test=[30])
    assert set(train.subject.tolist()) == {10} and len(val) == 0
    assert set(test.subject.tolist()) == {30}
    assert len(train) + len(test) == 20  # subject 20 is in no split


def test_split_errors() -> None:
    data = make_dataset(n=30, subjects=(1, 2, 3))
    with pytest.raises(ValueError, match=r"subjects \[2\] are in more than one split"):
        split_by_subject(data, train=[1, 2], val=[2], test=[3])
    with pytest.raises(ValueError, match=r"subjects \[4, 5, 6, 7, 8\] have no samples"):
        split_by_subject(data)


def test_validation_may_repeat_training_subjects_only_when_allowed_and_test_never() -> None:
    data = make_dataset(n=30, subjects=(1, 2, 3))
    train, val, test = split_by_subject(
        data, train=[1, 2], val=[2], test=[3], val_may_overlap_train=True
    )
    assert set(train.subject.tolist()) == {1, 2} and set(val.subject.tolist()) == {2}
    assert set(test.subject.tolist()) == {3}
    with pytest.raises(ValueError, match=r"subjects \[3\] are in more than one split"):
        split_by_subject(data, train=[1, 3], val=[2], test=[3], val_may_overlap_train=True)
    with pytest.raises(ValueError, match=r"subjects \[1\] are in more than one split"):
        split_by_subject(data, train=[1, 1], val=[2], test=[3], val_may_overlap_train=True)
