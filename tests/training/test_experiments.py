"""Paper-table aggregation over seeds, on hand-made run summaries."""

from __future__ import annotations

import json
from pathlib import Path

from training.experiments import collect_scores, main, summarise


def _write_run(root: Path, table: str, variant_dir: str, seed: int, scores: list[float]) -> None:
    run = root / table / variant_dir / f"seed{seed}"
    run.mkdir(parents=True)
    names = ["1 view", "3 views", "5 views"]
    summary = {
        "scenarios": dict(zip(names, scores, strict=True)),
        "seconds_per_epoch": 10.0 + seed,
        "total_seconds": 200.0,
    }
    (run / "evaluation.json").write_text(json.dumps(summary))


def test_table_reports_mean_and_std_over_seeds_next_to_the_paper(tmp_path: Path) -> None:
    _write_run(tmp_path, "table3", "RALIS", 0, [0.70, 0.80, 0.90])
    _write_run(tmp_path, "table3", "RALIS", 1, [0.72, 0.82, 0.94])
    table = summarise("table3", tmp_path)
    assert "| RALIS | 71.00 ± 1.41 | 81.00 ± 1.41 | 92.00 ± 2.83 | 2 | 10.5 | 200 |" in table
    assert "| paper (RALIS, DailySport) | 80.56 | 90.54 | 93.64 |" in table
    assert collect_scores("table3", tmp_path)["5 views"] == [90.0, 94.0]


def test_ablation_names_with_leading_dashes_are_accepted(tmp_path: Path) -> None:
    _write_run(tmp_path / "runs", "table5", "no_MoE", 0, [0.5, 0.6, 0.7])
    code = main(
        ["table5", "--variants=-MoE,+full graph", "--out", str(tmp_path), "--summarise-only"]
    )
    assert code == 0
    assert "| -MoE | 50.00 (1 seed) |" in (tmp_path / "table5.md").read_text()


def test_ablation_names_flags_and_folders_derive_from_one_table() -> None:
    import argparse

    from model.config import ABLATIONS, TABLE5_ABLATIONS, RalisConfig
    from training.cli import add_train_arguments, config_from_args

    assert list(TABLE5_ABLATIONS) == [a.name for a in ABLATIONS]
    assert len({a.slug for a in ABLATIONS}) == len(ABLATIONS)
    # Folders of finished runs keep their names (resumable experiment runners find them).
    assert {a.name: a.slug for a in ABLATIONS}["-ind. view"] == "no_ind_view"
    assert {a.name: a.slug for a in ABLATIONS}["+full graph"] == "plus_full_graph"
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    for ablation in ABLATIONS:
        if ablation.flag is None:
            continue
        args = parser.parse_args(["--data", "x.npz", f"--{ablation.flag}"])
        model = config_from_args(args).model
        for name, value in ablation.overrides.items():
            assert model[name] == value
            assert getattr(RalisConfig, name) != value  # the default is the full model
