from __future__ import annotations

import numpy as np
import pytest

from tests.training.data.synthetic import make_dataset
from training.data.dsads import DSADS_POSITIONS
from training.data.protocols import (
    DSADS_VIEW_DROP_RATES,
    apply_per_view_drop,
    apply_protocol,
    apply_uniform_drop,
    uniform_drop_probability,
)

N = 20_000
FIVE_VIEWS = tuple((name, "acc", 3, 2) for name in DSADS_POSITIONS)


def five_view_dataset():  # type: ignore[no-untyped-def]
    return make_dataset(n=N, views=FIVE_VIEWS)


def conditional_drop_rate(rates: np.ndarray) -> np.ndarray:
    """P(view dropped | sample kept), since samples that lost every view are removed."""
    all_dropped = np.prod(rates)
    return (rates - all_dropped) / (1 - all_dropped)


def test_uniform_probability() -> None:
    assert uniform_drop_probability(5) == pytest.approx(10**-0.6)
    assert uniform_drop_probability(1) == pytest.approx(1e-3)
    assert uniform_drop_probability(3) ** 3 == pytest.approx(1e-3)
    with pytest.raises(ValueError):
        uniform_drop_probability(0)


def test_uniform_drop_matches_its_rate() -> None:
    data = five_view_dataset()
    dropped = apply_uniform_drop(data, seed=7)
    p = uniform_drop_probability(5)
    assert dropped.mask.any(axis=1).all()
    expected = conditional_drop_rate(np.full(5, p))
    np.testing.assert_allclose(1 - dropped.mask.mean(axis=0), expected, atol=0.015)
    # About N * p^5 = 20 samples lose every view.
    assert 0 < N - len(dropped) < 60
    dropped.validate()


def test_per_view_drop_matches_the_dsads_rates() -> None:
    data = five_view_dataset()
    dropped = apply_per_view_drop(data, DSADS_VIEW_DROP_RATES, seed=3)
    rates = np.array([DSADS_VIEW_DROP_RATES[name] for name in DSADS_POSITIONS])
    assert dropped.mask.any(axis=1).all()
    np.testing.assert_allclose(
        1 - dropped.mask.mean(axis=0), conditional_drop_rate(rates), atol=0.015
    )
    removed_share = 1 - len(dropped) / N
    assert removed_share == pytest.approx(np.prod(rates), abs=0.006)  # about 4.5 %


def test_kept_samples_are_the_same_samples() -> None:
    data = five_view_dataset()
    dropped = apply_uniform_drop(data, seed=1)
    rows = np.array(
        [
            np.flatnonzero((data.x["torso"] == w).all(axis=(1, 2)))[0]
            for w in dropped.x["torso"][:50]
        ]
    )
    np.testing.assert_array_equal(dropped.y[:50], data.y[rows])
    np.testing.assert_array_equal(dropped.x["left_leg"][:50], data.x["left_leg"][rows])


def test_seeded_and_reproducible() -> None:
    data = five_view_dataset()
    first = apply_protocol(data, "uniform", seed=11)
    again = apply_protocol(data, "uniform", seed=11)
    other = apply_protocol(data, "uniform", seed=12)
    np.testing.assert_array_equal(first.mask, again.mask)
    np.testing.assert_array_equal(first.y, again.y)
    assert not np.array_equal(first.mask[:1000], other.mask[:1000])


def test_already_absent_views_stay_absent() -> None:
    data = make_dataset(n=2000, views=FIVE_VIEWS)
    data.mask[:, 0] = False
    data.mask[:10] = False  # these have no view at all and are removed
    dropped = apply_uniform_drop(data, seed=0, p=0.0)
    assert len(dropped) == 1990 and not dropped.mask[:, 0].any() and dropped.mask[:, 1:].all()


def test_protocol_dispatch_and_errors() -> None:
    data = make_dataset(n=100, views=FIVE_VIEWS)
    assert apply_protocol(data, "complete", seed=0) is data
    per_view = apply_protocol(data, "per_view", seed=0)
    np.testing.assert_array_equal(
        per_view.mask, apply_per_view_drop(data, DSADS_VIEW_DROP_RATES, seed=0).mask
    )
    custom = apply_protocol(data, "per_view", seed=0, rates=dict.fromkeys(DSADS_POSITIONS, 1.0))
    assert len(custom) == 0
    with pytest.raises(ValueError, match="unknown protocol 'random'"):
        apply_protocol(data, "random", seed=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"no drop rate for views \['a', 'b'\]"):
        apply_per_view_drop(make_dataset(), DSADS_VIEW_DROP_RATES, seed=0)
    with pytest.raises(ValueError, match=r"drop rates must lie in \[0, 1\]"):
        apply_uniform_drop(data, seed=0, p=1.5)


def _segmented(first: list[int], last: list[int]) -> object:
    data = make_dataset(n=len(first), views=FIVE_VIEWS)
    data.segments = np.stack([first, last], axis=1).astype(np.int64)
    data.validate()
    return data


def test_segment_drop_keeps_a_view_only_where_every_overlapped_segment_keeps_it() -> None:
    """Windows cycle through lying inside segment s, straddling s and s + 1, and spanning
    s .. s + 2. Per segment a view survives with probability 1 - p, so these windows keep it
    with 1 - p, (1 - p)^2 and (1 - p)^3. The torso is never dropped, so no window loses
    every view and none is removed."""
    segments = 30_000
    spans = (0, 1, 2)
    first = [s for s in range(segments - 2) for _ in spans]
    last = [s + extra for s in range(segments - 2) for extra in spans]
    data = _segmented(first, last)
    p = 0.3
    rates = {name: (0.0 if name == "torso" else p) for name in DSADS_POSITIONS}
    dropped = apply_per_view_drop(data, rates, seed=3, unit="segment")  # type: ignore[arg-type]
    assert len(dropped) == len(data)
    mask = dropped.mask[:, 1:]  # the four views that can be dropped
    one, two, three = mask[0::3], mask[1::3], mask[2::3]
    assert one.mean() == pytest.approx(1 - p, abs=0.005)
    assert two.mean() == pytest.approx((1 - p) ** 2, abs=0.005)
    assert three.mean() == pytest.approx((1 - p) ** 3, abs=0.005)
    # Each segment decides once for every window over it: a window spanning several
    # segments keeps exactly what all of them keep (window 3s alone is segment s).
    np.testing.assert_array_equal(two[:-1], one[:-1] & one[1:])
    np.testing.assert_array_equal(three[:-2], one[:-2] & one[1:-1] & one[2:])


def test_segment_drop_needs_segments() -> None:
    data = five_view_dataset()
    with pytest.raises(ValueError, match="per segment only where the loader knows"):
        apply_protocol(data, "uniform", seed=0, unit="segment")
