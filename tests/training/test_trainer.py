"""A tiny real training run: the loss falls, the checkpoint round-trips, runs are seeded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.conftest import FIXTURE_ZIP, tiny_config
from training.checkpoint import Checkpoint
from training.config import TrainConfig
from training.data.dataset import ViewInfo
from training.data.dsads import load_dsads
from training.data.npz import save_npz
from training.evaluation import embed_views
from training.pipeline import prepare_data
from training.trainer import (
    LEARNING_CURVES,
    RESUME_FILE,
    class_weights,
    config_differences,
    lr_factor,
    planned_epochs,
    same_config,
    shared_encoder_group,
    train,
)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    train(tiny_config(), out, progress=False)
    return out


def _records(run: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_loss_falls(trained_run: Path) -> None:
    records = _records(trained_run)
    assert len(records) == 10
    assert records[-1]["classification"] < 0.7 * records[0]["classification"]
    assert records[-1]["loss"] < records[0]["loss"]


def test_metrics_lines_hold_losses_f1_and_view_weights(trained_run: Path) -> None:
    record = _records(trained_run)[0]
    assert {"loss", "classification", "contrastive", "load_balance", "val_macro_f1"} <= set(record)
    weights = np.array(record["mean_view_weights_per_class"])
    assert weights.shape == (19, 5)  # DSADS always has 19 classes, 5 views
    assert 0.0 <= record["val_macro_f1"] <= 1.0


def test_checkpoint_round_trips(trained_run: Path) -> None:
    checkpoint = Checkpoint.load(trained_run / "checkpoint.pt")
    # The kept epoch is the first with the best smoothed selection metric.
    best = max(_records(trained_run), key=lambda r: r["selection_smoothed"])
    assert checkpoint.epoch == best["epoch"]
    assert checkpoint.val_macro_f1 == pytest.approx(best["val_macro_f1"])
    assert checkpoint.train_config == tiny_config()
    assert [v.name for v in checkpoint.views] == [
        "torso",
        "right_arm",
        "left_arm",
        "right_leg",
        "left_leg",
    ]
    data = prepare_data(checkpoint.train_config)
    reloaded = Checkpoint.load(trained_run / "checkpoint.pt")
    torch.testing.assert_close(
        embed_views(checkpoint.model, data.test), embed_views(reloaded.model, data.test)
    )
    for name in checkpoint.normalizer.mean:
        np.testing.assert_array_equal(checkpoint.normalizer.mean[name], data.normalizer.mean[name])


def test_same_seed_same_losses(tmp_path: Path) -> None:
    config = tiny_config(epochs=1)
    train(config, tmp_path / "a", progress=False)
    train(config, tmp_path / "b", progress=False)
    assert _records(tmp_path / "a")[0]["loss"] == _records(tmp_path / "b")[0]["loss"]


def test_broken_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable RALIS checkpoint"):
        Checkpoint.load(path)


def test_cosine_schedule_anneals_the_learning_rate(tmp_path: Path) -> None:
    config = tiny_config(epochs=4, lr_schedule="cosine")
    train(config, tmp_path, progress=False)
    rates = [r["lr"] for r in _records(tmp_path)]
    expected = [config.lr * (1 + np.cos(np.pi * e / 4)) / 2 for e in range(4)]
    np.testing.assert_allclose(rates, expected, rtol=1e-6)


def test_learning_curves_plot_is_written_next_to_the_run(trained_run: Path) -> None:
    assert (trained_run / LEARNING_CURVES).stat().st_size > 10_000


def test_selection_metric_is_a_trailing_mean_over_scenarios(trained_run: Path) -> None:
    records = _records(trained_run)
    for index, record in enumerate(records):
        assert record["val_scenario_mean"] == pytest.approx(
            np.mean(list(record["val_scenarios"].values()))
        )
        window = records[max(0, index - 2) : index + 1]
        assert record["selection_smoothed"] == pytest.approx(
            np.mean([r["val_scenario_mean"] for r in window])
        )


def test_minimum_steps_stretch_a_small_dataset() -> None:
    config = tiny_config(epochs=5, min_steps=1000, batch_size=10)
    assert planned_epochs(config, num_samples=100) == 100  # 10 steps per epoch
    assert planned_epochs(config, num_samples=100_000) == 5


def test_warmup_then_cosine_to_zero() -> None:
    factors = [lr_factor(step, 100, "warmup_cosine", 0.1) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[9:], factors[10:], strict=False))
    assert factors[-1] < 0.01
    assert lr_factor(50, 100, "constant", 0.1) == 1.0


def test_early_stopping_ends_a_flat_run(tmp_path: Path) -> None:
    # lr 0: only batch-norm statistics move, so the metric soon stops improving.
    config = tiny_config(epochs=30, lr=0.0, patience=2, patience_fraction=0.0, smoothing=1)
    result = train(config, tmp_path, progress=False)
    assert result.stopped_early and result.epochs_run < 30
    assert result.epochs_run - result.best_epoch == 2


def _interrupt_in_epoch_2(config: TrainConfig, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Train `config` into `out` and stop it (as Ctrl-C would) during epoch 2's validation."""
    import training.trainer as trainer_module

    real_scores = trainer_module.validation_scores
    calls: list[int] = []

    def crash_in_epoch_2(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_scores(*args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(trainer_module, "validation_scores", crash_in_epoch_2)
        with pytest.raises(KeyboardInterrupt):
            train(config, out, progress=False)


def test_resume_continues_where_it_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tiny_config(epochs=2)
    train(config, tmp_path / "straight", progress=False)
    _interrupt_in_epoch_2(config, tmp_path / "resumed", monkeypatch)
    result = train(config, tmp_path / "resumed", progress=False)
    assert result.epochs_run == 2
    straight, resumed = _records(tmp_path / "straight"), _records(tmp_path / "resumed")
    assert [r["loss"] for r in resumed] == [r["loss"] for r in straight]
    assert torch.load(tmp_path / "resumed" / RESUME_FILE, weights_only=False)["finished"]


def test_class_weights_are_inverse_frequency_with_mean_one_per_sample() -> None:
    labels = np.array([0, 0, 0, 1, -1, 3])  # class 2 absent, one unlabelled sample
    weights = class_weights(labels, 4).numpy()
    np.testing.assert_allclose(weights, [5 / 9, 5 / 3, 0.0, 5 / 3], rtol=1e-6)
    assert weights[labels[labels >= 0]].mean() == pytest.approx(1.0)


def test_softer_class_weights_are_the_square_root_rescaled_to_mean_one() -> None:
    labels = np.array([0] * 8 + [1] * 2)  # N = 10, K = 2: full weights 10/16 and 10/4
    weights = class_weights(labels, 2, power=0.5).numpy()
    # Square roots sqrt(5/8) and sqrt(5/2), i.e. 1 : 2, rescaled so 8 w0 + 2 w1 = 10.
    np.testing.assert_allclose(weights, [10 / 12, 20 / 12], rtol=1e-6)
    assert class_weights(labels, 2, power=0.0).numpy() == pytest.approx([1.0, 1.0])


def test_separate_contrastive_batch_feeds_only_the_contrastive_term(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.trainer as trainer_module

    seen: list[int] = []
    real = trainer_module.contrastive_term

    def spy(output, config):  # type: ignore[no-untyped-def]
        seen.append(int(output.view_mask.shape[0]))
        return real(output, config)

    monkeypatch.setattr(trainer_module, "contrastive_term", spy)
    config = tiny_config(epochs=1, batch_size=8, contrastive_batch_size=5)
    train(config, tmp_path, progress=False)
    # One contrastive batch of 5 per optimiser step of 8 (the classification batch).
    assert seen and set(seen) == {5}
    assert len(seen) == _records(tmp_path)[0]["steps"]
    assert np.isfinite(_records(tmp_path)[0]["contrastive"])


def test_contrastive_batch_size_must_leave_negatives() -> None:
    with pytest.raises(ValueError, match="contrastive_batch_size"):
        tiny_config(contrastive_batch_size=1)


def test_a_run_saved_before_a_new_option_existed_still_resumes() -> None:
    config = TrainConfig(data="x.npz", model={"kernel_size": 9})
    saved = config.to_dict()
    del saved["class_balance_power"]  # a run started before the option existed
    assert same_config(saved, config)
    assert not same_config(saved, TrainConfig(data="x.npz", model={"kernel_size": 9},
                                              class_balance_power=0.5))  # fmt: skip
    assert not same_config(saved, TrainConfig(data="x.npz", model={"kernel_size": 5}))


def test_a_run_saved_before_the_2026_12_02_defaults_reads_as_kernel_5_and_one_batch() -> None:
    # Until 2026-12-02 a saved configuration held only the architecture fields it changed
    # (the encoder kernel's default was 5) and predates `contrastive_batch_size` or holds None
    # (one batch for every loss term); today's defaults are kernel 9 and a batch of 16.
    saved = TrainConfig(data="x.npz").to_json_dict()
    saved["model"] = {"use_moe": False}
    del saved["contrastive_batch_size"]
    then = TrainConfig(data="x.npz", model={"kernel_size": 5, "use_moe": False},
                       contrastive_batch_size=None)  # fmt: skip
    assert same_config(saved, then)
    assert TrainConfig.from_dict(saved) == then
    differences = config_differences(saved, TrainConfig(data="x.npz", model={"use_moe": False}))
    assert differences == ["contrastive_batch_size: None -> 16", "model.kernel_size: 5 -> 9"]
    # What is saved today names every architecture field, so it never reads as those days.
    assert TrainConfig(data="x.npz").to_dict()["model"]["kernel_size"] == 9


def test_unknown_architecture_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="kernel_sise"):
        TrainConfig(data="x.npz", model={"kernel_sise": 7})


def test_class_weights_without_labelled_samples_are_zero_not_nan() -> None:
    weights = class_weights(np.array([-1, -1]), 3, power=0.5).numpy()
    assert weights.tolist() == [0.0, 0.0, 0.0]


def test_a_run_saved_before_the_view_prior_existed_ran_without_it() -> None:
    # The prior arrived on by default; runs saved before it never applied one.
    saved = json.loads(json.dumps(TrainConfig(data="x.npz", view_prior=False).to_dict()))
    del saved["view_prior"]
    assert same_config(saved, TrainConfig(data="x.npz", view_prior=False))
    assert config_differences(saved, TrainConfig(data="x.npz")) == ["view_prior: False -> True"]
    ignored = frozenset({"view_prior"})
    assert config_differences(saved, TrainConfig(data="x.npz"), ignored) == []


def test_a_config_read_back_from_json_is_the_same_config() -> None:
    config = TrainConfig(data="x.npz", train_subjects=(1, 2), augment_transforms=("rotate",))
    assert same_config(json.loads(json.dumps(config.to_dict())), config)


def _record_averaged_inputs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, torch.Tensor]]:
    """The weights W(t) the moving average is given after each step, in order."""
    import training.trainer as trainer_module

    snapshots: list[dict[str, torch.Tensor]] = []
    real_update = trainer_module.AveragedModel.update_parameters

    def recording_update(self: torch.nn.Module, model: torch.nn.Module) -> None:
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        real_update(self, model)  # type: ignore[arg-type]

    monkeypatch.setattr(trainer_module.AveragedModel, "update_parameters", recording_update)
    return snapshots


