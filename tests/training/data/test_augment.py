from __future__ import annotations

import numpy as np
import pytest

from training.data.augment import (
    augment_view,
    flip_pose_horizontal,
    random_rotation,
    rotate_pose_vertical,
    rotate_triplets,
    scale,
    time_warp,
)
from training.data.views import MODALITIES


def window(t: int = 50, c: int = 9, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(t, c)).astype(np.float32)


def rng(seed: int = 1) -> np.random.Generator:
    return np.random.default_rng(seed)


def triplet_norms(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x.reshape(x.shape[0], -1, 3), axis=2)  # (T, K)


@pytest.mark.parametrize("max_angle", [None, 30.0])
def test_random_rotation_is_a_proper_rotation(max_angle: float | None) -> None:
    generator = rng()
    for _ in range(20):
        rotation = random_rotation(generator, max_angle)
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(rotation) == pytest.approx(1.0)
        if max_angle is not None:
            angle = np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1, 1)))
            assert angle <= max_angle + 1e-9


def test_rotation_preserves_triplet_norms_at_every_step() -> None:
    x = window()
    rotated = rotate_triplets(x, rng())
    assert rotated.shape == x.shape and rotated.dtype == np.float32
    np.testing.assert_allclose(triplet_norms(rotated), triplet_norms(x), rtol=1e-5)
    assert not np.allclose(rotated, x)


