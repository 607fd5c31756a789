"""`ralis train` flags -> TrainConfig: the default recipe, the paper's, explicit overrides."""

from __future__ import annotations

import argparse

import pytest

from training.cli import add_train_arguments, config_from_args
from training.config import PAPER_RECIPE, TrainConfig


def _config(*argv: str) -> TrainConfig:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    return config_from_args(parser.parse_args(list(argv)))


def test_defaults_are_the_converging_recipe() -> None:
    config = _config()
    assert (config.epochs, config.min_steps, config.lr_schedule) == (40, 8000, "warmup_cosine")
    assert (config.optimizer, config.select_on, config.class_balance) == (
        "adamw",
        "val_scenarios",
        True,
    )
    assert config.augment_transforms == ("rotate", "flip", "time_warp")


def test_paper_recipe_with_an_explicit_override() -> None:
    config = _config("--recipe", "paper", "--epochs", "5")
    assert config.epochs == 5
    for key, value in PAPER_RECIPE.items():
        if key != "epochs":
            assert getattr(config, key) == value


def test_augment_transforms_all_means_every_transform() -> None:
    assert _config("--augment-transforms", "all").augment_transforms is None
    assert _config("--augment-transforms", "scale").augment_transforms == ("scale",)


def test_kernel_9_and_a_separate_contrastive_batch_are_the_defaults_and_can_be_undone() -> None:
    assert (_config().model["kernel_size"], _config().contrastive_batch_size) == (9, 16)
    assert _config("--kernel-size", "5").model["kernel_size"] == 5
    assert _config("--contrastive-batch-size", "0").contrastive_batch_size is None
    assert _config("--contrastive-batch-size", "32").contrastive_batch_size == 32


def test_the_view_prior_is_on_by_default_and_can_be_turned_off() -> None:
    assert _config().view_prior is True
    assert _config("--view-prior").view_prior is True
    assert _config("--no-view-prior").view_prior is False


def test_class_balance_power_flag_and_its_range() -> None:
    assert _config().class_balance_power == 1.0
    assert _config("--class-balance-power", "0.5").class_balance_power == 0.5
    with pytest.raises(ValueError, match="class_balance_power"):
        TrainConfig(data="x.npz", class_balance_power=1.5)


def test_augment_probability_flag_and_its_range() -> None:
    assert _config().augment_probability == 1.0
    assert _config("--augment-probability", "0.5").augment_probability == 0.5
    with pytest.raises(ValueError, match="augment_probability"):
        _config("--augment-probability", "1.5")


def test_augment_max_rotation_flag_and_its_range() -> None:
    assert _config().augment_max_rotation_deg == 30.0
    assert _config("--augment-max-rotation", "15").augment_max_rotation_deg == 15.0
    with pytest.raises(ValueError, match="augment_max_rotation_deg"):
        _config("--augment-max-rotation", "-1")


def test_share_encoders_flag() -> None:
    assert not _config().share_encoders
    assert _config("--share-encoders").share_encoders


def test_label_smoothing_flag_reaches_the_model_config() -> None:
    assert _config().model["label_smoothing"] == 0.0
    assert _config("--label-smoothing", "0.1").model["label_smoothing"] == 0.1


def test_validation_subjects_may_be_trained_on_only_as_a_monitor() -> None:
    """A final model on every subject but the test ones: validation chooses nothing then."""
    final = ("--train-subjects", "1,2,3,4,5", "--val-subjects", "5")
    config = _config(*final, "--select-on", "last", "--no-view-prior")
    assert config.validation_is_trained_on and not _config().validation_is_trained_on
    with pytest.raises(ValueError, match="allowed only with select_on='last'"):
        _config(*final, "--no-view-prior")
    with pytest.raises(ValueError, match="--no-view-prior"):
        _config(*final, "--select-on", "last")
    with pytest.raises(ValueError, match=r"subjects \[6\] are in the training and test splits"):
        _config("--train-subjects", "1,2,6", "--select-on", "last", "--no-view-prior")
