"""Data layer: loaders (DSADS, bring-your-own .npz), normalisation, augmentation,
missing-view protocols, subject splits and mini-batches, all numpy."""

from training.data.batches import Batch, iterate_batches
from training.data.dataset import DatasetError, MultiViewDataset, ViewInfo
from training.data.dsads import DSADS_ACTIVITIES, DSADS_POSITIONS, load_dsads
from training.data.normalize import Normalizer
from training.data.npz import load_npz, save_npz
from training.data.protocols import (
    DSADS_VIEW_DROP_RATES,
    apply_per_view_drop,
    apply_protocol,
    apply_uniform_drop,
    uniform_drop_probability,
)
from training.data.splits import split_by_subject

__all__ = [
    "DSADS_ACTIVITIES",
    "DSADS_POSITIONS",
    "DSADS_VIEW_DROP_RATES",
    "Batch",
    "DatasetError",
    "MultiViewDataset",
    "Normalizer",
    "ViewInfo",
    "apply_per_view_drop",
    "apply_protocol",
    "apply_uniform_drop",
    "iterate_batches",
    "load_dsads",
    "load_npz",
    "save_npz",
    "split_by_subject",
    "uniform_drop_probability",
]
