"""Missing-view protocols: which views each sample keeps (paper Sections 5.2-5.4).

- "complete": every view present.
- "uniform": each view of each sample dropped independently with p = 10^(-3/V), so a
  sample loses all V views with probability 10^-3.
- "per_view": each view dropped with its own rate (DSADS rates from the paper).
Samples left with no view at all are removed: there is nothing to classify.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal

import numpy as np
import numpy.typing as npt

from training.data.dataset import MultiViewDataset

logger = logging.getLogger(__name__)

Protocol = Literal["complete", "uniform", "per_view"]
PROTOCOLS: tuple[Protocol, ...] = ("complete", "uniform", "per_view")

DSADS_VIEW_DROP_RATES: dict[str, float] = {
    "torso": 0.64,
    "right_arm": 0.62,
    "left_arm": 0.77,
    "right_leg": 0.24,
    "left_leg": 0.61,
}


def uniform_drop_probability(num_views: int) -> float:
    """10^(-3/V): the per-view drop rate at which all V views vanish with probability 1e-3."""
    if num_views < 1:
        raise ValueError(f"num_views must be at least 1, got {num_views}")
    return float(10.0 ** (-3.0 / num_views))


def apply_uniform_drop(
    dataset: MultiViewDataset, seed: int, p: float | None = None
) -> MultiViewDataset:
    """Drop each view of each sample with probability `p` (default 10^(-3/V))."""
    rate = uniform_drop_probability(dataset.num_views) if p is None else p
    return _drop(dataset, np.full(dataset.num_views, rate), seed)


def apply_per_view_drop(
    dataset: MultiViewDataset, rates: Mapping[str, float], seed: int
) -> MultiViewDataset:
    """Drop each view of each sample with that view's rate; every view needs a rate."""
    missing = [name for name in dataset.view_names if name not in rates]
    if missing:
        raise ValueError(
            f"no drop rate for views {missing}; rates are given for {sorted(rates)}. "
            "The DSADS rates name positions, so they fit the 'acc' and 'imu' view sets."
        )
    return _drop(dataset, np.array([rates[name] for name in dataset.view_names]), seed)


def apply_protocol(
    dataset: MultiViewDataset,
    protocol: Protocol,
    seed: int,
    rates: Mapping[str, float] | None = None,
) -> MultiViewDataset:
    """Apply a named protocol; "per_view" uses `rates` (default DSADS_VIEW_DROP_RATES)."""
    if protocol == "complete":
        return dataset
    if protocol == "uniform":
        return apply_uniform_drop(dataset, seed)
    if protocol == "per_view":
        return apply_per_view_drop(dataset, DSADS_VIEW_DROP_RATES if rates is None else rates, seed)
    raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")


def _drop(dataset: MultiViewDataset, rates: np.ndarray, seed: int) -> MultiViewDataset:
    if ((rates < 0) | (rates > 1)).any():
        raise ValueError(f"drop rates must lie in [0, 1], got {rates.tolist()}")
    rng = np.random.default_rng(seed)
    keep = rng.random((len(dataset), dataset.num_views)) >= rates  # (N, V)
    mask = dataset.mask & keep
    has_view: npt.NDArray[np.bool_] = np.asarray(mask.any(axis=1), dtype=bool)
    logger.info(
        "dropped views at rates %s; removed %d of %d samples left with no view",
        np.round(rates, 3).tolist(),
        int((~has_view).sum()),
        len(dataset),
    )
    return dataset.with_mask(mask).subset(has_view)
