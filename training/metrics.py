"""Classification metrics in numpy (no scikit-learn needed for three formulas)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def confusion_matrix(
    y_true: npt.NDArray[np.integer], y_pred: npt.NDArray[np.integer], num_classes: int
) -> npt.NDArray[np.int64]:
    """`(K, K)` counts, rows = true class, columns = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def macro_f1(
    y_true: npt.NDArray[np.integer], y_pred: npt.NDArray[np.integer], num_classes: int
) -> float:
    """Unweighted mean of per-class F1 over the classes present in `y_true` or `y_pred`."""
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    denominator = support + predicted
    seen = denominator > 0
    f1 = np.where(seen, 2 * tp / np.maximum(denominator, 1), 0.0)
    return float(f1[seen].mean()) if seen.any() else 0.0


def accuracy(y_true: npt.NDArray[np.integer], y_pred: npt.NDArray[np.integer]) -> float:
    return float((y_true == y_pred).mean()) if len(y_true) else 0.0
