"""Training-time augmentation of view windows, in physical units, with numpy.

Every transform works on one window (T, C) or, vectorised with independent random draws
per sample, on a batch (B, T, C); `iterate_batches` uses the batched form.
Scaling and time warping follow Um et al., "Data augmentation of wearable sensor data for
Parkinson's disease monitoring using convolutional neural networks", ICMI 2017.
Apply these before normalisation: rotations are only meaningful on raw sensor axes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from training.data.views import MODALITIES, TRIPLET_MODALITIES

Array = npt.NDArray[np.float32]
Float64 = npt.NDArray[np.float64]

# Inertial rotations in `augment_view` are bounded: gravity's direction in the sensor frame
# is what tells sitting from lying, and an arbitrary rotation would erase it.
INERTIAL_MAX_ROTATION_DEG = 30.0
FLIP_PROBABILITY = 0.5


def _batched(x: np.ndarray) -> tuple[Float64, bool]:
    """(B, T, C) float64 view of a window or batch, and whether the input was one window."""
    array = np.asarray(x, dtype=np.float64)
    if array.ndim == 2:
        return array[None], True
    if array.ndim == 3:
        return array, False
    raise ValueError(f"expected a window (T, C) or a batch (B, T, C), got shape {array.shape}")


def _unbatched(x: Float64, single: bool) -> Array:
    out: Array = (x[0] if single else x).astype(np.float32)
    return out


# --- amplitude and time ---------------------------------------------------------------


def scale(x: np.ndarray, rng: np.random.Generator, sigma: float = 0.1) -> Array:
    """Multiply each channel by its own factor drawn from N(1, sigma)."""
    batch, single = _batched(x)
    factors = rng.normal(1.0, sigma, size=(batch.shape[0], 1, batch.shape[2]))
    return _unbatched(batch * factors, single)


def time_warp(x: np.ndarray, rng: np.random.Generator, sigma: float = 0.2, knots: int = 4) -> Array:
    """Resample along a smooth random time distortion; same length, same end points.

    The local playback speed is N(1, sigma) at `knots` + 2 evenly spaced points and linearly
    interpolated between them; its integral gives the warped time axis.
    """
    batch, single = _batched(x)
    size, length, _ = batch.shape
    if length < 2:
        return _unbatched(batch, single)
    knot_speeds = rng.normal(1.0, sigma, size=(size, knots + 2))
    # Linear interpolation from the knots to every time step, as one matrix: (T, knots + 2).
    knot_times = np.linspace(0, length - 1, knots + 2)
    weights = np.stack(
        [np.interp(np.arange(length), knot_times, row) for row in np.eye(knots + 2)], axis=1
    )
    speed = np.maximum(knot_speeds @ weights.T, 0.05)  # (B, T); time keeps moving forward
    warped = np.concatenate([np.zeros((size, 1)), np.cumsum(speed[:, :-1], axis=1)], axis=1)
    warped *= (length - 1) / warped[:, -1:]  # (B, T), from 0 to T-1
    left = np.minimum(np.floor(warped).astype(np.int64), length - 2)
    frac = (warped - left)[:, :, None]
    rows = np.arange(size)[:, None]
    lower, upper = batch[rows, left], batch[rows, left + 1]  # (B, T, C)
    return _unbatched(lower * (1.0 - frac) + upper * frac, single)


# --- rotations ------------------------------------------------------------------------


def random_rotations(
    rng: np.random.Generator, count: int, max_angle_deg: float | None = None
) -> Float64:
    """`count` random 3x3 rotations: uniform over SO(3), or about random axes up to an angle."""
    if max_angle_deg is None:
        # A normalised Gaussian 4-vector is a uniformly distributed unit quaternion.
        q = rng.normal(size=(count, 4))
        w, i, j, k = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
        rows = [
            [1 - 2 * (j * j + k * k), 2 * (i * j - k * w), 2 * (i * k + j * w)],
            [2 * (i * j + k * w), 1 - 2 * (i * i + k * k), 2 * (j * k - i * w)],
            [2 * (i * k - j * w), 2 * (j * k + i * w), 1 - 2 * (i * i + j * j)],
        ]
        quaternion_rotations: Float64 = np.stack([np.stack(row, axis=-1) for row in rows], axis=1)
        return quaternion_rotations
    axis = rng.normal(size=(count, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = np.deg2rad(rng.uniform(-max_angle_deg, max_angle_deg, size=(count, 1, 1)))
    zero = np.zeros(count)
    cross = np.stack(
        [
            np.stack([zero, -axis[:, 2], axis[:, 1]], axis=-1),
            np.stack([axis[:, 2], zero, -axis[:, 0]], axis=-1),
            np.stack([-axis[:, 1], axis[:, 0], zero], axis=-1),
        ],
        axis=1,
    )  # (count, 3, 3)
    # Rodrigues' formula.
    axis_rotations: Float64 = (
        np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross
    )
    return axis_rotations


def random_rotation(rng: np.random.Generator, max_angle_deg: float | None = None) -> Float64:
    """One random 3x3 rotation (see `random_rotations`)."""
    rotation: Float64 = random_rotations(rng, 1, max_angle_deg)[0]
    return rotation


def rotate_triplets(
    x: np.ndarray,
    rng: np.random.Generator,
    shared: bool = False,
    max_angle_deg: float | None = None,
) -> Array:
    """Rotate each consecutive (x, y, z) channel triplet (0-2, 3-5, ...) in 3D.

    Args:
        shared: one rotation for all triplets of a window (acc, gyro and mag of one rigid
            unit); otherwise an independent rotation per triplet.
        max_angle_deg: None = uniform over all rotations.
    """
    batch, single = _batched(x)
    size, length, channels = batch.shape
    if channels % 3:
        raise ValueError(f"rotate_triplets needs a multiple of 3 channels, got {channels}")
    triplets = batch.reshape(size, length, channels // 3, 3)
    per_window = 1 if shared else channels // 3
    rotations = random_rotations(rng, size * per_window, max_angle_deg)
    rotations = rotations.reshape(size, per_window, 3, 3)  # broadcasts over triplets if shared
    # Row vectors times R^T: (B, T, K, 1, 3) @ (B, 1, K or 1, 3, 3) -> (B, T, K, 3).
    rotated = (triplets[..., None, :] @ rotations.transpose(0, 1, 3, 2)[:, None])[..., 0, :]
    return _unbatched(rotated.reshape(size, length, channels), single)


def rotate_pose_vertical(x: np.ndarray, rng: np.random.Generator, vertical_axis: int = 1) -> Array:
    """Rotate all joints of a 3D pose sequence about the vertical axis through its centroid."""
    batch, single = _batched(x)
    size, length, channels = batch.shape
    if channels % 3:
        raise ValueError(f"pose3d needs joints x 3 channels, got {channels}")
    if vertical_axis not in (0, 1, 2):
        raise ValueError(f"vertical_axis must be 0, 1 or 2, got {vertical_axis}")
    joints = batch.reshape(size, length, channels // 3, 3)
    a, b = (axis for axis in range(3) if axis != vertical_axis)
    centre = joints[..., [a, b]].mean(axis=(1, 2), keepdims=True)  # (B, 1, 1, 2)
    angle = rng.uniform(0.0, 2 * np.pi, size=(size, 1, 1))
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = joints[..., a] - centre[..., 0], joints[..., b] - centre[..., 1]
    out = joints.copy()
    out[..., a] = centre[..., 0] + cos * u - sin * v
    out[..., b] = centre[..., 1] + sin * u + cos * v
    return _unbatched(out.reshape(size, length, channels), single)


# --- mirroring ------------------------------------------------------------------------


def flip_pose_horizontal(x: np.ndarray) -> Array:
    """Mirror a 2D pose sequence: negate the x coordinates (even channels) about their mean.

    Mirroring about the window's mean x, not 0, keeps pixel coordinates in range; for
    centred data it is plain negation. Joint labels are not swapped.
    """
    batch, single = _batched(x)
    if batch.shape[2] % 2:
        raise ValueError(f"pose2d needs joints x 2 channels, got {batch.shape[2]}")
    out = batch.copy()
    centre = out[:, :, 0::2].mean(axis=(1, 2), keepdims=True)
    out[:, :, 0::2] = 2.0 * centre - out[:, :, 0::2]
    return _unbatched(out, single)


# --- per modality ---------------------------------------------------------------------


# Transforms by name, for `augment_view(..., transforms=...)` and per-transform studies.
INERTIAL_TRANSFORMS: tuple[str, ...] = ("rotate", "scale", "time_warp")
POSE_TRANSFORMS: tuple[str, ...] = ("rotate", "flip", "time_warp")
TRANSFORMS: frozenset[str] = frozenset(INERTIAL_TRANSFORMS + POSE_TRANSFORMS)


def augment_view(
    x: np.ndarray,
    modality: str,
    rng: np.random.Generator,
    transforms: frozenset[str] | None = None,
    vertical_axis: int = 1,
    max_rotation_deg: float = INERTIAL_MAX_ROTATION_DEG,
) -> Array:
    """Apply the augmentations that suit a modality to one window (T, C) or a batch (B, T, C).

    acc/gyro/mag/imu: rotation up to `max_rotation_deg` about a random axis (one per imu
    window: its acc, gyro and mag turn together), per-channel scaling, time warp.
    pose3d: rotation about `vertical_axis`, time warp. pose2d: mirror with probability 1/2,
    time warp. `transforms` keeps a subset of {rotate, scale, flip, time_warp} (None: all
    that suit the modality).
    """
    if transforms is not None and not transforms <= TRANSFORMS:
        raise ValueError(
            f"unknown transforms {sorted(transforms - TRANSFORMS)}; known: {sorted(TRANSFORMS)}"
        )
    use = TRANSFORMS if transforms is None else transforms
    out: np.ndarray = np.asarray(x, dtype=np.float32)
    if modality in TRIPLET_MODALITIES:
        if "rotate" in use:
            out = rotate_triplets(
                out, rng, shared=modality == "imu", max_angle_deg=max_rotation_deg
            )
        if "scale" in use:
            out = scale(out, rng)
    elif modality == "pose3d":
        if "rotate" in use:
            out = rotate_pose_vertical(out, rng, vertical_axis=vertical_axis)
    elif modality == "pose2d":
        if "flip" in use:
            batch, single = _batched(out)
            flip = np.asarray(rng.random(batch.shape[0]) < FLIP_PROBABILITY)
            flipped = batch.astype(np.float32)
            if flip.any():
                flipped[flip] = flip_pose_horizontal(batch[flip])
            out = flipped[0] if single else flipped
    else:
        raise ValueError(f"unknown modality {modality!r}; known: {', '.join(MODALITIES)}")
    if "time_warp" in use:
        out = time_warp(out, rng)
    return out.astype(np.float32, copy=False)
