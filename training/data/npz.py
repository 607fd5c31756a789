"""Bring-your-own data: a multi-view dataset as one ``.npz`` file plus a JSON sidecar.

Arrays in the ``.npz`` (``numpy.savez``; no pickled objects):

- ``X_<view>``: one per view, shape ``(N, T_v, C_v)``, float (stored float32), time-major:
  ``T_v`` samples of ``C_v`` channels; ``T_v`` may differ between views.
- ``mask``: ``(N, V)`` bool, True where the view is present in that sample; columns in
  the order of ``views`` in the metadata. Values of absent views are ignored (NaN allowed).
- ``y``: ``(N,)`` integer class index into ``classes``; -1 = unlabelled.
- ``subject``: ``(N,)`` integer subject (or session) id, used for subject-wise splits.

Metadata: ``foo.meta.json`` next to ``foo.npz`` (same stem), else ``meta.json`` in the same
folder. Loading a folder reads the single ``.npz`` in it. Content::

    {
      "classes": ["walk", "sit", ...],
      "views": [
        {"name": "wrist", "modality": "imu", "sampling_rate_hz": 50.0,
         "channels": ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]},
        {"name": "camera", "modality": "pose2d", "sampling_rate_hz": 30.0,
         "channels": ["nose_x", "nose_y", "neck_x", "neck_y", ...]}
      ],
      "description": "optional free text"
    }

Modalities: ``acc``, ``gyro``, ``mag`` and ``imu`` (x, y, z triplets of one rigid unit,
so a multiple of 3 channels; ``imu`` = acc, then gyro, then mag triplets), ``pose2d`` and
``pose3d`` (J joints x 2 or 3 coordinates, joint-major: j0x, j0y[, j0z], j1x, ...).

Pose views take three optional keys (joint indices count within the view's own joints):
``root_joint`` (default 0: the view's first joint; put the pelvis or hip centre there) is
subtracted from every joint in every frame; ``scale_joint`` (default null: all joints)
gives the body scale, the window's mean distance between it and the root (e.g. the neck:
the pelvis-neck distance does not change with the action); ``vertical_axis`` (pose3d,
default 1 = y up) is the axis of the random rotation used as augmentation. Pose
coordinates go in raw (pixels, mm, ...): the model normalises them itself, so they are not
standardised per channel.
View names: letters, digits, ``_`` and ``-``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from training.data.dataset import DatasetError, MultiViewDataset, ViewInfo

ARRAY_PREFIX = "X_"
META_SUFFIX = ".meta.json"
FOLDER_META = "meta.json"
FOLDER_ARRAYS = "data.npz"

_VIEW_KEYS = {"name", "modality", "channels", "sampling_rate_hz"}
_POSE_KEYS = {"root_joint", "scale_joint", "vertical_axis"}  # optional, pose views only
_META_KEYS = {"classes", "views", "description"}


def load_npz(path: str | Path) -> MultiViewDataset:
    """Read a dataset saved as ``.npz`` + metadata JSON (or a folder holding one).

    Raises:
        DatasetError: naming the file, array or field that is missing or wrong.
    """
    npz_path, meta_path = _locate(Path(path))
    views, classes = _read_meta(meta_path)
    try:
        with np.load(npz_path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{npz_path}: cannot read as .npz ({exc})") from exc

    expected = {ARRAY_PREFIX + view.name for view in views} | {"mask", "y", "subject"}
    missing = sorted(expected - set(arrays))
    if missing:
        raise DatasetError(
            f"{npz_path}: missing arrays {missing}; a view named in {meta_path.name} "
            f"needs an array '{ARRAY_PREFIX}<view>'"
        )
    extra = sorted(set(arrays) - expected)
    if extra:
        raise DatasetError(
            f"{npz_path}: unexpected arrays {extra}; {meta_path.name} describes views "
            f"{[v.name for v in views]}"
        )
    dataset = MultiViewDataset(
        views=views,
        x={v.name: _floats(arrays[ARRAY_PREFIX + v.name], npz_path, v.name) for v in views},
        mask=_bools(arrays["mask"], npz_path),
        y=_ints(arrays["y"], npz_path, "y"),
        subject=_ints(arrays["subject"], npz_path, "subject"),
        class_names=classes,
    )
    try:
        dataset.validate()
    except DatasetError as exc:
        raise DatasetError(f"{npz_path}: {exc}") from exc
    return dataset


def save_npz(dataset: MultiViewDataset, path: str | Path, compress: bool = False) -> None:
    """Write `dataset` as ``<path>`` (ending ``.npz``) + ``<stem>.meta.json``.

    A `path` without the ``.npz`` suffix is a folder: ``data.npz`` + ``meta.json`` in it.
    """
    dataset.validate()
    path = Path(path)
    if path.suffix == ".npz":
        npz_path, meta_path = path, path.with_name(path.stem + META_SUFFIX)
    else:
        npz_path, meta_path = path / FOLDER_ARRAYS, path / FOLDER_META
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {ARRAY_PREFIX + n: a for n, a in dataset.x.items()}
    arrays |= {"mask": dataset.mask, "y": dataset.y, "subject": dataset.subject}
    if compress:
        np.savez_compressed(npz_path, **arrays)
    else:
        np.savez(npz_path, **arrays)
    meta = {
        "classes": list(dataset.class_names),
        "views": [view.to_dict() for view in dataset.views],
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")


def _locate(path: Path) -> tuple[Path, Path]:
    """The .npz file and its metadata file for a file or folder path."""
    if path.is_dir():
        candidates = sorted(path.glob("*.npz"))
        if len(candidates) != 1:
            raise DatasetError(
                f"{path}: a dataset folder must hold exactly one .npz file, found "
                f"{[c.name for c in candidates]}"
            )
        path = candidates[0]
    if not path.is_file():
        raise DatasetError(f"{path}: no such file; expected a .npz file or a folder with one")
    tried = [path.with_name(path.stem + META_SUFFIX), path.with_name(FOLDER_META)]
    for meta_path in tried:
        if meta_path.is_file():
            return path, meta_path
    raise DatasetError(f"{path}: no metadata file; looked for {[str(t) for t in tried]}")


def _read_meta(path: Path) -> tuple[list[ViewInfo], list[str]]:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise DatasetError(f"{path}: must hold a JSON object with 'classes' and 'views'")
    unknown = sorted(set(meta) - _META_KEYS)
    if unknown:
        raise DatasetError(f"{path}: unknown keys {unknown}; accepted: {sorted(_META_KEYS)}")
    classes = meta.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise DatasetError(f"{path}: 'classes' must be a non-empty list of class names")
    raw_views = meta.get("views")
    if not isinstance(raw_views, list) or not raw_views:
        raise DatasetError(f"{path}: 'views' must be a non-empty list of view objects")
    return [_view(entry, path, i) for i, entry in enumerate(raw_views)], classes


def _view(entry: Any, path: Path, index: int) -> ViewInfo:
    where = f"{path}: views[{index}]"
    if not isinstance(entry, dict):
        raise DatasetError(f"{where} must be an object with keys {sorted(_VIEW_KEYS)}")
    if not _VIEW_KEYS <= set(entry) <= _VIEW_KEYS | _POSE_KEYS:
        raise DatasetError(
            f"{where} has keys {sorted(entry)}; expected {sorted(_VIEW_KEYS)} plus, for pose "
            f"views, optionally {sorted(_POSE_KEYS)}"
        )
    pose_fields = {key: entry[key] for key in _POSE_KEYS & set(entry)}
    if pose_fields and entry.get("modality") not in ("pose2d", "pose3d"):
        raise DatasetError(f"{where}: {sorted(pose_fields)} apply to pose2d/pose3d views only")
    channels, rate = entry["channels"], entry["sampling_rate_hz"]
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise DatasetError(f"{where}: 'channels' must be a list of channel names")
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise DatasetError(f"{where}: 'sampling_rate_hz' must be a number, got {rate!r}")
    if not isinstance(entry["name"], str) or not isinstance(entry["modality"], str):
        raise DatasetError(f"{where}: 'name' and 'modality' must be strings")
    try:
        return ViewInfo(
            entry["name"], entry["modality"], tuple(channels), float(rate), **pose_fields
        )
    except DatasetError as exc:
        raise DatasetError(f"{path}: {exc}") from exc


def _floats(array: np.ndarray, path: Path, view: str) -> np.ndarray:
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise DatasetError(f"{path}: {ARRAY_PREFIX}{view} has dtype {array.dtype}; expected float")
    return array.astype(np.float32, copy=False)


def _bools(array: np.ndarray, path: Path) -> np.ndarray:
    if array.dtype == np.bool_:
        return array
    if np.issubdtype(array.dtype, np.integer) and np.isin(array, (0, 1)).all():
        return array.astype(bool)
    raise DatasetError(f"{path}: mask has dtype {array.dtype}; expected bool (or 0/1 integers)")


def _ints(array: np.ndarray, path: Path, name: str) -> np.ndarray:
    if not np.issubdtype(array.dtype, np.integer):
        raise DatasetError(f"{path}: {name} has dtype {array.dtype}; expected integers")
    return array.astype(np.int64, copy=False)
