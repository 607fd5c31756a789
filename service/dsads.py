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

# Folder a01..a19 -> activity, named as training/data/dsads.py names the classes.
ACTIVITIES = (
    "sitting",
    "standing",
    "lying_back",
    "lying_right",
    "ascending_stairs",
    "descending_stairs",
    "standing_elevator",
    "moving_elevator",
    "walking_parking_lot",
    "walking_treadmill_flat",
    "walking_treadmill_inclined",
    "running_treadmill",
    "stepper",
    "cross_trainer",
    "cycling_horizontal",
    "cycling_vertical",
    "rowing",
    "jumping",
    "basketball",
)

# Each unit has 9 columns: acc xyz, gyro xyz, mag xyz.
POSITIONS = ("torso", "right_arm", "left_arm", "right_leg", "left_leg")
SENSORS = ("acc", "gyro", "mag")
AXES = ("x", "y", "z")


def channel_column(channel: str) -> int | None:
    """Column of a channel named `<position>_<sensor>_<axis>` (e.g. `left_leg_acc_z`)."""
    parts = channel.rsplit("_", 2)
    if len(parts) != 3:
        return None
    position, sensor, axis = parts
    if position not in POSITIONS or sensor not in SENSORS or axis not in AXES:
        return None
    return 9 * POSITIONS.index(position) + 3 * SENSORS.index(sensor) + AXES.index(axis)


def view_columns(view: str, modality: str, channels: list[str]) -> list[int] | None:
    """DSADS columns of a model view, from its channel names or else its name and modality."""
    by_name = [channel_column(c) for c in channels]
    if all(c is not None for c in by_name):
        return [c for c in by_name if c is not None]
    position = view.split("_acc")[0].split("_gyro")[0].split("_mag")[0]
    if position not in POSITIONS:
        return None
    first = 9 * POSITIONS.index(position)
    offset = {"acc": 0, "gyro": 3, "mag": 6, "imu": 0}.get(modality)
    if offset is None or offset + len(channels) > 9:
        return None
    return list(range(first + offset, first + offset + len(channels)))


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
