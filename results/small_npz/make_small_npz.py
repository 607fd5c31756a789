"""A small bring-your-own `.npz` dataset cut from Berkeley MHAD, to check that `ralis train
--data mine.npz` converges with default flags on a few hundred windows.

Shape of the problem reported in the recipe issue: one wrist sensor plus skeleton body-part
views, about 330 training windows from 3 subjects. Here: the right-wrist accelerometer (30
Hz), the four limb skeleton views and the whole skeleton (pose3d, raw mm, root pelvis,
scale joint neck, z up), 11 classes, two 2 s windows per trial (the middle of each half),
subjects 1-3 train, 4-5 validate, 6-8 test (the `ralis train` defaults). Writes
`<out>/mine.npz` + `<out>/mine.meta.json` (data stays out of the repository).

Run: `python results/small_npz/make_small_npz.py ../shared/datasets/berkeley_mhad/trials.npz
/tmp/small_npz`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from training.data.berkeley_mhad import load_berkeley_mhad
from training.data.npz import save_npz

VIEWS = (
    "right_wrist",
    "skeleton",
    "skel_left_arm",
    "skel_right_arm",
    "skel_left_leg",
    "skel_right_leg",
)


def main(source: str, out: str) -> None:
    data = load_berkeley_mhad(source, subjects=range(1, 9), hop_seconds=1 / 30, views=VIEWS)
    assert data.trial is not None
    keep = []
    for trial in np.unique(data.trial):
        rows = np.flatnonzero(data.trial == trial)
        keep += [rows[len(rows) // 4], rows[(3 * len(rows)) // 4]]
    small = data.subset(np.asarray(sorted(set(keep))))
    small.trial = None
    Path(out).mkdir(parents=True, exist_ok=True)
    save_npz(small, Path(out) / "mine.npz")
    train = int(np.isin(small.subject, [1, 2, 3]).sum())
    sys.stdout.write(f"{len(small)} windows ({train} training) -> {out}/mine.npz\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
