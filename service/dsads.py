"""A tiny reader for the UCI Daily and Sports Activities (DSADS) recordings (zip or folder)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE_HZ = 25.0
SEGMENTS = 60  # 5 s segments per subject and activity, consecutive
SEGMENT_ROWS = 125
COLUMNS = 45
SUBJECTS = range(1, 9)

# Folder a01..a19 -> activity, from the dataset's documentation.
ACTIVITIES = (
    "sitting",
    "standing",
    "lying on back",
    "lying on right side",
    "ascending stairs",
    "descending stairs",
    "standing in an elevator",
    "moving around in an elevator",
    "walking in a parking lot",
    "walking on a treadmill (flat)",
    "walking on a treadmill (inclined)",
    "running on a treadmill",
    "exercising on a stepper",
    "exercising on a cross trainer",
    "cycling (horizontal)",
    "cycling (vertical)",
    "rowing",
    "jumping",
    "playing basketball",
)

# First column of each unit's 9 columns (acc xyz, gyro xyz, mag xyz).
UNIT_FIRST_COLUMN = {"torso": 0, "right_arm": 9, "left_arm": 18, "right_leg": 27, "left_leg": 36}
MODALITY_OFFSET = {"acc": 0, "gyro": 3, "mag": 6, "imu": 0}


def unit_columns(view: str, modality: str, num_channels: int) -> slice | None:
    """DSADS columns of a model view (e.g. torso acc -> 0:3), or None when it has none."""
    first = UNIT_FIRST_COLUMN.get(view)
    offset = MODALITY_OFFSET.get(modality)
    if first is None or offset is None or offset + num_channels > 9:
        return None
    return slice(first + offset, first + offset + num_channels)


def _member(activity: int, subject: int, segment: int) -> str:
    return f"a{activity:02d}/p{subject}/s{segment:02d}.txt"


def read_recording(source: Path, activity: int, subject: int) -> npt.NDArray[np.float64]:
    """The 5 minutes of one subject doing one activity: (7500, 45), segments re-joined in order.

    `source` is the dataset zip or a folder holding `data/aXX/pY/sZZ.txt` (or `aXX/...`).
    """
    if not 1 <= activity <= len(ACTIVITIES) or subject not in SUBJECTS:
        raise ValueError(
            f"activity {activity} / subject {subject}: DSADS has activities 1-19, subjects 1-8"
        )
    names = [_member(activity, subject, s) for s in range(1, SEGMENTS + 1)]
    if source.is_dir():
        root = source / "data" if (source / "data").is_dir() else source
        texts = [(root / name).read_bytes() for name in names]
    else:
        with zipfile.ZipFile(source) as archive:
            prefix = "data/" if "data/" + names[0] in archive.namelist() else ""
            texts = [archive.read(prefix + name) for name in names]
    segments = [np.loadtxt(io.BytesIO(text), delimiter=",", ndmin=2) for text in texts]
    for name, segment in zip(names, segments, strict=True):
        if segment.shape != (SEGMENT_ROWS, COLUMNS):
            raise ValueError(f"{source}: {name} has shape {segment.shape}; expected (125, 45)")
    return np.concatenate(segments)
