from __future__ import annotations

import numpy as np
import pytest

from tests.training.data.synthetic import make_dataset
from training.data.batches import iterate_batches
from training.data.normalize import Normalizer


def masked_dataset():  # type: ignore[no-untyped-def]
    data = make_dataset(n=25)
    data.mask[::3, 0] = False
    data.mask[1::4, 1] = False
    data.mask[0] = [False, True]
    return data


def test_batches_are_channel_major_with_absent_views_zeroed() -> None:
    data = masked_dataset()
    batches = list(iterate_batches(data, 8, shuffle=False, rng=None, augment=False))
    assert [len(b["y"]) for b in batches] == [8, 8, 8, 1]
    first = batches[0]
    assert first["x"]["a"].shape == (8, 3, 20) and first["x"]["b"].shape == (8, 9, 10)
    assert first["x"]["a"].dtype == np.float32 and first["x"]["a"].flags.c_contiguous
    assert first["mask"].dtype == np.bool_ and first["y"].dtype == np.int64
    for row in range(8):
        for column, name in enumerate(("a", "b")):
            expected = data.x[name][row].T if data.mask[row, column] else 0.0
            np.testing.assert_array_equal(first["x"][name][row], expected)
    np.testing.assert_array_equal(first["mask"], data.mask[:8])
    np.testing.assert_array_equal(np.concatenate([b["index"] for b in batches]), np.arange(25))


def test_shuffle_visits_every_sample_once_and_drop_last() -> None:
    data = masked_dataset()
    batches = list(iterate_batches(data, 8, True, np.random.default_rng(0), False, drop_last=True))
    assert [len(b["y"]) for b in batches] == [8, 8, 8]
    seen = np.concatenate([b["index"] for b in batches])
    assert len(set(seen.tolist())) == 24 and not np.array_equal(seen, np.arange(24))
    for batch in batches:
        np.testing.assert_array_equal(batch["y"], data.y[batch["index"]])
        np.testing.assert_array_equal(
            batch["x"]["b"],
            data.x["b"][batch["index"]].transpose(0, 2, 1) * batch["mask"][:, 1, None, None],
        )


def test_augmentation_changes_present_views_only_and_is_seeded() -> None:
    data = masked_dataset()
    original = {name: array.copy() for name, array in data.x.items()}

    def run(seed: int) -> list:  # type: ignore[type-arg]
        return list(iterate_batches(data, 10, False, np.random.default_rng(seed), augment=True))

    batches = run(0)
    batch = batches[0]
    present = batch["mask"][:, 0]
    assert (batch["x"]["a"][~present] == 0).all()
    plain = data.x["a"][:10].transpose(0, 2, 1)
    assert not np.allclose(batch["x"]["a"][present], plain[present])
    np.testing.assert_array_equal(run(0)[0]["x"]["b"], batch["x"]["b"])
    for name in original:  # the dataset itself is untouched
        np.testing.assert_array_equal(data.x[name], original[name])


def test_normalizer_is_applied_after_augmentation() -> None:
    data = make_dataset(n=30)
    data.x["a"] += np.float32(50.0)
    norm = Normalizer.fit(data)
    (batch,) = iterate_batches(data, 30, False, None, augment=False, normalizer=norm)
    np.testing.assert_allclose(batch["x"]["a"], norm.apply(data).x["a"].transpose(0, 2, 1))
    assert abs(batch["x"]["a"].mean()) < 0.1


def test_arguments_are_checked() -> None:
    data = make_dataset()
    with pytest.raises(ValueError, match="need an rng"):
        next(iterate_batches(data, 4, shuffle=True, rng=None, augment=False))
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        next(iterate_batches(data, 0, shuffle=False, rng=None, augment=False))


def test_augment_probability_leaves_the_rest_of_the_windows_as_recorded() -> None:
    data = make_dataset(n=400)
    plain = data.x["a"].transpose(0, 2, 1)

    def augmented_rows(probability: float) -> np.ndarray:
        (batch,) = iterate_batches(
            data, 400, False, np.random.default_rng(1), True, augment_probability=probability
        )
        return ~np.isclose(batch["x"]["a"], plain).all(axis=(1, 2))

    assert augmented_rows(1.0).all()
    assert not augmented_rows(0.0).any()
    half = augmented_rows(0.5)
    assert 160 <= half.sum() <= 240  # Binomial(400, 1/2): mean 200, std 10
    # Probability 1 draws nothing extra: the same stream as before the option existed.
    (before,) = iterate_batches(data, 400, False, np.random.default_rng(1), True)
    (after,) = iterate_batches(
        data, 400, False, np.random.default_rng(1), True, augment_probability=1.0
    )
    np.testing.assert_array_equal(before["x"]["a"], after["x"]["a"])
    with pytest.raises(ValueError, match="augment_probability"):
        next(iterate_batches(data, 4, False, np.random.default_rng(0), True, augment_probability=2))


def test_rotation_bound_reaches_the_augmentation() -> None:
    data = make_dataset(n=64)
    plain = data.x["a"].transpose(0, 2, 1)
    rotate = frozenset({"rotate"})

    def largest_turn(bound: float) -> float:
        (batch,) = iterate_batches(
            data,
            64,
            False,
            np.random.default_rng(3),
            True,
            transforms=rotate,
            max_rotation_deg=bound,
        )
        after = batch["x"]["a"]  # (B, 3, T): the x, y, z rows of an acc window
        cos = (plain * after).sum(axis=1) / (
            np.linalg.norm(plain, axis=1) * np.linalg.norm(after, axis=1)
        )
        return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).max())

    assert largest_turn(0.0) < 0.1
    assert 8.0 < largest_turn(10.0) <= 10.001
