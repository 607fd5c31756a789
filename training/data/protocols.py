"""Missing-view protocols: which views each sample keeps (paper Sections 5.2-5.4).

- "complete": every view present.
- "uniform": each view of each sample dropped independently with p = 10^(-3/V), so a
  sample loses all V views with probability 10^-3.
- "per_view": each view dropped with its own rate (DSADS rates from the paper).
Samples left with no view at all are removed: there is nothing to classify.

Views are dropped per window ("window", the paper's unit), or per recording segment
("segment": each released segment of a recording keeps or loses each view, and a window keeps
a view only if every segment it overlaps keeps it). With overlapping windows the per-window
draw lets a window's neighbours hold the data it "lost"; the per-segment draw does not.
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
DropUnit = Literal["window", "segment"]

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
    dataset: MultiViewDataset, seed: int, p: float | None = None, unit: DropUnit = "window"
) -> MultiViewDataset:
    """Drop each view of each sample with probability `p` (default 10^(-3/V))."""
    rate = uniform_drop_probability(dataset.num_views) if p is None else p
    return _drop(dataset, np.full(dataset.num_views, rate), seed, unit)


def apply_per_view_drop(
    dataset: MultiViewDataset, rates: Mapping[str, float], seed: int, unit: DropUnit = "window"
) -> MultiViewDataset:
    """Drop each view of each sample with that view's rate; every view needs a rate."""
    missing = [name for name in dataset.view_names if name not in rates]
    if missing:
        raise ValueError(
            f"no drop rate for views {missing}; rates are given for {sorted(rates)}. "
            "The DSADS rates name positions, so they fit the 'acc' and 'imu' view sets."
        )
    return _drop(dataset, np.array([rates[name] for name in dataset.view_names]), seed, unit)


def apply_protocol(
    dataset: MultiViewDataset,
    protocol: Protocol,
    seed: int,
    rates: Mapping[str, float] | None = None,
    unit: DropUnit = "window",
) -> MultiViewDataset:
    """Apply a named protocol; "per_view" uses `rates` (default DSADS_VIEW_DROP_RATES)."""
    if protocol == "complete":
        return dataset
    if protocol == "uniform":
        return apply_uniform_drop(dataset, seed, unit=unit)
    if protocol == "per_view":
        chosen = DSADS_VIEW_DROP_RATES if rates is None else rates
        return apply_per_view_drop(dataset, chosen, seed, unit)
    raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")


def _segment_keep(
    segments: npt.NDArray[np.int64], rates: np.ndarray, rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    """(N, V) views each window keeps: those that every segment it overlaps keeps."""
    kept_by_segment = rng.random((int(segments.max()) + 1, len(rates))) >= rates
    first, last = segments[:, 0], segments[:, 1]
    keep = kept_by_segment[first]
    for offset in range(1, int((last - first).max()) + 1):
        keep = keep & kept_by_segment[np.minimum(first + offset, last)]
    return keep


def _drop(
    dataset: MultiViewDataset, rates: np.ndarray, seed: int, unit: DropUnit = "window"
) -> MultiViewDataset:
    if ((rates < 0) | (rates > 1)).any():
        raise ValueError(f"drop rates must lie in [0, 1], got {rates.tolist()}")
    rng = np.random.default_rng(seed)
    if unit == "segment":
        if dataset.segments is None:
            raise ValueError(
                "views can be dropped per segment only where the loader knows each window's "
                "recording segments (DSADS); this dataset does not"
            )
        keep = _segment_keep(dataset.segments, rates, rng) if len(dataset) else dataset.mask
    else:
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
