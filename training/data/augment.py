"""Training-time augmentation of one view window (T, C), in physical units, with numpy.

Scaling and time warping follow Um et al., "Data augmentation of wearable sensor data for
Parkinson's disease monitoring using convolutional neural networks", ICMI 2017.
Apply these before normalisation: rotations are only meaningful on raw sensor axes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from training.data.views import MODALITIES, TRIPLET_MODALITIES

Array = npt.NDArray[np.float32]

# Inertial rotations in `augment_view` are bounded: gravity's direction in the sensor frame
# is what tells sitting from lying, and an arbitrary rotation would erase it.
INERTIAL_MAX_ROTATION_DEG = 30.0
FLIP_PROBABILITY = 0.5


def scale(x: np.ndarray, rng: np.random.Generator, sigma: float = 0.1) -> Array:
    """Multiply each channel by its own factor drawn from N(1, sigma)."""
    factors = rng.normal(1.0, sigma, size=(1, x.shape[1]))
    return (x * factors).astype(np.float32)


def time_warp(x: np.ndarray, rng: np.random.Generator, sigma: float = 0.2, knots: int = 4) -> Array:
    """Resample along a smooth random time distortion; same length, same end points.

    The local playback speed is N(1, sigma) at `knots` + 2 evenly spaced points and linearly
    interpolated between them; its integral gives the warped time axis.
    """
    length = x.shape[0]
    if length < 2:
        return np.array(x, dtype=np.float32)
    knot_speeds = rng.normal(1.0, sigma, size=knots + 2)
    speed = np.interp(np.arange(length), np.linspace(0, length - 1, knots + 2), knot_speeds)
    speed = np.maximum(speed, 0.05)  # time must keep moving forward
    warped = np.concatenate([[0.0], np.cumsum(speed[:-1])])
    warped *= (length - 1) / warped[-1]  # (T,), from 0 to T-1
    left = np.minimum(np.floor(warped).astype(np.int64), length - 2)
    frac = (warped - left)[:, None]
    warped_x: Array = (x[left] * (1.0 - frac) + x[left + 1] * frac).astype(np.float32)
    return warped_x


def random_rotation(
    rng: np.random.Generator, max_angle_deg: float | None = None
) -> npt.NDArray[np.float64]:
    """A random 3x3 rotation: uniform over SO(3), or about a random axis up to an angle."""
    if max_angle_deg is None:
        # A normalised Gaussian 4-vector is a uniformly distributed unit quaternion.
        q = rng.normal(size=4)
        w, i, j, k = q / np.linalg.norm(q)
        return np.array(
            [
                [1 - 2 * (j * j + k * k), 2 * (i * j - k * w), 2 * (i * k + j * w)],
                [2 * (i * j + k * w), 1 - 2 * (i * i + k * k), 2 * (j * k - i * w)],
                [2 * (i * k - j * w), 2 * (j * k + i * w), 1 - 2 * (i * i + j * j)],
            ]
        )
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.deg2rad(rng.uniform(-max_angle_deg, max_angle_deg))
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    # Rodrigues' formula.
    rotation: npt.NDArray[np.float64] = (
        np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross
    )
    return rotation


def rotate_triplets(
    x: np.ndarray,
    rng: np.random.Generator,
    shared: bool = False,
    max_angle_deg: float | None = None,
) -> Array:
    """Rotate each consecutive (x, y, z) channel triplet (0-2, 3-5, ...) in 3D.

    Args:
        shared: one rotation for all triplets (acc, gyro and mag of one rigid unit);
            otherwise an independent rotation per triplet.
        max_angle_deg: None = uniform over all rotations.
    """
    length, channels = x.shape
    if channels % 3:
        raise ValueError(f"rotate_triplets needs a multiple of 3 channels, got {channels}")
    triplets = x.reshape(length, channels // 3, 3).astype(np.float64)
    count = 1 if shared else channels // 3
    rotations = np.stack([random_rotation(rng, max_angle_deg) for _ in range(count)])
    rotations = np.broadcast_to(rotations, (channels // 3, 3, 3))
    rotated: npt.NDArray[np.float64] = np.einsum("kij,tkj->tki", rotations, triplets)  # (T, K, 3)
    return rotated.reshape(length, channels).astype(np.float32)


def rotate_pose_vertical(x: np.ndarray, rng: np.random.Generator, vertical_axis: int = 1) -> Array:
    """Rotate all joints of a 3D pose sequence about the vertical axis through its centroid."""
    length, channels = x.shape
    if channels % 3:
        raise ValueError(f"pose3d needs joints x 3 channels, got {channels}")
    if vertical_axis not in (0, 1, 2):
        raise ValueError(f"vertical_axis must be 0, 1 or 2, got {vertical_axis}")
    joints = x.reshape(length, channels // 3, 3).astype(np.float64)
    a, b = (axis for axis in range(3) if axis != vertical_axis)
    centre = joints[:, :, [a, b]].mean(axis=(0, 1))
    angle = rng.uniform(0.0, 2 * np.pi)
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = joints[:, :, a] - centre[0], joints[:, :, b] - centre[1]
    out = joints.copy()
    out[:, :, a] = centre[0] + cos * u - sin * v
    out[:, :, b] = centre[1] + sin * u + cos * v
    return out.reshape(length, channels).astype(np.float32)


def flip_pose_horizontal(x: np.ndarray) -> Array:
    """Mirror a 2D pose sequence: negate the x coordinates (even channels) about their mean.

    Mirroring about the window's mean x, not 0, keeps pixel coordinates in range; for
    centred data it is plain negation. Joint labels are not swapped.
    """
    if x.shape[1] % 2:
        raise ValueError(f"pose2d needs joints x 2 channels, got {x.shape[1]}")
    out = np.array(x, dtype=np.float64)
    centre = out[:, 0::2].mean()
    out[:, 0::2] = 2.0 * centre - out[:, 0::2]
    return out.astype(np.float32)


def augment_view(x: np.ndarray, modality: str, rng: np.random.Generator) -> Array:
    """Apply the augmentations that suit a modality to one (T, C) window."""
    if modality in TRIPLET_MODALITIES:
        # An imu view is one rigid unit: its acc, gyro and mag turn together.
        out = rotate_triplets(
            x, rng, shared=modality == "imu", max_angle_deg=INERTIAL_MAX_ROTATION_DEG
        )
        return time_warp(scale(out, rng), rng)
    if modality == "pose3d":
        return time_warp(rotate_pose_vertical(x, rng), rng)
    if modality == "pose2d":
        out = flip_pose_horizontal(x) if rng.random() < FLIP_PROBABILITY else x
        return time_warp(out, rng)
    raise ValueError(f"unknown modality {modality!r}; known: {', '.join(MODALITIES)}")
