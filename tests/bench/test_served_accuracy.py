"""bench.served_accuracy: how recordings become labelled windows per sensor."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.served_accuracy import load_windows
from ralis.client.dsads import ACTIVITIES, COLUMNS, SEGMENT_ROWS, column, member_name


def _write_release(root: Path, subject: int) -> None:
    """One 5 s segment per activity; every value is its column index + 1000 x activity."""
    for activity in range(1, len(ACTIVITIES) + 1):
        path = root / "data" / member_name(activity, subject, 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        row = ",".join(str(c + 1000 * activity) for c in range(COLUMNS))
        path.write_text("\n".join([row] * SEGMENT_ROWS) + "\n")


def test_windows_are_back_to_back_cuts_of_each_sensors_columns(tmp_path: Path) -> None:
    _write_release(tmp_path, subject=6)
    views = [
        {"name": name, "modality": "acc", "channels": [f"{name}_acc_{a}" for a in "xyz"],
         "window_samples": 50}
        for name in ("torso", "left_leg")
    ]  # fmt: skip
    windows, labels = load_windows(tmp_path, [6], {"views": views}, segments=1)
    # 125 rows make two whole 50-row windows per recording; the 25 left over are dropped.
    assert labels.tolist() == [a for a in range(len(ACTIVITIES)) for _ in range(2)]
    assert windows["torso"].shape == (2 * len(ACTIVITIES), 50, 3)
    expected = [column("left_leg", "acc", axis) for axis in "xyz"]
    third = windows["left_leg"][4]  # activity 3 (index 2), first window
    np.testing.assert_array_equal(third[0], np.asarray(expected) + 3000)
