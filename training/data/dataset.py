"""The in-memory multi-view dataset every loader returns and every consumer reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from training.data.views import POSE_DIMS, view_problem


class DatasetError(ValueError):
    """Data that cannot be used: missing files or arrays, bad shapes, non-finite values."""


@dataclass(frozen=True)
class ViewInfo:
    """One view (sensor or sensor group) of a dataset.

    Pose views (`pose2d`, `pose3d`) may name joints by index into their own joint list:
    `root_joint` (default 0, the first joint) is subtracted from every joint per frame;
    `scale_joint` (default None: all joints) sets the body scale as its mean distance to
    the root; `vertical_axis` (pose3d, default 1 = y up) is the axis of the rotation
    augmentation.
    """

    name: str  # e.g. "torso"
    modality: str  # one of ralis.bundle.Modality
    channels: tuple[str, ...]  # e.g. ("torso_acc_x", "torso_acc_y", "torso_acc_z")
    sampling_rate_hz: float
    root_joint: int = 0
    scale_joint: int | None = None
    vertical_axis: int = 1

    def __post_init__(self) -> None:
        problem = view_problem(self.name, self.modality, len(self.channels))
        if problem is not None:
            raise DatasetError(problem)
        if self.modality in POSE_DIMS:
            num_joints = len(self.channels) // POSE_DIMS[self.modality]
            for key in ("root_joint", "scale_joint"):
                joint = getattr(self, key)
                if joint is not None and not (isinstance(joint, int) and 0 <= joint < num_joints):
                    raise DatasetError(
                        f"view '{self.name}': {key} must be a joint index in "
                        f"0..{num_joints - 1}, got {joint!r}"
                    )
        if self.vertical_axis not in (0, 1, 2):
            raise DatasetError(
                f"view '{self.name}': vertical_axis must be 0, 1 or 2, got {self.vertical_axis!r}"
            )
        if not self.sampling_rate_hz > 0:
            raise DatasetError(
                f"view '{self.name}': sampling_rate_hz must be positive, "
                f"got {self.sampling_rate_hz}"
            )

    @property
    def num_channels(self) -> int:
        return len(self.channels)

    @property
    def pose_dims(self) -> int:
        """2 or 3 for pose views, 0 otherwise."""
        return POSE_DIMS.get(self.modality, 0)

    def to_dict(self) -> dict[str, object]:
        """JSON form (checkpoints, npz metadata); pose fields only for pose views."""
        out: dict[str, object] = {
            "name": self.name,
            "modality": self.modality,
            "channels": list(self.channels),
            "sampling_rate_hz": self.sampling_rate_hz,
        }
        if self.pose_dims:
            out |= {"root_joint": self.root_joint, "scale_joint": self.scale_joint}
            if self.pose_dims == 3:
                out["vertical_axis"] = self.vertical_axis
        return out

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ViewInfo:
        """Inverse of `to_dict`."""
        fields = dict(data)
        fields["channels"] = tuple(fields["channels"])  # type: ignore[arg-type]
        return cls(**fields)  # type: ignore[arg-type]


@dataclass
class MultiViewDataset:
    """Windows of N samples over V views, with a per-sample view-presence mask.

    Content of a view's window where ``mask`` is False is undefined and must be ignored.
    """

    views: list[ViewInfo]
    x: dict[str, npt.NDArray[np.float32]]  # view name -> (N, T_v, C_v), time-major
    mask: npt.NDArray[np.bool_]  # (N, V), columns in `views` order
    y: npt.NDArray[np.int64]  # (N,), -1 = unlabelled
    subject: npt.NDArray[np.int64]  # (N,)
    class_names: list[str]
    # (N,) recording (trial) each window was cut from, for trial-level votes; None = unknown.
    trial: npt.NDArray[np.int64] | None = None
    # (N, 2) the first and last of the recording segments each window overlaps (ids
    # consecutive in time within a recording, unique across recordings), so that a
    # missing-view protocol can drop views per segment rather than per window; None = unknown.
    segments: npt.NDArray[np.int64] | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def view_names(self) -> list[str]:
        return [view.name for view in self.views]

    @property
    def num_views(self) -> int:
        return len(self.views)

    def subset(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.integer]) -> MultiViewDataset:
        """Rows selected by a boolean mask of length N or an integer index array (copies)."""
        index = np.asarray(index)
        if index.dtype == np.bool_:
            if index.shape != (len(self),):
                raise DatasetError(
                    f"boolean subset index has shape {index.shape}; expected ({len(self)},)"
                )
        elif not np.issubdtype(index.dtype, np.integer):
            if index.size:
                raise DatasetError(
                    f"subset index must be boolean or integer, got dtype {index.dtype}"
                )
            index = index.astype(np.int64)  # an empty list arrives as float64
        return MultiViewDataset(
            views=list(self.views),
            x={name: array[index] for name, array in self.x.items()},
            mask=self.mask[index],
            y=self.y[index],
            subject=self.subject[index],
            class_names=list(self.class_names),
            trial=None if self.trial is None else self.trial[index],
            segments=None if self.segments is None else self.segments[index],
        )

    def with_mask(self, mask: npt.NDArray[np.bool_]) -> MultiViewDataset:
        """The same samples with a different view mask (arrays are shared, not copied)."""
        mask = np.asarray(mask)
        if mask.shape != self.mask.shape or mask.dtype != np.bool_:
            raise DatasetError(
                f"mask must be bool of shape {self.mask.shape}, got {mask.dtype} {mask.shape}"
            )
        return MultiViewDataset(
            views=list(self.views),
            x=dict(self.x),
            mask=mask,
            y=self.y,
            subject=self.subject,
            class_names=list(self.class_names),
            trial=self.trial,
            segments=self.segments,
        )

    def validate(self) -> None:
        """Check shapes, dtypes, labels and finiteness of present views.

        Raises:
            DatasetError: naming the array and what is wrong with it.
        """
        n, num_views = len(self), len(self.views)
        names = self.view_names
        if num_views == 0:
            raise DatasetError("a dataset needs at least one view")
        if len(set(names)) != num_views:
            raise DatasetError(f"duplicate view names: {names}")
        if set(self.x) != set(names):
            raise DatasetError(
                f"x has arrays for {sorted(self.x)} but the views are {names}; they must match"
            )
        counts: dict[str, np.ndarray] = {"y": self.y, "subject": self.subject, "mask": self.mask}
        counts |= {f"x['{name}']": self.x[name] for name in names}
        if len({np.shape(array)[:1] for array in counts.values()}) != 1:
            listed = ", ".join(
                f"{key} {np.shape(a)[0] if np.ndim(a) else '-'}" for key, a in counts.items()
            )
            raise DatasetError(f"sample counts differ: {listed}; all need the same N")
        _check_array("y", self.y, (n,), np.int64)
        _check_array("subject", self.subject, (n,), np.int64)
        _check_array("mask", self.mask, (n, num_views), np.bool_)
        if self.trial is not None:
            _check_array("trial", self.trial, (n,), np.int64)
        if self.segments is not None:
            _check_array("segments", self.segments, (n, 2), np.int64)
            if n and (self.segments[:, 1] < self.segments[:, 0]).any():
                raise DatasetError("segments: a window's last segment precedes its first")
        if not self.class_names:
            raise DatasetError("class_names is empty; at least one class is needed")
        if n and (self.y.min() < -1 or self.y.max() >= len(self.class_names)):
            raise DatasetError(
                f"labels y must be -1 (unlabelled) or 0..{len(self.class_names) - 1} "
                f"for {len(self.class_names)} classes; found {self.y.min()}..{self.y.max()}"
            )
        for column, view in enumerate(self.views):
            array = self.x[view.name]
            if array.ndim != 3 or array.shape[0] != n or array.shape[2] != view.num_channels:
                raise DatasetError(
                    f"x['{view.name}'] has shape {array.shape}; expected "
                    f"(N={n}, T, C={view.num_channels})"
                )
            if array.dtype != np.float32:
                raise DatasetError(f"x['{view.name}'] has dtype {array.dtype}; expected float32")
            present = self.mask[:, column]
            finite = np.isfinite(array).all(axis=(1, 2))
            bad = np.flatnonzero(present & ~finite)
            if bad.size:
                raise DatasetError(
                    f"x['{view.name}'] has NaN or infinite values in {bad.size} samples where "
                    f"the view is present (first: sample {bad[0]}); mark them absent in mask "
                    "or fix the data"
                )


def _check_array(name: str, array: np.ndarray, shape: tuple[int, ...], dtype: type) -> None:
    if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != dtype:
        got = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array)
        raise DatasetError(f"{name} must be {np.dtype(dtype)} of shape {shape}, got {got}")
