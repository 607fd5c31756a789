from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.training.data.synthetic import make_dataset
from training.data.dataset import DatasetError, MultiViewDataset
from training.data.npz import load_npz, save_npz

MIXED_VIEWS = (
    ("wrist", "imu", 6, 50),
    ("camera", "pose2d", 34, 30),  # 17 joints x 2, a different length per window
    ("mocap", "pose3d", 9, 30),
)


def mixed_dataset() -> MultiViewDataset:
    data = make_dataset(n=12, views=MIXED_VIEWS, num_classes=4)
    data.mask[0, 1] = False
    data.x["camera"][0] = np.nan  # allowed: the view is absent in sample 0
    data.y[1] = -1
    return data


def assert_same(a: MultiViewDataset, b: MultiViewDataset) -> None:
    assert a.views == b.views and a.class_names == b.class_names
    for name in a.view_names:
        np.testing.assert_array_equal(a.x[name], b.x[name])
        assert b.x[name].dtype == np.float32
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.subject, b.subject)


def test_round_trip_file_and_sidecar(tmp_path: Path) -> None:
    data = mixed_dataset()
    save_npz(data, tmp_path / "ours.npz")
    assert (tmp_path / "ours.meta.json").is_file()
    assert_same(data, load_npz(tmp_path / "ours.npz"))
    assert_same(data, load_npz(tmp_path))  # the folder holds exactly one .npz


def test_round_trip_folder_form_and_compression(tmp_path: Path) -> None:
    data = mixed_dataset()
    save_npz(data, tmp_path / "set", compress=True)
    assert (tmp_path / "set" / "data.npz").is_file() and (tmp_path / "set" / "meta.json").is_file()
    assert_same(data, load_npz(tmp_path / "set"))
    assert_same(data, load_npz(tmp_path / "set" / "data.npz"))


def test_documented_layout_written_by_hand(tmp_path: Path) -> None:
    """A file made with plain numpy + json, as a user would, loads and converts dtypes."""
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "mine.npz",
        X_chest=rng.normal(size=(5, 20, 3)),  # float64 is accepted and stored float32
        X_knee=rng.normal(size=(5, 40, 9)).astype(np.float32),
        mask=np.array([[1, 1], [1, 0], [0, 1], [1, 1], [1, 1]]),  # 0/1 integers accepted
        y=np.array([0, 1, 1, -1, 0], dtype=np.int32),
        subject=np.array([1, 1, 2, 2, 3]),
    )
    meta = {
        "classes": ["walk", "sit"],
        "views": [
            {
                "name": "chest",
                "modality": "acc",
                "channels": ["x", "y", "z"],
                "sampling_rate_hz": 50,
            },
            {
                "name": "knee",
                "modality": "imu",
                "channels": [f"c{i}" for i in range(9)],
                "sampling_rate_hz": 100.0,
            },
        ],
        "description": "a tiny example",
    }
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    data = load_npz(tmp_path / "mine.npz")
    assert data.view_names == ["chest", "knee"]
    assert data.x["chest"].dtype == np.float32 and data.x["knee"].shape == (5, 40, 9)
    assert data.mask.dtype == np.bool_ and data.mask[1].tolist() == [True, False]
    assert data.y.dtype == np.int64 and data.y.tolist() == [0, 1, 1, -1, 0]
    assert data.views[0].sampling_rate_hz == 50.0


def _saved(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray], dict[str, object]]:
    save_npz(mixed_dataset(), tmp_path / "d.npz")
    with np.load(tmp_path / "d.npz") as archive:
        arrays = {k: archive[k] for k in archive.files}
    return tmp_path / "d.npz", arrays, json.loads((tmp_path / "d.meta.json").read_text())


