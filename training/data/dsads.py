"""The UCI Daily and Sports Activities dataset (DSADS) as a MultiViewDataset.

B. Barshan and K. Altun (2010), Daily and Sports Activities, UCI ML Repository,
https://doi.org/10.24432/C5C59F (CC BY 4.0); K. Altun, B. Barshan, O. Tunçel,
Pattern Recognition 43(10):3605-3620, 2010.

Each subject did each activity for 5 minutes; the release cuts that into 60 consecutive
5 s segments. The loader re-joins them and re-windows, so any window/hop works and
windows never cross a (subject, activity) recording. Samples are ordered by subject,
then activity, then time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from ralis.client import dsads as dsads_layout
from training.data.cache import default_cache_dir, load_cached, save_cached
from training.data.dataset import DatasetError, MultiViewDataset, ViewInfo
from training.data.dsads_archive import NUM_COLUMNS, SEGMENT_ROWS, DsadsArchive
from training.data.windowing import num_windows, seconds_to_samples, sliding_windows

__all__ = [
    "DSADS_ACTIVITIES",
    "DSADS_POSITIONS",
    "DSADS_SAMPLING_RATE_HZ",
    "DSADS_SENSORS",
    "DSADS_SUBJECTS",
    "DatasetError",
    "dsads_views",
    "load_dsads",
]

logger = logging.getLogger(__name__)

# The DSADS layout has one home, torch-free (ralis/client/dsads.py); these names are its
# training-side aliases.
DSADS_ACTIVITIES: list[str] = list(dsads_layout.ACTIVITIES)
DSADS_POSITIONS = dsads_layout.POSITIONS
DSADS_SENSORS = dsads_layout.SENSORS  # order inside each unit's 9-column block
DSADS_SUBJECTS = dsads_layout.SUBJECTS
DSADS_SAMPLING_RATE_HZ = dsads_layout.RATE_HZ

ViewSet = Literal["acc", "acc_gyro", "imu", "sensors"]
VIEW_SETS: tuple[ViewSet, ...] = ("acc", "acc_gyro", "imu", "sensors")


def dsads_views(view_set: ViewSet) -> list[tuple[ViewInfo, list[int]]]:
    """The views of a view set, each with its 0-based columns in the DSADS files.

    "acc": one accelerometer view per position (the paper's default); "acc_gyro": one
    6-channel acc+gyro view per position (a phone's or a watch's IMU, no magnetometer);
    "imu": one 9-channel acc+gyro+mag view per position; "sensors": 15 views, one per
    (position, sensor).
    """
    if view_set not in VIEW_SETS:
        raise ValueError(f"unknown view_set {view_set!r}; known: {', '.join(VIEW_SETS)}")
    views: list[tuple[ViewInfo, list[int]]] = []
    for position in DSADS_POSITIONS:
        groups = []  # (sensor, columns, channel names)
        for sensor in DSADS_SENSORS:
            axes = dsads_layout.AXES
            columns = [dsads_layout.column(position, sensor, axis) for axis in axes]
            names = tuple(f"{position}_{sensor}_{axis}" for axis in axes)
            groups.append((sensor, columns, names))
        if view_set == "acc":
            sensor, columns, names = groups[0]
            views.append((_view(position, "acc", names), columns))
        elif view_set in ("acc_gyro", "imu"):
            kept = groups[:2] if view_set == "acc_gyro" else groups
            columns = [c for _, cols, _ in kept for c in cols]
            names = tuple(n for _, _, group_names in kept for n in group_names)
            views.append((_view(position, "imu", names), columns))
        else:
            for sensor, columns, names in groups:
                views.append((_view(f"{position}_{sensor}", sensor, names), columns))
    return views


def _view(name: str, modality: str, channels: tuple[str, ...]) -> ViewInfo:
    return ViewInfo(name, modality, channels, DSADS_SAMPLING_RATE_HZ)


def load_dsads(
    path: str | Path,
    view_set: ViewSet = "acc",
    window_seconds: float = 5.0,
    hop_seconds: float | None = None,
    subjects: Sequence[int] | None = None,
    activities: Sequence[int] | None = None,
    progress: bool = False,
    cache: bool = True,
    cache_dir: str | Path | None = None,
) -> MultiViewDataset:
    """Load DSADS from the released zip or its extracted folder.

    Args:
        path: the zip as released, or the folder containing ``data/``.
        view_set: "acc" (5 views x 3 channels, m/s^2), "imu" (5 views x 9 channels:
            acc m/s^2, gyro rad/s, mag normalised) or "sensors" (15 views x 3 channels).
        window_seconds: window length; a multiple of 0.04 s (one sample at 25 Hz).
        hop_seconds: start-to-start distance of windows; None = window_seconds (no overlap).
        subjects: subject numbers 1..8 (folder pY); None = all 8.
        activities: activity numbers 1..19 (folder aXX, label aXX - 1); None = all 19.
        progress: show a tqdm progress bar over recordings.
        cache: keep each parsed recording as .npy under `cache_dir`, keyed by the
            members' CRC-32 and size (zip) or size and mtime (folder).
        cache_dir: default ``$RALIS_CACHE_DIR`` or ``~/.cache/ralis``.

    Returns:
        Labels y = activity - 1 (class_names are always all 19), subject = 1..8, all views
        present. Samples are ordered by subject, activity, then time.

    Raises:
        DatasetError: a missing, unreadable or malformed member file (named in the message).
        ValueError: bad arguments.
    """
    window = seconds_to_samples(window_seconds, DSADS_SAMPLING_RATE_HZ, "window_seconds")
    hop = (
        window
        if hop_seconds is None
        else seconds_to_samples(hop_seconds, DSADS_SAMPLING_RATE_HZ, "hop_seconds")
    )
    views = dsads_views(view_set)
    subject_ids = _selection(subjects, DSADS_SUBJECTS, "subjects")
    activity_ids = _selection(activities, tuple(range(1, len(DSADS_ACTIVITIES) + 1)), "activities")
    root = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / "dsads"
    started = time.perf_counter()

    with DsadsArchive(path) as archive:
        pairs = [(a, s) for s in subject_ids for a in activity_ids]
        member_lists = archive.recording_members(pairs)
        recording_samples = len(member_lists[0]) * SEGMENT_ROWS
        per_recording = num_windows(recording_samples, window, hop)
        if per_recording == 0:
            raise ValueError(
                f"window_seconds={window_seconds} is longer than the recordings "
                f"({recording_samples / DSADS_SAMPLING_RATE_HZ:g} s); no window fits"
            )
        n = per_recording * len(pairs)
        # Filled recording by recording, so the full set is never held twice.
        x = {view.name: np.empty((n, window, len(cols)), np.float32) for view, cols in views}
        for i, ((activity, subject), members) in enumerate(
            tqdm(
                list(zip(pairs, member_lists, strict=True)),
                desc="DSADS recordings",
                unit="rec",
                disable=not progress,
            )
        ):
            recording = _recording(archive, members, cache, root, activity, subject)
            rows = slice(i * per_recording, (i + 1) * per_recording)
            for view, cols in views:
                x[view.name][rows] = sliding_windows(recording[:, cols], window, hop)

    dataset = MultiViewDataset(
        views=[view for view, _ in views],
        x=x,
        mask=np.ones((n, len(views)), dtype=bool),
        y=np.repeat([activity - 1 for activity, _ in pairs], per_recording).astype(np.int64),
        subject=np.repeat([subject for _, subject in pairs], per_recording).astype(np.int64),
        class_names=list(DSADS_ACTIVITIES),
        segments=_segments(len(pairs), len(member_lists[0]), per_recording, window, hop),
    )
    dataset.validate()
    logger.info(
        "loaded DSADS %s: %d recordings -> %d windows of %d samples in %.1f s",
        view_set,
        len(pairs),
        n,
        window,
        time.perf_counter() - started,
    )
    return dataset


def _segments(
    recordings: int, segments_per_recording: int, per_recording: int, window: int, hop: int
) -> npt.NDArray[np.int64]:
    """(N, 2) first and last released 5 s segment each window overlaps, numbered across
    recordings in load order."""
    starts = np.arange(per_recording, dtype=np.int64) * hop
    first = starts // SEGMENT_ROWS
    last = (starts + window - 1) // SEGMENT_ROWS
    base = np.repeat(np.arange(recordings, dtype=np.int64) * segments_per_recording, per_recording)
    return np.stack([base + np.tile(first, recordings), base + np.tile(last, recordings)], axis=1)


def _selection(chosen: Sequence[int] | None, known: tuple[int, ...], what: str) -> list[int]:
    if chosen is None:
        return list(known)
    picked = [int(v) for v in chosen]
    unknown = sorted(set(picked) - set(known))
    if unknown or not picked:
        raise ValueError(
            f"{what} {unknown or '[]'} not accepted; choose from {known[0]}..{known[-1]}"
        )
    if len(set(picked)) != len(picked):
        raise ValueError(f"{what} lists a number twice: {picked}")
    return sorted(picked)


def _recording(
    archive: DsadsArchive,
    members: list[str],
    cache: bool,
    cache_root: Path,
    activity: int,
    subject: int,
) -> npt.NDArray[np.float32]:
    """One (subject, activity) recording as (segments * 125, 45), from cache when possible."""
    shape = (len(members) * SEGMENT_ROWS, NUM_COLUMNS)
    if not cache:
        return archive.read_recording(members)
    cache_file = cache_root / f"a{activity:02d}_p{subject}_{archive.fingerprint(members)}.npy"
    recording = load_cached(cache_file, shape)
    if recording is None:
        recording = archive.read_recording(members)
        save_cached(cache_file, recording)
    return recording
