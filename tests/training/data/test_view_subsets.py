"""`keep_random_view_subsets`: each window kept whole or cut to a non-empty subset of its own
views, subset sizes uniform over 1..present, nothing drawn at probability 0."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from training.data.view_subsets import keep_random_view_subsets


def test_probability_zero_returns_the_mask_and_draws_nothing() -> None:
    mask = np.ones((8, 5), dtype=bool)
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert keep_random_view_subsets(mask, 0.0, rng) is mask
    assert rng.bit_generator.state == state


def test_every_window_keeps_a_non_empty_subset_of_its_own_views() -> None:
    rng = np.random.default_rng(1)
    mask = rng.random((2000, 5)) < 0.7
    mask[:, 0] |= ~mask.any(axis=1)  # every window has a view, as the loaders guarantee
    original = mask.copy()
    cut = keep_random_view_subsets(mask, 1.0, rng)
    np.testing.assert_array_equal(mask, original)  # the input is left alone
    assert cut.any(axis=1).all()
    assert not (cut & ~mask).any()  # no view that was missing appears
    single = mask.sum(axis=1) == 1
    np.testing.assert_array_equal(cut[single], mask[single])


def test_subset_sizes_are_uniform_and_half_the_windows_are_cut() -> None:
    rng = np.random.default_rng(2)
    mask = np.ones((20000, 5), dtype=bool)
    cut = keep_random_view_subsets(mask, 0.5, rng)
    changed = (cut != mask).any(axis=1)
    # A chosen window drawing size 5 stays whole: 1/2 * 4/5 of the windows change.
    assert changed.mean() == pytest.approx(0.5 * 4 / 5, abs=0.015)
    sizes = Counter(cut[(cut != mask).any(axis=1)].sum(axis=1).tolist())
    for size in (1, 2, 3, 4):
        assert sizes[size] / changed.sum() == pytest.approx(0.25, abs=0.02)
    # Each view is as likely as any other to be kept.
    kept = cut[changed].mean(axis=0)
    assert np.ptp(kept) < 0.03


def test_a_probability_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        keep_random_view_subsets(np.ones((2, 2), dtype=bool), 1.5, np.random.default_rng(0))