def test_weight_ema_keeps_the_moving_average_of_every_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept model is W_ema(1) = W(1), W_ema(t) = d W_ema(t-1) + (1 - d) W(t) over the
    weights W(t) after each optimiser step (BatchNorm statistics averaged alike)."""
    decay = 0.9
    snapshots = _record_averaged_inputs(monkeypatch)
    config = tiny_config(epochs=2, weight_ema=decay, select_on="last")
    train(config, tmp_path, progress=False)
    kept = Checkpoint.load(tmp_path / "checkpoint.pt").model.state_dict()
    assert len(snapshots) == _records(tmp_path)[-1]["steps"] > 1
    for name, value in kept.items():
        if not value.is_floating_point():  # BatchNorm's batch counter: copied, not averaged
            assert torch.equal(value, snapshots[-1][name]), name
            continue
        expected = snapshots[0][name].double()
        for later in snapshots[1:]:
            expected = decay * expected + (1 - decay) * later[name].double()
        torch.testing.assert_close(value.double(), expected, rtol=1e-4, atol=1e-5)
    # And it is not simply the last step's weights.
    last = snapshots[-1]
    assert any(not torch.allclose(kept[k], last[k]) for k in kept if kept[k].is_floating_point())


def test_weight_ema_warmup_lets_early_weights_fade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the warm-up, W_ema(1) = W(1) and W_ema(t) = d_t W_ema(t-1) + (1 - d_t) W(t) with
    d_t = min(d, (1 + k) / (10 + k)) for the k-th update after the first (k = t - 1)."""
    decay = 0.99
    snapshots = _record_averaged_inputs(monkeypatch)
    config = tiny_config(epochs=2, weight_ema=decay, weight_ema_warmup=True, select_on="last")
    train(config, tmp_path, progress=False)
    kept = Checkpoint.load(tmp_path / "checkpoint.pt").model.state_dict()
    assert len(snapshots) > 1
    for name, value in kept.items():
        if not value.is_floating_point():
            continue
        expected = snapshots[0][name].double()
        for k, later in enumerate(snapshots[1:], start=1):
            d_k = min(decay, (1 + k) / (10 + k))
            expected = d_k * expected + (1 - d_k) * later[name].double()
        torch.testing.assert_close(value.double(), expected, rtol=1e-4, atol=1e-5)


