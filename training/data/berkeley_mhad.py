"""Berkeley MHAD (6 wearable accelerometers + a 16-joint Kinect skeleton, 30 Hz) as windows.

Reads the `trials.npz` described in `../shared/datasets/berkeley_mhad/README.md` (Ofli et al.,
WACV 2013; skeleton: Lannan et al., CVPRW 2022; research use only). Each trial is cut into
windows of `window_seconds` every `hop_seconds`, the last window ending at the trial's end;
a trial shorter than one window (25 of 658 are under 2 s) is padded by repeating its last
frame. Every window keeps the id of its trial for trial-level (majority vote) scoring.

Views (all present in every window):
- one `acc` view per accelerometer, named by its placement (h01..h06: left/right wrist,
  left/right hip, left/right ankle; the README says which sides are verified or inferred);
- `pose3d` skeleton views: the whole skeleton, and each limb as its own view. Every
  skeleton view starts with the pelvis (root joint, index 0: the model subtracts it per
  frame) and the neck (index 1: the pelvis-neck distance sets the body scale), then the
  limb's joints. The vertical axis is z (the README: x forward, y left, z up, mm).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from training.data.dataset import DatasetError, MultiViewDataset, ViewInfo

SAMPLING_RATE_HZ = 30.0
ACC_VIEWS = ("left_wrist", "right_wrist", "left_hip", "right_hip", "left_ankle", "right_ankle")
JOINTS = (
    "pelvis",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_foot",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_foot",
    "neck",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)
PELVIS, NECK = 0, 9
# Skeleton views: joint indices into JOINTS; the pelvis (root) and neck (scale) lead each.
SKELETON_VIEWS: dict[str, tuple[int, ...]] = {
    "skeleton": (PELVIS, NECK, *(j for j in range(16) if j not in (PELVIS, NECK))),
    "skel_left_arm": (PELVIS, NECK, 10, 11, 12),
    "skel_right_arm": (PELVIS, NECK, 13, 14, 15),
    "skel_left_leg": (PELVIS, NECK, 1, 2, 3, 4),
    "skel_right_leg": (PELVIS, NECK, 5, 6, 7, 8),
}
VERTICAL_AXIS = 2  # z up
REQUIRED_ARRAYS = ("acc", "skeleton", "trial_subject", "trial_action", "trial_start")


def is_berkeley_mhad(path: str | Path) -> bool:
    """A Berkeley MHAD `trials.npz` (identified by its arrays, not its name)."""
    path = Path(path)
    if path.suffix != ".npz" or not path.is_file():
        return False
    with np.load(path, allow_pickle=False) as archive:
        return set(REQUIRED_ARRAYS) <= set(archive.files)


def view_infos(views: tuple[str, ...] | None = None) -> list[ViewInfo]:
    """The dataset's views (all, or the named subset in canonical order)."""
    infos = [
        ViewInfo(name, "acc", tuple(f"{name}_acc_{a}" for a in "xyz"), SAMPLING_RATE_HZ)
        for name in ACC_VIEWS
    ]
    infos += [
        ViewInfo(
            name,
            "pose3d",
            tuple(f"{JOINTS[j]}_{a}" for j in joints for a in "xyz"),
            SAMPLING_RATE_HZ,
            root_joint=0,
            scale_joint=1,
            vertical_axis=VERTICAL_AXIS,
        )
        for name, joints in SKELETON_VIEWS.items()
    ]
    if views is None:
        return infos
    unknown = sorted(set(views) - {v.name for v in infos})
    if unknown:
        raise DatasetError(
            f"unknown Berkeley MHAD views {unknown}; known: {[v.name for v in infos]}"
        )
    return [v for v in infos if v.name in views]


def window_starts(length: int, window: int, hop: int) -> list[int]:
    """Window starts covering a trial: every `hop`, plus one ending at the trial's end."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, hop))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def load_berkeley_mhad(
    path: str | Path,
    subjects: tuple[int, ...] | list[int] | None = None,
    window_seconds: float = 2.0,
    hop_seconds: float | None = 0.5,
    views: tuple[str, ...] | None = None,
) -> MultiViewDataset:
    """Windows of the chosen subjects' trials; `trial` holds each window's trial index.

    Args:
        window_seconds: window length (60 samples at 30 Hz for 2 s).
        hop_seconds: start-to-start distance; None = window_seconds (no overlap).
    """
    window = round(window_seconds * SAMPLING_RATE_HZ)
    hop = round((hop_seconds or window_seconds) * SAMPLING_RATE_HZ)
    if window < 8 or hop < 1:
        raise DatasetError(
            f"window_seconds={window_seconds} and hop_seconds={hop_seconds} give {window} and "
            f"{hop} samples at 30 Hz; need a window of at least 8 samples and a hop of 1"
        )
    infos = view_infos(views)
    with np.load(path, allow_pickle=False) as archive:
        missing = sorted(set(REQUIRED_ARRAYS) - set(archive.files))
        if missing:
            raise DatasetError(f"{path}: not a Berkeley MHAD trials.npz (missing {missing})")
        acc, skeleton = archive["acc"], archive["skeleton"]  # (F, 6, 3) g, (F, 16, 3) mm
        trial_subject = archive["trial_subject"].astype(np.int64)
        trial_action = archive["trial_action"].astype(np.int64)
        trial_start = archive["trial_start"].astype(np.int64)
        trial_length = archive["trial_length"].astype(np.int64)
        class_names = [str(name) for name in archive["action_names"]]
    chosen = np.arange(len(trial_subject))
    if subjects is not None:
        chosen = chosen[np.isin(trial_subject, list(subjects))]
    frames: list[npt.NDArray[np.int64]] = []  # (window,) frame indices per window
    rows_trial: list[int] = []
    for trial in chosen:
        start, length = int(trial_start[trial]), int(trial_length[trial])
        for offset in window_starts(length, window, hop):
            index = np.arange(offset, offset + window).clip(max=length - 1)  # edge padding
            frames.append(start + index)
            rows_trial.append(int(trial))
    if not frames:
        raise DatasetError(f"{path}: no trials for subjects {subjects}")
    frame_index = np.stack(frames)  # (N, window)
    trials = np.asarray(rows_trial, dtype=np.int64)
    acc_column = {name: i for i, name in enumerate(ACC_VIEWS)}
    x: dict[str, npt.NDArray[np.float32]] = {}
    for info in infos:
        if info.modality == "acc":
            x[info.name] = acc[frame_index, acc_column[info.name]].astype(np.float32)
        else:
            joints = list(SKELETON_VIEWS[info.name])
            windows = skeleton[frame_index][:, :, joints]  # (N, T, J, 3)
            x[info.name] = windows.reshape(len(trials), window, -1).astype(np.float32)
    dataset = MultiViewDataset(
        views=infos,
        x=x,
        mask=np.ones((len(trials), len(infos)), dtype=bool),
        y=trial_action[trials],
        subject=trial_subject[trials],
        class_names=class_names,
        trial=trials,
    )
    dataset.validate()
    return dataset
