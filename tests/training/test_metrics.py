"""Macro-F1 and the confusion matrix on hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import accuracy, confusion_matrix, macro_f1


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
