"""Per-view, per-channel standardisation fitted on training data only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from training.data.dataset import DatasetError, MultiViewDataset

STD_FLOOR = 1e-6  # a constant channel must not divide by zero


@dataclass(frozen=True)
class Normalizer:
    """Channel means and standard deviations of each view: x' = (x - mean) / std."""

    mean: dict[str, npt.NDArray[np.float32]]  # view -> (C_v,)
    std: dict[str, npt.NDArray[np.float32]]  # view -> (C_v,), >= STD_FLOOR

    @classmethod
    def fit(cls, dataset: MultiViewDataset) -> Normalizer:
        """Statistics over all time steps of the samples where each view is present.

        Pose views get the identity (mean 0, std 1): the model root-centres and scales
        their joints itself (model/pose.py), which per-channel statistics would break.
        """
        mean, std = {}, {}
        for column, view in enumerate(dataset.views):
            name = view.name
            if view.pose_dims:
                mean[name] = np.zeros(view.num_channels, dtype=np.float32)
                std[name] = np.ones(view.num_channels, dtype=np.float32)
                continue
            present = dataset.x[name][dataset.mask[:, column]]  # (n, T, C)
            if present.shape[0] == 0:
                raise DatasetError(f"cannot fit normalisation: view '{name}' is never present")
            flat = present.reshape(-1, present.shape[-1]).astype(np.float64)
            mean[name] = flat.mean(axis=0).astype(np.float32)
            std[name] = np.maximum(flat.std(axis=0), STD_FLOOR).astype(np.float32)
        return cls(mean=mean, std=std)

    def apply(self, dataset: MultiViewDataset) -> MultiViewDataset:
        """A new dataset with every view standardised (absent windows too; they stay ignored)."""
        missing = sorted(set(dataset.view_names) - set(self.mean))
        if missing:
            raise DatasetError(
                f"no normalisation statistics for views {missing}; fitted for {sorted(self.mean)}"
            )
        x = {name: self.apply_view(name, array) for name, array in dataset.x.items()}
        return MultiViewDataset(
            views=list(dataset.views),
            x=x,
            mask=dataset.mask.copy(),
            y=dataset.y.copy(),
            subject=dataset.subject.copy(),
            class_names=list(dataset.class_names),
            trial=None if dataset.trial is None else dataset.trial.copy(),
            segments=None if dataset.segments is None else dataset.segments.copy(),
        )

    def apply_view(self, name: str, window: np.ndarray) -> npt.NDArray[np.float32]:
        """Standardise one view's array whose last axis is channels: (..., C_v)."""
        mean, std = self.mean[name], self.std[name]
        if window.shape[-1] != mean.shape[0]:
            raise DatasetError(
                f"view '{name}': array has {window.shape[-1]} channels; the normaliser "
                f"was fitted on {mean.shape[0]}"
            )
        return ((window - mean) / std).astype(np.float32, copy=False)

    def to_dict(self) -> dict[str, dict[str, list[float]]]:
        """JSON-ready ``{view: {"mean": [...], "std": [...]}}`` (the bundle's norm_mean/std)."""
        return {
            name: {"mean": self.mean[name].tolist(), "std": self.std[name].tolist()}
            for name in self.mean
        }

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, list[float]]]) -> Normalizer:
        """Inverse of `to_dict`."""
        mean, std = {}, {}
        for name, stats in data.items():
            if set(stats) != {"mean", "std"}:
                raise DatasetError(
                    f"view '{name}': expected keys 'mean' and 'std', got {sorted(stats)}"
                )
            mean[name] = np.asarray(stats["mean"], dtype=np.float32)
            std[name] = np.asarray(stats["std"], dtype=np.float32)
            if mean[name].ndim != 1 or mean[name].shape != std[name].shape:
                raise DatasetError(
                    f"view '{name}': mean and std must be equal-length lists, got "
                    f"{len(stats['mean'])} and {len(stats['std'])}"
                )
            if not (std[name] > 0).all():
                raise DatasetError(f"view '{name}': std values must be positive")
        return cls(mean=mean, std=std)
