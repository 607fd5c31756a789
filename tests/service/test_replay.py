"""The DSADS reader and the replay plan (no server)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from service import dsads
from service.replay import CHUNK_S, plan_replay, true_labels


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


def test_plan_chunks_gaps_and_truth() -> None:
    recording = np.arange(7500 * 45, dtype=np.float64).reshape(7500, 45)
    sensors = {"torso": [0, 1, 2], "left_leg": [36, 37, 38]}
    plan = plan_replay([(1, recording), (12, recording)], sensors, seconds=10.0, window_s=4.0)
    per_activity = 2 * round(10.0 / CHUNK_S)
    assert len(plan.chunks) == 2 * per_activity
    first = plan.chunks[0]
    assert (first.sensor, first.t0) == ("torso", 0.0)
    assert first.send_at_s == pytest.approx(CHUNK_S)
    np.testing.assert_array_equal(first.samples, recording[:5, [0, 1, 2]])
    second_start = plan.chunks[per_activity].t0
    assert second_start == pytest.approx(10.0 + 4.0 + 2.0)  # a gap longer than a window
    assert plan.activity_at(4.0, 4.0) == 1
    assert plan.activity_at(10.0, 4.0) == 1
    assert plan.activity_at(12.0, 4.0) is None  # in the gap
    assert plan.activity_at(second_start + 4.0, 4.0) == 12


def test_drop_rate_switches_sensors_off_about_that_often() -> None:
    recording = np.zeros((7500, 45))
    sensors = {"torso": [0, 1, 2], "right_arm": [9, 10, 11], "left_leg": [36, 37, 38]}
    full = plan_replay([(1, recording)], sensors, seconds=300.0, window_s=4.0)
    dropped = plan_replay([(1, recording)], sensors, seconds=300.0, window_s=4.0, drop_rate=0.3)
    kept = len(dropped.chunks) / len(full.chunks)
    assert 0.55 < kept < 0.85
    again = plan_replay([(1, recording)], sensors, seconds=300.0, window_s=4.0, drop_rate=0.3)
    assert [(c.sensor, c.t0) for c in again.chunks] == [(c.sensor, c.t0) for c in dropped.chunks]


def test_true_labels_by_name_or_position() -> None:
    assert true_labels(list(dsads.ACTIVITIES)) == list(dsads.ACTIVITIES)
    shuffled = list(reversed(dsads.ACTIVITIES))
    assert true_labels(shuffled) == list(dsads.ACTIVITIES)
    numbered = [f"a{i:02d}" for i in range(1, 20)]
    assert true_labels(numbered) == numbered
    with pytest.raises(ValueError, match="cannot be matched"):
        true_labels(["walk", "run"])