def test_weight_ema_resumes_with_its_average(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tiny_config(epochs=2, weight_ema=0.9)
    train(config, tmp_path / "straight", progress=False)
    _interrupt_in_epoch_2(config, tmp_path / "resumed", monkeypatch)
    train(config, tmp_path / "resumed", progress=False)
    straight, resumed = (
        torch.load(tmp_path / run / RESUME_FILE, weights_only=False)["averaged_state"]
        for run in ("straight", "resumed")
    )
    assert int(resumed["n_averaged"]) == _records(tmp_path / "straight")[-1]["steps"]
    assert resumed.keys() == straight.keys()
    for name in straight:
        assert torch.equal(resumed[name], straight[name]), name


@pytest.mark.parametrize("decay", [0.0, -0.1, 1.0, 1.5])
def test_weight_ema_decay_must_lie_between_0_and_1(decay: float) -> None:
    with pytest.raises(ValueError, match="weight_ema"):
        tiny_config(weight_ema=decay)


def test_view_subsets_reach_the_classification_batch_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With probability 1 every classification window shows a non-empty subset of its views
    (some smaller than all); the separate contrastive batch keeps every view."""
    import training.trainer as trainer_module

    classification: list[np.ndarray] = []
    contrastive: list[np.ndarray] = []
    real_losses, real_contrastive = trainer_module.compute_losses, trainer_module.contrastive_term

    def spy_losses(output, labels, config, weights):  # type: ignore[no-untyped-def]
        classification.append(output.view_mask.numpy().copy())
        return real_losses(output, labels, config, weights)

    def spy_contrastive(output, config):  # type: ignore[no-untyped-def]
        contrastive.append(output.view_mask.numpy().copy())
        return real_contrastive(output, config)

    monkeypatch.setattr(trainer_module, "compute_losses", spy_losses)
    monkeypatch.setattr(trainer_module, "contrastive_term", spy_contrastive)
    config = tiny_config(
        epochs=1, batch_size=8, contrastive_batch_size=5, view_subset_probability=1.0
    )
    train(config, tmp_path, progress=False)
    masks = np.concatenate(classification)
    assert masks.any(axis=1).all()
    assert (masks.sum(axis=1) < masks.shape[1]).mean() > 0.5  # tiny data: every view present
    assert np.concatenate(contrastive).all()


def test_view_subset_probability_must_lie_between_0_and_1() -> None:
    with pytest.raises(ValueError, match="view_subset_probability"):
        tiny_config(view_subset_probability=-0.1)


def test_shared_encoders_train_one_encoder_for_the_five_accelerometers(tmp_path: Path) -> None:
    train(tiny_config(epochs=1, share_encoders=True), tmp_path, progress=False)
    checkpoint = Checkpoint.load(tmp_path / "checkpoint.pt")
    assert len(checkpoint.model.encoders) == 1
    assert len({view.group for view in checkpoint.model.config.views}) == 1
    # The default keeps one encoder per view.
    assert not TrainConfig(data="x.npz").share_encoders


def test_only_views_an_encoder_can_take_alike_share_it() -> None:
    def view(
        name: str, modality: str, channels: int, root_joint: int = 0, scale_joint: int | None = None
    ) -> ViewInfo:
        channel_names = tuple(f"{name}{i}" for i in range(channels))
        return ViewInfo(name, modality, channel_names, 25.0, root_joint, scale_joint)

    left, right = view("left", "acc", 3), view("right", "acc", 3)
    assert shared_encoder_group(left) == shared_encoder_group(right)
    assert shared_encoder_group(left) != shared_encoder_group(view("gyro", "gyro", 3))
    assert shared_encoder_group(left) != shared_encoder_group(view("unit", "imu", 9))
    arm = view("arm", "pose3d", 9, root_joint=0, scale_joint=1)
    assert shared_encoder_group(arm) == shared_encoder_group(
        view("arm2", "pose3d", 9, root_joint=0, scale_joint=1)
    )
    assert shared_encoder_group(arm) != shared_encoder_group(
        view("arm3", "pose3d", 9, root_joint=1, scale_joint=0)
    )


def test_a_final_model_trains_on_its_validation_subject_and_keeps_the_last_epoch(
    tmp_path: Path,
) -> None:
    # As .npz: the DSADS fixture holds only subjects 1 and 2, and a test split needs others.
    real = load_dsads(
        FIXTURE_ZIP, window_seconds=4.0, hop_seconds=1.0, subjects=(1, 2), activities=(1, 9, 12)
    )
    save_npz(real, tmp_path / "mine.npz")
    config = tiny_config(
        data=str(tmp_path / "mine.npz"),
        activities=None,
        epochs=3,
        train_subjects=(1, 2),
        test_subjects=(),
        select_on="last",
        view_prior=False,
    )
    result = train(config, tmp_path / "run", progress=False)
    assert set(prepare_data(config).train.subject.tolist()) == {1, 2}
    assert (result.best_epoch, Checkpoint.load(result.checkpoint_path).epoch) == (3, 3)
    assert len(_records(tmp_path / "run")) == 3  # validation still draws the learning curves
