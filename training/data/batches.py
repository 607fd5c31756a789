"""Mini-batches as numpy dicts, channel-major for conv1d, absent views zeroed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from training.data.augment import INERTIAL_MAX_ROTATION_DEG, augment_view
from training.data.dataset import MultiViewDataset
from training.data.normalize import Normalizer


class Batch(TypedDict):
    """One mini-batch; the training loop (`training/trainer.py`) turns it into tensors."""

    x: dict[str, npt.NDArray[np.float32]]  # view -> (B, C_v, T_v), zeros where absent
    mask: npt.NDArray[np.bool_]  # (B, V), view order = dataset.views
    y: npt.NDArray[np.int64]  # (B,), -1 = unlabelled
    index: npt.NDArray[np.int64]  # (B,) row of each sample in the dataset


def iterate_batches(
    dataset: MultiViewDataset,
    batch_size: int,
    shuffle: bool,
    rng: np.random.Generator | None,
    augment: bool,
    drop_last: bool = False,
    normalizer: Normalizer | None = None,
    transforms: frozenset[str] | None = None,
    augment_probability: float = 1.0,
    max_rotation_deg: float = INERTIAL_MAX_ROTATION_DEG,
) -> Iterator[Batch]:
    """Yield mini-batches; with `augment`, each present view window is augmented.

    With `augment_probability` p < 1 each present window of each view is augmented with
    probability p and otherwise left as recorded; p = 1 draws no extra random numbers, so
    runs made before the option existed reproduce.

    Pass the un-normalised dataset plus `normalizer` when augmenting, so rotations act on
    physical sensor axes and the statistics are applied afterwards. `transforms`: the
    augmentation subset (see `augment_view`; None = all); `max_rotation_deg` bounds the
    inertial rotations.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not 0.0 <= augment_probability <= 1.0:
        raise ValueError(f"augment_probability must be in [0, 1], got {augment_probability}")
    if (shuffle or augment) and rng is None:
        raise ValueError("shuffle and augment need an rng (np.random.default_rng(seed))")
    order = np.arange(len(dataset))
    if shuffle:
        assert rng is not None
        order = rng.permutation(len(dataset))
    stop = len(order) - len(order) % batch_size if drop_last else len(order)
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        mask = dataset.mask[index]
        x = {}
        for column, view in enumerate(dataset.views):
            windows = dataset.x[view.name][index]  # (B, T, C), a copy
            present = mask[:, column]
            chosen = present if augment else np.zeros_like(present)
            if augment and augment_probability < 1.0:
                assert rng is not None
                chosen = present & (rng.random(len(index)) < augment_probability)
            if chosen.any():
                assert rng is not None
                windows[chosen] = augment_view(
                    windows[chosen],
                    view.modality,
                    rng,
                    transforms=transforms,
                    vertical_axis=view.vertical_axis,
                    max_rotation_deg=max_rotation_deg,
                )
            if normalizer is not None:
                windows = normalizer.apply_view(view.name, windows)
            windows[~present] = 0.0
            x[view.name] = np.ascontiguousarray(windows.transpose(0, 2, 1))  # (B, C, T)
        yield Batch(x=x, mask=mask, y=dataset.y[index], index=index.astype(np.int64))
