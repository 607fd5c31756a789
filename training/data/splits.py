"""Subject-wise train / validation / test splits (no subject appears in two splits)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.data.dataset import MultiViewDataset

DSADS_DEFAULT_SPLIT = {"train": (1, 2, 3), "val": (4, 5), "test": (6, 7, 8)}  # the paper's 3/2/3


def split_by_subject(
    dataset: MultiViewDataset,
    train: Sequence[int] = DSADS_DEFAULT_SPLIT["train"],
    val: Sequence[int] = DSADS_DEFAULT_SPLIT["val"],
    test: Sequence[int] = DSADS_DEFAULT_SPLIT["test"],
    *,
    val_may_overlap_train: bool = False,
) -> tuple[MultiViewDataset, MultiViewDataset, MultiViewDataset]:
    """The samples of the `train`, `val` and `test` subjects; subjects in none are left out.
    With `val_may_overlap_train` validation may repeat training subjects (it is then a
    monitor only); test subjects are never in another split.

    Raises:
        ValueError: a subject listed twice or absent from the dataset.
    """
    groups = {"train": list(train), "val": list(val), "test": list(test)}
    disjoint = [("train", "test"), ("val", "test")]
    if not val_may_overlap_train:
        disjoint.append(("train", "val"))
    repeated = sorted(
        {s for a, b in disjoint for s in set(groups[a]) & set(groups[b])}
        | {s for group in groups.values() for s in group if group.count(s) > 1}
    )
    listed = [subject for group in groups.values() for subject in group]
    if repeated:
        raise ValueError(f"subjects {repeated} are in more than one split: {groups}")
    available = np.unique(dataset.subject)
    absent = sorted(set(listed) - set(available.tolist()))
    if absent:
        raise ValueError(
            f"subjects {absent} have no samples; the dataset has subjects {available.tolist()}"
        )
    train_set, val_set, test_set = (
        dataset.subset(np.isin(dataset.subject, group)) for group in groups.values()
    )
    return train_set, val_set, test_set
