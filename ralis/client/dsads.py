"""The UCI Daily and Sports Activities (DSADS) layout and a recording reader: the one copy.

B. Barshan and K. Altun (2010), https://doi.org/10.24432/C5C59F (CC BY 4.0). Each subject did
each activity for 5 minutes, released as 60 consecutive 5 s segments of 125 rows x 45 columns:
5 body-worn units x (acc, gyro, mag) x (x, y, z). `training/data/dsads.py` builds its dataset on
these constants; `ralis replay`, the live page's recording, `bench/` and `.ci/` read recordings
with `read_recording`. Torch-free: numpy only.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE_HZ = 25.0
SEGMENTS = 60  # 5 s segments per subject and activity, consecutive
SEGMENT_ROWS = 125  # 5 s at 25 Hz
COLUMNS = 45  # 5 units x (acc, gyro, mag) x (x, y, z)
SUBJECTS = tuple(range(1, 9))

# Folder a01..a19 -> activity: the class names of models trained on DSADS.
ACTIVITIES = (
    "sitting",  # a01
    "standing",
    "lying_back",
    "lying_right",
    "ascending_stairs",  # a05
    "descending_stairs",
    "standing_elevator",
    "moving_elevator",
    "walking_parking_lot",
    "walking_treadmill_flat",  # a10
    "walking_treadmill_inclined",
    "running_treadmill",
    "stepper",
    "cross_trainer",
    "cycling_horizontal",  # a15
    "cycling_vertical",
    "rowing",
    "jumping",
    "basketball",  # a19
)

# Each unit has 9 columns: acc xyz, gyro xyz, mag xyz.
POSITIONS = ("torso", "right_arm", "left_arm", "right_leg", "left_leg")
SENSORS = ("acc", "gyro", "mag")
AXES = ("x", "y", "z")
UNIT_COLUMNS = len(SENSORS) * len(AXES)


def column(position: str, sensor: str, axis: str) -> int:
    """0-based column of one channel, e.g. `column("left_leg", "acc", "z") == 38`."""
    return (
        UNIT_COLUMNS * POSITIONS.index(position)
        + len(AXES) * SENSORS.index(sensor)
        + AXES.index(axis)
    )


def channel_column(channel: str) -> int | None:
    """Column of a channel named `<position>_<sensor>_<axis>` (e.g. `left_leg_acc_z`)."""
    parts = channel.rsplit("_", 2)
    if len(parts) != 3:
        return None
    position, sensor, axis = parts
    if position not in POSITIONS or sensor not in SENSORS or axis not in AXES:
        return None
    return column(position, sensor, axis)


def view_columns(view: str, modality: str, channels: list[str]) -> list[int] | None:
    """DSADS columns of a model view, from its channel names or else its name and modality."""
    by_name = [channel_column(c) for c in channels]
    if all(c is not None for c in by_name):
        return [c for c in by_name if c is not None]
    position = view.split("_acc")[0].split("_gyro")[0].split("_mag")[0]
    if position not in POSITIONS:
        return None
    first = UNIT_COLUMNS * POSITIONS.index(position)
    offset = {"acc": 0, "gyro": 3, "mag": 6, "imu": 0}.get(modality)
    if offset is None or offset + len(channels) > UNIT_COLUMNS:
        return None
    return list(range(first + offset, first + offset + len(channels)))


def member_name(activity: int, subject: int, segment: int) -> str:
    """A segment file's name in the release: `aXX/pY/sZZ.txt` (under `data/` in the zip)."""
    return f"a{activity:02d}/p{subject}/s{segment:02d}.txt"


def read_recording(
    source: Path, activity: int, subject: int, segments: int = SEGMENTS, complete: bool = True
) -> npt.NDArray[np.float64]:
    """One subject doing one activity: (125 * n, 45), its first segments re-joined in order.

    `source` is the dataset zip or a folder holding `data/aXX/pY/sZZ.txt` (or `aXX/...`).
    Reads `segments` segments (all 60, 5 minutes, by default); with `complete=False` a
    missing segment ends the recording there (a subset of the release), possibly with 0 rows.
    """
    if not 1 <= activity <= len(ACTIVITIES) or subject not in SUBJECTS:
        raise ValueError(
            f"activity {activity} / subject {subject}: DSADS has activities 1-19, subjects 1-8"
        )
    if not 1 <= segments <= SEGMENTS:
        raise ValueError(f"segments {segments}: DSADS has 1-{SEGMENTS} per recording")
    names = [member_name(activity, subject, s) for s in range(1, segments + 1)]
    texts: list[bytes] = []
    if source.is_dir():
        root = source / "data" if (source / "data").is_dir() else source
        for name in names:
            if not complete and not (root / name).is_file():
                break
            texts.append((root / name).read_bytes())
    else:
        with zipfile.ZipFile(source) as archive:
            members = set(archive.namelist())
            prefix = "data/" if any(m.startswith("data/") for m in members) else ""
            for name in names:
                if not complete and prefix + name not in members:
                    break
                texts.append(archive.read(prefix + name))
    parsed = [np.loadtxt(io.BytesIO(text), delimiter=",", ndmin=2) for text in texts]
    for name, segment in zip(names, parsed, strict=False):
        if segment.shape != (SEGMENT_ROWS, COLUMNS):
            raise ValueError(
                f"{source}: {name} has shape {segment.shape}; expected ({SEGMENT_ROWS}, {COLUMNS})"
            )
    if not parsed:
        return np.zeros((0, COLUMNS))
    return np.concatenate(parsed)
