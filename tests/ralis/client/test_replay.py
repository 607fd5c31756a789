"""The replay plan and its labels (no server; against one: tests/service/test_server.py)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ralis.client import dsads
from ralis.client.replay import CHUNK_S, plan_replay, true_labels


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


def test_ralis_replay_help_runs_without_torch_or_the_server() -> None:
    code = (
        "import sys; from ralis.cli import main\n"
        "try:\n    main(['replay', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'ralis replay imported torch'\n"
        "assert 'service' not in sys.modules, 'ralis replay imported the server'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--drop-rate" in result.stdout
