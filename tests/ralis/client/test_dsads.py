"""The DSADS layout and recording reader (the one copy, torch-free)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ralis.client import dsads


def write_segments(
    root: Path, activity: int, subject: int, zip_path: Path | None = None
) -> np.ndarray:
    """Segments whose rows count up, so the re-joined order is checkable."""
    rows = np.arange(60 * 125, dtype=np.float64)[:, None] + np.zeros((1, 45))
    rows[:, 1:] = np.arange(1, 45)
    archive = zipfile.ZipFile(zip_path, "w") if zip_path is not None else None
    for segment in range(1, 61):
        block = rows[(segment - 1) * 125 : segment * 125]
        buffer = io.StringIO()
        np.savetxt(buffer, block, fmt="%.1f", delimiter=",")
        name = f"data/a{activity:02d}/p{subject}/s{segment:02d}.txt"
        if archive is not None:
            archive.writestr(name, buffer.getvalue())
        else:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(buffer.getvalue())
    if archive is not None:
        archive.close()
    return rows


@pytest.mark.parametrize("as_zip", [True, False], ids=["zip", "folder"])
def test_recordings_rejoin_the_60_segments_in_order(tmp_path: Path, as_zip: bool) -> None:
    source = tmp_path / ("dsads.zip" if as_zip else "dsads")
    expected = write_segments(source, 5, 3, source if as_zip else None)
    recording = dsads.read_recording(source, 5, 3)
    assert recording.shape == (7500, 45)
    np.testing.assert_array_equal(recording, expected)


def test_unknown_activity_or_subject(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="activities 1-19, subjects 1-8"):
        dsads.read_recording(tmp_path, 20, 1)


def test_columns_from_channel_names_or_view_name() -> None:
    assert dsads.channel_column("torso_acc_x") == 0
    assert dsads.channel_column("left_leg_mag_z") == 44
    assert dsads.channel_column("acc_x") is None
    channels = [f"right_arm_gyro_{a}" for a in "xyz"]
    assert dsads.view_columns("anything", "gyro", channels) == [12, 13, 14]
    assert dsads.view_columns("left_arm", "acc", ["x", "y", "z"]) == [18, 19, 20]
    assert dsads.view_columns("left_arm", "imu", [str(i) for i in range(9)]) == list(range(18, 27))
    assert dsads.view_columns("head", "acc", ["x", "y", "z"]) is None


def test_a_subset_reads_up_to_its_first_missing_segment(tmp_path: Path) -> None:
    source = tmp_path / "dsads.zip"
    with zipfile.ZipFile(source, "w") as archive:
        for segment in (1, 2, 4):
            rows = np.full((125, 45), float(segment))
            buffer = io.StringIO()
            np.savetxt(buffer, rows, fmt="%.1f", delimiter=",")
            archive.writestr(f"data/a01/p2/s{segment:02d}.txt", buffer.getvalue())
    recording = dsads.read_recording(source, 1, 2, segments=4, complete=False)
    assert recording.shape == (250, 45)
    assert recording[0, 0] == 1.0 and recording[-1, 0] == 2.0
    assert dsads.read_recording(source, 3, 2, complete=False).shape == (0, 45)
    with pytest.raises(KeyError):
        dsads.read_recording(source, 1, 2, segments=4)


def test_layout_constants_agree() -> None:
    assert dsads.SEGMENT_ROWS == round(5 * dsads.RATE_HZ)
    assert dsads.COLUMNS == len(dsads.POSITIONS) * dsads.UNIT_COLUMNS == 45
    assert len(dsads.ACTIVITIES) == 19 and dsads.SUBJECTS == tuple(range(1, 9))
    assert dsads.column("left_leg", "acc", "z") == 38
    assert [dsads.channel_column(f"torso_mag_{a}") for a in "xyz"] == [6, 7, 8]