def test_shared_rotation_keeps_angles_between_triplets() -> None:
    x = window()  # acc, gyro, mag of one unit

    def dots(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = a.reshape(a.shape[0], 3, 3)
        return np.einsum("ti,ti->t", k[:, 0], k[:, 1]), np.einsum("ti,ti->t", k[:, 1], k[:, 2])

    shared = rotate_triplets(x, rng(), shared=True)
    np.testing.assert_allclose(dots(shared), dots(x), rtol=1e-4, atol=1e-5)
    independent = rotate_triplets(x, rng(), shared=False)
    assert not np.allclose(dots(independent), dots(x), atol=1e-3)


def test_rotation_needs_triplets() -> None:
    with pytest.raises(ValueError, match="multiple of 3"):
        rotate_triplets(window(c=4), rng())


def test_scale_keeps_shape_and_scales_whole_channels() -> None:
    x = window()
    scaled = scale(x, rng(), sigma=0.1)
    assert scaled.shape == x.shape and scaled.dtype == np.float32
    ratio = scaled / x
    np.testing.assert_allclose(
        ratio, np.broadcast_to(ratio[:1], ratio.shape), rtol=1e-5
    )  # one factor per channel
    assert np.all(np.abs(ratio[0] - 1) < 0.6) and len(set(ratio[0].round(6))) == 9
    np.testing.assert_array_equal(scale(x, rng(), sigma=0.0), x)


def test_time_warp_keeps_shape_and_is_identity_without_noise() -> None:
    x = window()
    warped = time_warp(x, rng(), sigma=0.2)
    assert warped.shape == x.shape and warped.dtype == np.float32
    assert not np.allclose(warped, x)
    np.testing.assert_array_equal(warped[[0, -1]], x[[0, -1]])  # same start and end
    np.testing.assert_array_equal(time_warp(x, rng(), sigma=0.0), x)


def test_time_warp_is_a_monotone_resampling() -> None:
    ramp = np.linspace(0, 1, 100, dtype=np.float32)[:, None]
    for seed in range(10):
        warped = time_warp(ramp, rng(seed), sigma=0.5)[:, 0]
        assert (np.diff(warped) > 0).all()
        assert warped.min() >= 0 and warped.max() <= 1


def test_vertical_rotation_keeps_height_and_joint_distances() -> None:
    joints = 17
    x = window(t=30, c=joints * 3)
    for vertical in (0, 1, 2):
        rotated = rotate_pose_vertical(x, rng(), vertical_axis=vertical)
        assert rotated.shape == x.shape
        np.testing.assert_allclose(rotated[:, vertical::3], x[:, vertical::3], rtol=1e-6)
        before = x.reshape(30, joints, 3)
        after = rotated.reshape(30, joints, 3)
        distances = lambda p: np.linalg.norm(p[:, :, None] - p[:, None], axis=-1)  # noqa: E731
        np.testing.assert_allclose(distances(after), distances(before), rtol=1e-4, atol=1e-5)
        assert not np.allclose(rotated, x)
    with pytest.raises(ValueError, match="joints x 3"):
        rotate_pose_vertical(window(c=4), rng())


def test_flip_is_an_involution_that_mirrors_x() -> None:
    x = window(t=20, c=34)
    flipped = flip_pose_horizontal(x)
    np.testing.assert_array_equal(flipped[:, 1::2], x[:, 1::2])  # y untouched
    centre = x[:, 0::2].mean()
    np.testing.assert_allclose(flipped[:, 0::2] - centre, -(x[:, 0::2] - centre), atol=1e-5)
    np.testing.assert_allclose(flip_pose_horizontal(flipped), x, atol=1e-5)
    centred = x.copy()
    centred[:, 0::2] -= centred[:, 0::2].mean()
    np.testing.assert_allclose(flip_pose_horizontal(centred)[:, 0::2], -centred[:, 0::2], atol=1e-6)
    with pytest.raises(ValueError, match="joints x 2"):
        flip_pose_horizontal(window(c=3))


@pytest.mark.parametrize("modality", MODALITIES)
def test_augment_view_handles_every_modality(modality: str) -> None:
    channels = {"pose2d": 34, "pose3d": 51, "imu": 9}.get(modality, 3)
    x = window(c=channels)
    out = augment_view(x, modality, rng())
    assert out.shape == x.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert not np.array_equal(out, x)
    np.testing.assert_array_equal(augment_view(x, modality, rng()), out)  # seeded


def test_augment_view_refuses_unknown_modality() -> None:
    with pytest.raises(ValueError, match="unknown modality 'video'"):
        augment_view(window(), "video", rng())


# --- batched use: independent draws per sample ---------------------------------------


def batch(b: int = 6, t: int = 40, c: int = 9) -> np.ndarray:
    return np.random.default_rng(5).normal(size=(b, t, c)).astype(np.float32)


def test_batched_rotation_differs_per_sample_and_keeps_norms() -> None:
    x = np.repeat(window(t=40)[None], 6, axis=0)  # six copies of one window
    rotated = rotate_triplets(x, rng(), shared=True, max_angle_deg=30.0)
    assert rotated.shape == x.shape
    np.testing.assert_allclose(triplet_norms(rotated[3]), triplet_norms(x[3]), rtol=1e-5)
    assert not np.allclose(rotated[0], rotated[1])


def test_batched_transforms_match_their_single_window_contract() -> None:
    x = batch()
    np.testing.assert_array_equal(time_warp(x, rng(), sigma=0.0), x)
    warped = time_warp(x, rng())
    np.testing.assert_array_equal(warped[:, [0, -1]], x[:, [0, -1]])
    assert not np.allclose(warped[0] - x[0], warped[1] - x[1])
    scaled = scale(x, rng())
    ratios = (scaled / x)[:, 0]
    assert not np.allclose(ratios[0], ratios[1])
    pose = batch(c=30)
    turned = rotate_pose_vertical(pose, rng())
    np.testing.assert_allclose(turned[..., 1::3], pose[..., 1::3], rtol=1e-6)
    np.testing.assert_allclose(flip_pose_horizontal(flip_pose_horizontal(pose)), pose, atol=1e-5)
    with pytest.raises(ValueError, match="expected a window"):
        scale(np.zeros(5), rng())


@pytest.mark.parametrize("modality", MODALITIES)
def test_augment_view_on_a_batch(modality: str) -> None:
    channels = {"pose2d": 34, "pose3d": 51, "imu": 9}.get(modality, 3)
    x = batch(b=8, c=channels)
    out = augment_view(x, modality, rng())
    assert out.shape == x.shape and out.dtype == np.float32 and np.isfinite(out).all()


def test_transform_subsets_leave_the_others_out() -> None:
    x = np.random.default_rng(1).normal(size=(4, 50, 3)).astype(np.float32)
    untouched = augment_view(x, "acc", np.random.default_rng(0), transforms=frozenset())
    np.testing.assert_array_equal(untouched, x)
    rotated = augment_view(x, "acc", np.random.default_rng(0), transforms=frozenset({"rotate"}))
    # A rotation alone keeps every sample's norm; scaling would not.
    np.testing.assert_allclose(
        np.linalg.norm(rotated, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5
    )
    with pytest.raises(ValueError, match="unknown transforms"):
        augment_view(x, "acc", np.random.default_rng(0), transforms=frozenset({"spin"}))


def test_pose3d_rotation_uses_the_given_vertical_axis() -> None:
    x = np.random.default_rng(2).normal(size=(3, 10, 12)).astype(np.float32)
    out = augment_view(
        x, "pose3d", np.random.default_rng(0), transforms=frozenset({"rotate"}), vertical_axis=2
    )
    np.testing.assert_allclose(out[..., 2::3], x[..., 2::3], rtol=1e-6)  # z (height) kept
    assert not np.allclose(out[..., 0::3], x[..., 0::3])


def turned_degrees(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Angle between each 3-vector and its image: a rotation by theta about any axis turns
    no vector by more than theta."""
    cos = np.sum(before * after, axis=-1) / (
        np.linalg.norm(before, axis=-1) * np.linalg.norm(after, axis=-1)
    )
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


@pytest.mark.parametrize("bound", [5.0, 15.0, 30.0])
def test_inertial_rotation_respects_the_bound(bound: float) -> None:
    x = np.random.default_rng(2).normal(size=(64, 40, 3)).astype(np.float32)
    rotated = augment_view(
        x, "acc", np.random.default_rng(0), transforms=frozenset({"rotate"}), max_rotation_deg=bound
    )
    turned = turned_degrees(x.astype(np.float64), rotated.astype(np.float64))
    assert turned.max() <= bound + 1e-3
    # Random axes and uniform angles up to the bound: some window turns a vector near it.
    assert turned.max() > 0.8 * bound
    no_rotation = augment_view(
        x, "acc", np.random.default_rng(0), transforms=frozenset({"rotate"}), max_rotation_deg=0.0
    )
    np.testing.assert_allclose(no_rotation, x, atol=1e-6)
