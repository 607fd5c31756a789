"""Smoke runs of the benchmark scripts on their smallest sizes: tables, JSON and plot exist."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bench import encoders, idle_gap, loss_scaling, precision
from ralis.bundle import load_manifest
from tests.service.bundle_factory import build_bundle
from training.quantize import quantize_bundle


def _table_rows(text: str, header_start: str) -> list[list[str]]:
    """Cells of the Markdown table whose header line starts with `header_start`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_loss_scaling_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--quick", "--views", "2", "3", "--batches", "8", "--out-dir", str(tmp_path)]
    assert loss_scaling.main(argv) == 0
    out = capsys.readouterr().out

    grid = _table_rows(out, "| V | N |")
    assert [row[:2] for row in grid] == [["2", "8"], ["3", "8"]]
    for row in grid:
        ratio = float(row[5])
        # The printed ratio is the quotient of the printed times (same run, same baseline).
        assert ratio == pytest.approx(
            float(row[3].replace(",", "")) / float(row[2].replace(",", "")), rel=0.02
        )
    assert "not measured" in out  # the V=15, N=256 target point is outside this grid

    payload = json.loads((tmp_path / "loss_scaling_quick.json").read_text())
    assert payload["quick"] is True and payload["baseline"] == "adjusted_center"
    assert payload["target"]["measured"] is False
    points = payload["points"]
    # 2 V x 1 N x 3 losses, plus 3 with views missing and 3 at 2 threads at the largest point.
    assert len(points) == 12
    assert {p["loss"] for p in points} == set(loss_scaling.LOSSES)
    assert all(p["median_s"] > 0 and p["repeats"] >= 3 for p in points)
    assert {(p["threads"], p["missing_fraction"]) for p in points if p["num_views"] == 3} == {
        (1, 0.0),
        (1, 0.3),
        (2, 0.0),
    }
    assert (tmp_path / "loss_scaling_quick.png").stat().st_size > 0
    assert len(payload["environment"]["load_average"]) == 3


def test_loss_inputs_keep_a_view_per_sample() -> None:
    z, weights, mask = loss_scaling.make_inputs(5, 64, 16, missing_fraction=0.9, seed=1)
    assert z.shape == (64, 5, 16) and z.requires_grad
    assert mask.any(dim=1).all() and not mask.all()
    assert weights.sum(dim=1).detach().numpy() == pytest.approx(1.0, abs=1e-6)
    assert (weights[~mask] == 0).all()


@pytest.mark.slow
def test_encoders_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--quick", "--batches", "1", "4", "--threads", "1", "--parity-samples", "8"]
    assert encoders.main([*argv, "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out

    rows = _table_rows(out, "| part | batch | threads |")
    assert [row[:3] for row in rows] == [
        ["encoder", "1", "1"],
        ["encoder", "4", "1"],
        ["head", "1", "1"],
        ["head", "4", "1"],
    ]
    payload = json.loads((tmp_path / "encoders_quick.json").read_text())
    flops = payload["flops_per_window"]
    # Two independent counts of the same network agree exactly.
    assert flops["flop_counter"] == flops["layer_shapes"]
    assert flops["flop_counter"]["encoder"] > 10 * flops["flop_counter"]["head"] > 0
    parity = payload["parity"]
    assert parity["encoder_max_abs_diff"] < 1e-4
    assert parity["head_probability_max_abs_diff"] < 1e-4
    assert parity["head_argmax_agreement"] == 1.0
    assert len(payload["points"]) == 2 * 2 * 2  # parts x runtimes x batches
    assert all(
        p["per_window_s"] == pytest.approx(p["median_s"] / p["batch"]) for p in payload["points"]
    )
    assert payload["peak"]["per_core_gflops"] > 0
    assert (tmp_path / "encoders_quick.png").stat().st_size > 0


def test_encoders_bench_builds_the_requested_encoder_size() -> None:
    model = encoders.build_model(0, kernel_size=9, widths=(64, 128, 128, 256))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    assert {c.kernel_size[0] for c in convs} >= {9}
    assert max(c.out_channels for c in convs) == 256
    default = encoders.build_model(0)
    assert max(c.out_channels for c in default.modules() if isinstance(c, torch.nn.Conv1d)) == 128


def test_precision_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Float against int8 encoders on a tiny quantised bundle: one row per batch, and the
    printed ratio is the quotient of the printed per-repeat costs."""
    bundle = build_bundle(tmp_path / "bundle")
    rng = np.random.default_rng(0)
    calibration = {
        v.name: rng.standard_normal((64, len(v.channels), v.window_samples)).astype(np.float32)
        for v in load_manifest(bundle).views
    }
    quantize_bundle(bundle, calibration, "random windows")
    argv = ["--bundle", str(bundle), "--repeats", "1", "--seconds", "0.05", "--batches", "1", "4"]
    assert precision.main([*argv, "--out-dir", str(tmp_path / "out")]) == 0
    rows = _table_rows(capsys.readouterr().out, "| batch |")
    assert [row[0] for row in rows] == ["1", "4"]
    saved = json.loads((tmp_path / "out" / "precision.json").read_text())["ms_per_prediction"]
    assert set(saved) == {"fp32", "int8"}
    for row in rows:
        (fp32,), (int8,) = saved["fp32"][row[0]], saved["int8"][row[0]]
        assert float(row[3].split("x")[0]) == pytest.approx(fp32 / int8, abs=0.006)


def test_idle_gap_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One row per pause (sleeping, then spinning at the largest), one column per batch; each
    printed ratio is the printed cost over the back-to-back cost of the same batch."""
    bundle = build_bundle(tmp_path / "bundle")
    argv = ["--bundle", str(bundle), "--precision", "fp32", "--repeats", "1", "--calls", "3"]
    argv += ["--batches", "1", "2", "--gaps-ms", "0", "1", "--out-dir", str(tmp_path / "out")]
    assert idle_gap.main(argv) == 0
    rows = _table_rows(capsys.readouterr().out, "| pause before each call |")
    assert [row[0] for row in rows] == ["back to back", "sleep 1 ms", "spin 1 ms"]
    saved = json.loads((tmp_path / "out" / "idle_gap.json").read_text())["ms_per_prediction"]
    assert set(saved) == {"1", "2"}
    for column, batch in ((1, "1"), (2, "2")):
        (base,) = saved[batch]["back to back"]
        for row in rows:
            (cost,) = saved[batch][row[0]]
            assert cost > 0
            assert float(row[column].split(", ")[1].rstrip("x")) == pytest.approx(
                cost / base, abs=0.006
            )


def test_idle_gap_refuses_gaps_without_the_back_to_back_reference() -> None:
    with pytest.raises(SystemExit):
        idle_gap.main(["--gaps-ms", "1", "5"])
