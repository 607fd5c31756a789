"""Modalities a view can have and what each implies about its channel layout."""

from __future__ import annotations

import re
from typing import get_args

from ralis.bundle import Modality

MODALITIES: tuple[str, ...] = get_args(Modality)

# Modalities whose channels are consecutive (x, y, z) triplets of one rigid sensor unit.
TRIPLET_MODALITIES: frozenset[str] = frozenset({"acc", "gyro", "mag", "imu"})

# Pose modalities: coordinates per joint; channels are joint-major (j0x, j0y[, j0z], j1x, ...).
POSE_DIMS: dict[str, int] = {"pose2d": 2, "pose3d": 3}

_VIEW_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def view_problem(name: str, modality: str, num_channels: int) -> str | None:
    """Describe why a view's name, modality or channel count is invalid; None if it is fine."""
    if not _VIEW_NAME.match(name):
        return (
            f"view name {name!r} is not accepted; use letters, digits, '_' and '-' "
            "(starting with a letter or digit)"
        )
    if modality not in MODALITIES:
        return f"view '{name}': unknown modality {modality!r}; known: {', '.join(MODALITIES)}"
    if num_channels < 1:
        return f"view '{name}': needs at least one channel"
    if modality in TRIPLET_MODALITIES and num_channels % 3 != 0:
        return (
            f"view '{name}': modality '{modality}' needs a multiple of 3 channels "
            f"(x, y, z per sensor), got {num_channels}"
        )
    if modality in POSE_DIMS and num_channels % POSE_DIMS[modality] != 0:
        dims = POSE_DIMS[modality]
        return (
            f"view '{name}': modality '{modality}' needs joints x {dims} channels "
            f"(joint-major), got {num_channels}, which is not divisible by {dims}"
        )
    return None
