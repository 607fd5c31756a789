"""Training windows that show the fusion a random subset of their views.

With complete training data the fusion only ever sees all views together, yet it is tested
on every subset of 1, 3 and 5 views (the paper's Table 3). Masking some views of some
training windows lets the fusion and its attention learn those subsets; the views are
masked, never filled in, as everywhere in RALIS. A RALIS recipe option, not in the paper.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Mask = npt.NDArray[np.bool_]


def keep_random_view_subsets(mask: Mask, probability: float, rng: np.random.Generator) -> Mask:
    """A copy of the (B, V) availability `mask` in which each window, with `probability`,
    keeps only a random subset of its present views: a size drawn uniformly from 1 to the
    number present, then that many of them uniformly. Other windows are unchanged.

    `probability` 0 returns `mask` itself and draws no random numbers, so that runs without
    this option reproduce exactly.
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must lie in [0, 1], got {probability}")
    if probability == 0.0:
        return mask
    out = mask.copy()
    chosen = rng.random(mask.shape[0]) < probability
    for row in np.flatnonzero(chosen):
        present = np.flatnonzero(mask[row])
        if present.size < 2:
            continue  # one view (or none) has no smaller subset
        size = int(rng.integers(1, present.size + 1))
        out[row] = False
        out[row, rng.choice(present, size=size, replace=False)] = True
    return out
