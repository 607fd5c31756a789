"""Classification metrics in numpy (no scikit-learn needed for three formulas)."""

from __future__ import annotations

import statistics

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


def bootstrap_macro_f1_gain(
    y_true: npt.NDArray[np.integer],
    y_new: npt.NDArray[np.integer],
    y_old: npt.NDArray[np.integer],
    num_classes: int,
    resamples: int = 1000,
    seed: int = 0,
) -> npt.NDArray[np.float64]:
    """Paired bootstrap of macro-F1(new) - macro-F1(old): both predictions scored on the same
    resampled windows, `resamples` times. Its spread says whether a gain is more than the
    luck of which windows were drawn."""
    rng = np.random.default_rng(seed)
    n = len(y_true)
    gains = np.empty(resamples)
    for i in range(resamples):
        rows = rng.integers(0, n, n)
        gains[i] = macro_f1(y_true[rows], y_new[rows], num_classes) - macro_f1(
            y_true[rows], y_old[rows], num_classes
        )
    return gains


def mean_std(values: list[float], one_value_suffix: str = "") -> str:
    """Scores over seeds as "mean ± std" (2 decimals); one score as itself plus the suffix,
    since a single seed has no spread; "-" for none."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}{one_value_suffix}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"
