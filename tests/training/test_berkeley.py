"""The Berkeley MHAD runner's settings: the committed budget and the recipe's defaults."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from training.berkeley import (
    RECIPES,
    berkeley_config,
    macro_f1_within_group_forgiven,
    summarise,
)
from training.config import TrainConfig


def test_budget_recipe_keeps_the_settings_the_committed_seeds_ran_with() -> None:
    config = berkeley_config("trials.npz", seed=2, **RECIPES["budget"])
    # As in results/berkeley_mhad/README.md: 12 epochs / 3,000 steps, every transform.
    assert (config.epochs, config.min_steps, config.augment_transforms) == (12, 3000, None)
    assert (config.train_subjects, config.val_subjects, config.test_subjects) == (
        (1, 2, 3, 4, 5, 6, 7),
        (8, 9),
        (10, 11, 12),
    )
    assert config.window_seconds == 2.0 and config.seed == 2


def test_default_recipe_is_ralis_train_with_no_flags_as_its_run_was_made() -> None:
    """`ralis train`'s defaults, but the step budget of 2026-12-01 (20 epochs / 4,000 steps),
    when its committed run was made; the defaults doubled it since."""
    config = berkeley_config("trials.npz", seed=0, **RECIPES["default"])
    plain = TrainConfig(data="trials.npz")
    for name in ("augment_transforms", "lr_schedule", "optimizer"):
        assert getattr(config, name) == getattr(plain, name), name
    assert (config.epochs, config.min_steps) == (20, 4000)
    assert "scale" not in (config.augment_transforms or ())


def test_window3s_recipe_changes_only_the_window_length() -> None:
    budget = berkeley_config("trials.npz", seed=0, **RECIPES["budget"])
    longer = berkeley_config("trials.npz", seed=0, **RECIPES["window3s"])
    assert longer.window_seconds == 3.0
    assert dataclasses.replace(longer, window_seconds=2.0) == budget


def test_kernel9_recipe_changes_only_the_encoder_kernel() -> None:
    budget = berkeley_config("trials.npz", seed=0, **RECIPES["budget"])
    wider = berkeley_config("trials.npz", seed=0, **RECIPES["kernel9"])
    assert (budget.model["kernel_size"], wider.model["kernel_size"]) == (5, 9)
    assert dataclasses.replace(wider, model=budget.model) == budget


def test_committed_recipes_keep_the_defaults_of_their_day_kernel_5_and_one_batch() -> None:
    # The committed Berkeley runs predate kernel 9 and the separate batch as defaults.
    for name in ("budget", "default", "window3s"):
        config = berkeley_config("trials.npz", seed=0, **RECIPES[name])
        assert (config.model["kernel_size"], config.contrastive_batch_size) == (5, None), name
    both = berkeley_config("trials.npz", seed=0, **RECIPES["kernel9_separate_batches"])
    assert (both.model["kernel_size"], both.contrastive_batch_size) == (9, 16)


def test_the_ema_recipe_is_the_shipped_recipe_plus_a_weight_average_only() -> None:
    both = berkeley_config("trials.npz", seed=0, **RECIPES["kernel9_separate_batches"])
    averaged = berkeley_config("trials.npz", seed=0, **RECIPES["kernel9_separate_batches_ema"])
    assert (both.weight_ema, averaged.weight_ema) == (None, 0.999)
    assert dataclasses.replace(averaged, weight_ema=None) == both


def test_the_label_smoothing_recipe_is_kernel9_plus_label_smoothing_only() -> None:
    kernel9 = berkeley_config("trials.npz", seed=0, **RECIPES["kernel9"])
    smoothed = berkeley_config("trials.npz", seed=0, **RECIPES["kernel9_label_smoothing0.1"])
    assert (kernel9.model["label_smoothing"], smoothed.model["label_smoothing"]) == (0.0, 0.1)
    assert dataclasses.replace(smoothed, model=kernel9.model) == kernel9


def _summary(everything: tuple[float, float], singles: dict[str, tuple[float, float]]) -> dict:
    combination = {
        "1 view": [
            {"views": [view], "macro_f1": window, "trial_macro_f1": trial}
            for view, (window, trial) in singles.items()
        ],
        "all views": [
            {"views": list(singles), "macro_f1": everything[0], "trial_macro_f1": everything[1]}
        ],
    }
    return {
        "scenarios": {"1 view": 0.5, "all views": everything[0]},
        "scenarios_trial": {"1 view": 0.6, "all views": everything[1]},
        "combinations": combination,
        "best_epoch": 12,
        "total_seconds": 600.0,
    }


def test_summary_names_the_best_view_per_window_and_per_trial_separately(
    tmp_path: Path,
) -> None:
    # The skeleton is best per window (0.81), the left wrist per trial (0.94): the fusion
    # (0.88 / 0.99) is compared with each, and the trial score is named after its own view.
    run = tmp_path / "seed0"
    run.mkdir()
    singles = {"left_wrist": (0.78, 0.94), "skeleton": (0.81, 0.92)}
    (run / "evaluation.json").write_text(json.dumps(_summary((0.88, 0.99), singles)))
    table = summarise(tmp_path)
    assert "| seed0 | 88.00 / 99.00 | skeleton 81.00 / left_wrist 94.00 | +7.00 / +5.00 |" in table


def test_forgiving_a_label_group_moves_its_confusions_onto_the_diagonal() -> None:
    # Classes a, b, c; b and c form the ambiguous group. Confusion (rows true, columns
    # predicted): a 10/0/0, b 0/6/4, c 0/2/8. Forgiven: b 10 right, c 10 right -> F1 1 each.
    summary = {
        "class_names": ["a", "b", "c"],
        "confusion_all_views": [[10, 0, 0], [0, 6, 4], [0, 2, 8]],
    }
    assert macro_f1_within_group_forgiven(summary, ("b", "c")) == 100.0
    # Forgiving only a (no confusions) keeps the plain macro-F1: b: 2*6/(8+10) = 2/3,
    # c: 2*8/(12+10) = 8/11, a: 1 -> (1 + 2/3 + 8/11) / 3.
    plain = 100 * (1 + 2 / 3 + 8 / 11) / 3
    assert abs(macro_f1_within_group_forgiven(summary, ("a",)) - plain) < 1e-9
