"""Macro-F1 and the confusion matrix on hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import (
    accuracy,
    bootstrap_macro_f1_gain,
    confusion_matrix,
    macro_f1,
    mean_std,
)


def test_macro_f1_hand_computed() -> None:
    y_true = np.array([0, 0, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0])
    # class 0: tp 1, support 2, predicted 2 -> 0.5; class 1: tp 2, 2, 3 -> 0.8; class 2: 0
    assert macro_f1(y_true, y_pred, 3) == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_macro_f1_ignores_classes_never_seen_or_predicted() -> None:
    assert macro_f1(np.array([0, 1]), np.array([0, 1]), num_classes=19) == 1.0


def test_confusion_matrix_and_accuracy() -> None:
    matrix = confusion_matrix(np.array([0, 1, 1]), np.array([1, 1, 1]), 2)
    assert matrix.tolist() == [[0, 1], [0, 2]]
    assert accuracy(np.array([0, 1, 1]), np.array([1, 1, 1])) == pytest.approx(2 / 3)


def test_bootstrap_gain_is_zero_for_equal_predictions_and_one_from_all_wrong_to_perfect() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    same = bootstrap_macro_f1_gain(y, y.copy(), y.copy(), 4, resamples=50)
    np.testing.assert_array_equal(same, np.zeros(50))
    # Every resample: macro-F1 1 for the perfect predictions, 0 for the always-wrong ones.
    wrong = (y + 1) % 4
    np.testing.assert_array_equal(bootstrap_macro_f1_gain(y, y, wrong, 4, resamples=50), 1.0)


def test_bootstrap_gain_centres_on_the_full_sample_gain() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 2000)
    better = np.where(rng.random(2000) < 0.8, y, (y + 1) % 3)  # about 80% right
    worse = np.where(rng.random(2000) < 0.7, y, (y + 1) % 3)  # about 70% right
    gains = bootstrap_macro_f1_gain(y, better, worse, 3, resamples=300)
    full = macro_f1(y, better, 3) - macro_f1(y, worse, 3)
    assert abs(gains.mean() - full) < 0.005
    assert np.percentile(gains, 5) > 0  # a 10-point gain on 2,000 windows is no luck


def test_mean_std_reports_the_sample_standard_deviation_over_seeds() -> None:
    # Seeds 1, 2, 3: mean 2, sample variance ((1 + 0 + 1) / (3 - 1)) = 1.
    assert mean_std([1.0, 2.0, 3.0]) == "2.00 ± 1.00"
    assert mean_std([80.5], " (1 seed)") == "80.50 (1 seed)"
    assert mean_std([]) == "-"
