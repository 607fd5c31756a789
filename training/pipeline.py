"""From a training config to normalised train / validation / test datasets."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from training.config import TrainConfig
from training.data.berkeley_mhad import is_berkeley_mhad, load_berkeley_mhad
from training.data.dataset import MultiViewDataset
from training.data.dsads import load_dsads
from training.data.normalize import Normalizer
from training.data.npz import load_npz
from training.data.protocols import DropUnit, Protocol, apply_protocol
from training.data.splits import split_by_subject

log = logging.getLogger(__name__)

# Validation and test views are dropped with fixed seeds so every run sees the same sets.
_EVAL_DROP_SEEDS = {"val": 10_001, "test": 10_002}
# Berkeley MHAD: validation and test windows start every second (training: the config's hop).


@dataclass(frozen=True)
class PreparedData:
    """Normalised splits plus the normaliser fitted on the training split."""

    train: MultiViewDataset
    train_raw: MultiViewDataset  # un-normalised, for augmentation in physical units
    val: MultiViewDataset
    test: MultiViewDataset
    normalizer: Normalizer


def is_npz_source(path: str) -> bool:
    """A bring-your-own `.npz` file (or a folder holding one) rather than DSADS."""
    source = Path(path)
    return source.suffix == ".npz" or (source.is_dir() and any(source.glob("*.npz")))


Split = Literal["train", "val", "test"]


def load_split(config: TrainConfig, split: Split) -> MultiViewDataset:
    """One subject split, un-normalised and with every recorded view present: the one loader
    that training and evaluation share, so both see the same windows of the same data."""
    subjects = {
        "train": config.train_subjects,
        "val": config.val_subjects,
        "test": config.test_subjects,
    }[split]
    # Training windows may overlap (the config's hop); evaluation windows start every second
    # (Berkeley MHAD's short trials) or never overlap (DSADS).
    train_hop = config.train_hop_seconds if split == "train" else None
    if is_berkeley_mhad(config.data):
        hop = train_hop if split == "train" else 1.0
        return load_berkeley_mhad(config.data, subjects, config.window_seconds, hop)
    if is_npz_source(config.data):
        splits = split_by_subject(
            load_npz(config.data),
            config.train_subjects,
            config.val_subjects,
            config.test_subjects,
            val_may_overlap_train=config.validation_is_trained_on,
        )
        return splits[("train", "val", "test").index(split)]
    return load_dsads(
        config.data,
        subjects=subjects,
        hop_seconds=train_hop,
        view_set=config.view_set,
        window_seconds=config.window_seconds,
        activities=config.activities,
        progress=True,
    )


def load_raw_splits(
    config: TrainConfig,
) -> tuple[MultiViewDataset, MultiViewDataset, MultiViewDataset]:
    """Train, validation and test splits, un-normalised (`load_split` each)."""
    return load_split(config, "train"), load_split(config, "val"), load_split(config, "test")


def _drop(
    data: MultiViewDataset, protocol: Protocol, seed: int, unit: DropUnit = "window"
) -> MultiViewDataset:
    return data if protocol == "complete" else apply_protocol(data, protocol, seed, unit=unit)


def prepare_data(config: TrainConfig) -> PreparedData:
    """Load, apply the missing-view protocol, and normalise with training statistics."""
    train, val, test = load_raw_splits(config)
    hop = config.train_hop_seconds
    overlapping = hop is not None and hop < config.window_seconds
    if config.protocol != "complete" and overlapping and config.train_drop_unit == "window":
        # Masks are drawn per window, so overlapping windows uncover each other's "missing"
        # data: results/dsads/tables_hop2.4/README.md (Table 6: +3 points, mostly this).
        log.warning(
            "protocol %r drops views per window, and training windows overlap (hop %g s < "
            "window %g s): a view missing from one window is often present in its neighbour, "
            "so training sees fewer missing views than the protocol's rates "
            "(--train-drop-unit segment draws them per recording segment)",
            config.protocol,
            hop,
            config.window_seconds,
        )
    train = _drop(train, config.protocol, config.seed, config.train_drop_unit)
    eval_protocol = config.resolved_eval_protocol
    val = _drop(val, eval_protocol, _EVAL_DROP_SEEDS["val"])
    test = _drop(test, eval_protocol, _EVAL_DROP_SEEDS["test"])
    normalizer = Normalizer.fit(train)
    log.info(
        "data: train %d, val %d, test %d windows; views %s; present fraction train %s",
        len(train),
        len(val),
        len(test),
        train.view_names,
        np.round(train.mask.mean(axis=0), 3).tolist(),
    )
    return PreparedData(
        normalizer.apply(train), train, normalizer.apply(val), normalizer.apply(test), normalizer
    )


def prepare_test_data(config: TrainConfig, normalizer: Normalizer) -> MultiViewDataset:
    """The test split exactly as training saw it (same loader, same protocol seed), normalised."""
    return prepare_split_data(config, normalizer, "test")


def prepare_split_data(
    config: TrainConfig, normalizer: Normalizer, split: Literal["val", "test"]
) -> MultiViewDataset:
    """The validation or test split exactly as training saw it, normalised."""
    data = _drop(load_split(config, split), config.resolved_eval_protocol, _EVAL_DROP_SEEDS[split])
    return normalizer.apply(data)
