"""Run reports: a run only looks finished once everything in it is written."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.training.test_evaluation import OracleIfFirstView, _dataset
from training import reporting
from training.checkpoint import Checkpoint
from training.reporting import write_evaluation


def _checkpoint() -> Checkpoint:
    return SimpleNamespace(model=OracleIfFirstView())  # type: ignore[return-value]


def test_a_run_stopped_while_plotting_leaves_no_evaluation_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Experiment runners skip a run whose evaluation.json exists, so a crash in the last plot
    # must not leave one behind (the run would be "finished" without its plots).
    def stopped(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(reporting, "plot_view_weights", stopped)
    with pytest.raises(KeyboardInterrupt):
        write_evaluation(_checkpoint(), _dataset(), tmp_path)
    assert not (tmp_path / "evaluation.json").exists()


def test_a_finished_report_has_every_file_and_the_scores(tmp_path: Path) -> None:
    summary = write_evaluation(_checkpoint(), _dataset(), tmp_path)
    written = {p.name for p in tmp_path.iterdir()}
    assert written == {
        "evaluation.json",
        "evaluation.md",
        "f1_vs_views.png",
        "confusion_all_views.png",
        "view_weights_per_class.png",
    }
    assert json.loads((tmp_path / "evaluation.json").read_text()) == summary
    # The oracle is right on every window that has view 0: all 3 views -> macro-F1 1.
    assert summary["scenarios"]["3 views"] == 1.0