def _rewrite(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, object]) -> None:
    np.savez(path, **arrays)
    path.with_name("d.meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a, m: a.pop("X_mocap"), r"missing arrays \['X_mocap'\]"),
        (lambda a, m: a.pop("subject"), r"missing arrays \['subject'\]"),
        (lambda a, m: a.__setitem__("X_extra", a["y"]), r"unexpected arrays \['X_extra'\]"),
        (lambda a, m: a.__setitem__("y", a["y"][:5]), "sample counts differ: y 5"),
        (
            lambda a, m: a.__setitem__("X_wrist", a["X_wrist"][:, :, :3]),
            r"expected \(N=12, T, C=6\)",
        ),
        (
            lambda a, m: a.__setitem__("X_wrist", a["X_wrist"][..., 0]),
            r"x\['wrist'\] has shape \(12, 50\)",
        ),
        (lambda a, m: a["X_mocap"].__setitem__((4, 2, 1), np.nan), r"x\['mocap'\] has NaN"),
        (
            lambda a, m: a.__setitem__("mask", a["mask"].astype(np.float32)),
            "mask has dtype float32",
        ),
        (lambda a, m: a.__setitem__("y", a["y"] + 10), "labels y must be -1"),
        (
            lambda a, m: a.__setitem__("y", a["y"].astype(float)),
            "y has dtype float64; expected integers",
        ),
        (lambda a, m: a.__setitem__("X_wrist", a["X_wrist"].astype("U3")), "X_wrist has dtype"),
        (lambda a, m: m["views"][0].__setitem__("modality", "video"), "unknown modality 'video'"),
        (lambda a, m: m["views"][1]["channels"].pop(), "not divisible by 2"),
        (lambda a, m: m["views"][2]["channels"].pop(), "needs joints x 3 channels"),
        (lambda a, m: m["views"][0].pop("sampling_rate_hz"), r"views\[0\] has keys"),
        (lambda a, m: m["views"][0].__setitem__("sampling_rate", 5), r"expected \[.channels."),
        (lambda a, m: m["views"][0].__setitem__("sampling_rate_hz", "50"), "must be a number"),
        (lambda a, m: m.__setitem__("clases", m.pop("classes")), r"unknown keys \['clases'\]"),
        (lambda a, m: m.__setitem__("classes", []), "'classes' must be a non-empty list"),
        (lambda a, m: m.__setitem__("views", []), "'views' must be a non-empty list"),
    ],
)
def test_invalid_files_are_explained(tmp_path: Path, change: object, message: str) -> None:
    path, arrays, meta = _saved(tmp_path)
    change(arrays, meta)  # type: ignore[operator]
    _rewrite(path, arrays, meta)
    with pytest.raises(DatasetError, match=message):
        load_npz(path)


def test_missing_or_broken_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        load_npz(tmp_path / "absent.npz")
    with pytest.raises(DatasetError, match=r"exactly one .npz file, found \[\]"):
        load_npz(tmp_path)
    path, arrays, meta = _saved(tmp_path)
    path.with_name("d.meta.json").unlink()
    with pytest.raises(DatasetError, match="no metadata file; looked for"):
        load_npz(path)
    path.with_name("meta.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not readable JSON"):
        load_npz(path)
    path.write_bytes(b"garbage")
    path.with_name("meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="cannot read as .npz"):
        load_npz(path)


def test_save_refuses_an_invalid_dataset(tmp_path: Path) -> None:
    data = mixed_dataset()
    data.x["wrist"][2, 0, 0] = np.inf
    with pytest.raises(DatasetError, match=r"x\['wrist'\] has NaN or infinite"):
        save_npz(data, tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


def test_pose_metadata_round_trips_and_is_checked(tmp_path: Path) -> None:
    data = mixed_dataset()
    mocap = data.views[2]
    data.views[2] = type(mocap)(
        mocap.name,
        mocap.modality,
        mocap.channels,
        30.0,
        root_joint=1,
        scale_joint=2,
        vertical_axis=2,
    )
    save_npz(data, tmp_path / "p.npz")
    meta = json.loads((tmp_path / "p.meta.json").read_text())
    assert meta["views"][2] | {} == meta["views"][2]
    assert (meta["views"][2]["root_joint"], meta["views"][2]["vertical_axis"]) == (1, 2)
    assert "root_joint" not in meta["views"][0]  # only pose views carry pose keys
    assert load_npz(tmp_path / "p.npz").views == data.views
    meta["views"][2]["root_joint"] = 3  # mocap has 3 joints: 0..2
    (tmp_path / "p.meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="root_joint must be a joint index in 0..2"):
        load_npz(tmp_path / "p.npz")
    meta["views"][2]["root_joint"] = 0
    meta["views"][0]["root_joint"] = 0
    (tmp_path / "p.meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="apply to pose2d/pose3d views only"):
        load_npz(tmp_path / "p.npz")
