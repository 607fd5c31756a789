"""Small synthetic datasets and DSADS-shaped zips for the data-layer tests."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from training.data.dataset import MultiViewDataset, ViewInfo


def make_dataset(
    n: int = 40,
    views: Sequence[tuple[str, str, int, int]] = (("a", "acc", 3, 20), ("b", "imu", 9, 10)),
    num_classes: int = 3,
    subjects: Sequence[int] = (1, 2, 3, 4),
    seed: int = 0,
) -> MultiViewDataset:
    """A random dataset; views are (name, modality, channels, time steps)."""
    rng = np.random.default_rng(seed)
    infos = [
        ViewInfo(name, modality, tuple(f"{name}_{i}" for i in range(c)), 25.0)
        for name, modality, c, _ in views
    ]
    x = {name: rng.normal(size=(n, t, c)).astype(np.float32) for name, _, c, t in views}
    return MultiViewDataset(
        views=infos,
        x=x,
        mask=np.ones((n, len(views)), dtype=bool),
        y=rng.integers(0, num_classes, size=n).astype(np.int64),
        subject=np.resize(np.asarray(subjects, dtype=np.int64), n),
        class_names=[f"class{i}" for i in range(num_classes)],
    )


def segment_text(rng: np.random.Generator, rows: int = 125, columns: int = 45) -> str:
    """A DSADS-like segment file: `rows` lines of `columns` comma-separated numbers."""
    values = rng.normal(size=(rows, columns))
    return "".join(",".join(f"{v:.5g}" for v in row) + "\n" for row in values)


def write_dsads_zip(
    path: Path,
    activities: Sequence[int] = (1, 2),
    subjects: Sequence[int] = (1,),
    segments: int = 3,
    edit: Callable[[dict[str, str]], object] | None = None,
    seed: int = 0,
) -> Path:
    """Write a DSADS-layout zip; `edit` may change or delete members before writing."""
    rng = np.random.default_rng(seed)
    members = {
        f"data/a{a:02d}/p{p}/s{s:02d}.txt": segment_text(rng)
        for a in activities
        for p in subjects
        for s in range(1, segments + 1)
    }
    if edit is not None:
        edit(members)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path
