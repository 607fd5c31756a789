from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.training.data.synthetic import segment_text, write_dsads_zip
from training.data import dsads_archive
from training.data.dsads import (
    DSADS_ACTIVITIES,
    DSADS_POSITIONS,
    DatasetError,
    dsads_views,
    load_dsads,
)

REPO = Path(__file__).resolve().parents[3]
FIXTURE = REPO / "tests" / "fixtures" / "dsads_subset" / "dsads_subset.zip"
FULL_ZIP = REPO / ".." / "shared" / "datasets" / "dsads" / "daily_sports_activities.zip"
# What the committed fixture holds (see its README).
FIXTURE_ACTIVITIES = (1, 9, 12)
FIXTURE_SUBJECTS = (1, 2)
FIXTURE_SEGMENTS = 4


def raw_segment(member: str, path: Path = FIXTURE) -> np.ndarray:
    """A member parsed with plain Python, independently of the loader: (125, 45) float32."""
    with zipfile.ZipFile(path) as archive:
        text = archive.read(member).decode("ascii")
    rows = [[np.float32(float(v)) for v in line.split(",")] for line in text.splitlines()]
    return np.array(rows, dtype=np.float32)


def raw_recording(activity: int, subject: int) -> np.ndarray:
    """The fixture's segments of one recording joined in order: (4 * 125, 45)."""
    return np.concatenate(
        [
            raw_segment(f"data/a{activity:02d}/p{subject}/s{s:02d}.txt")
            for s in range(1, FIXTURE_SEGMENTS + 1)
        ]
    )


def load_fixture(**kwargs: object) -> object:
    return load_dsads(FIXTURE, subjects=FIXTURE_SUBJECTS, activities=FIXTURE_ACTIVITIES, **kwargs)


def test_activity_and_position_names() -> None:
    assert len(DSADS_ACTIVITIES) == 19 and len(set(DSADS_ACTIVITIES)) == 19
    assert DSADS_ACTIVITIES[0] == "sitting" and DSADS_ACTIVITIES[2] == "lying_back"
    assert DSADS_ACTIVITIES[18] == "basketball"
    assert all(name.isidentifier() and name.islower() for name in DSADS_ACTIVITIES)
    assert DSADS_POSITIONS == ("torso", "right_arm", "left_arm", "right_leg", "left_leg")


def test_view_sets_cover_the_documented_columns() -> None:
    acc = dsads_views("acc")
    assert [v.name for v, _ in acc] == list(DSADS_POSITIONS)
    assert acc[1][0].channels == ("right_arm_acc_x", "right_arm_acc_y", "right_arm_acc_z")
    assert [cols for _, cols in acc] == [
        [0, 1, 2],
        [9, 10, 11],
        [18, 19, 20],
        [27, 28, 29],
        [36, 37, 38],
    ]
    imu = dsads_views("imu")
    assert all(v.modality == "imu" and v.num_channels == 9 for v, _ in imu)
    assert [c for _, cols in imu for c in cols] == list(range(45))
    acc_gyro = dsads_views("acc_gyro")
    assert all(v.modality == "imu" and v.num_channels == 6 for v, _ in acc_gyro)
    assert acc_gyro[0][0].channels[3:] == ("torso_gyro_x", "torso_gyro_y", "torso_gyro_z")
    assert [cols for _, cols in acc_gyro][1] == [9, 10, 11, 12, 13, 14]
    sensors = dsads_views("sensors")
    assert len(sensors) == 15
    assert [v.name for v, _ in sensors][:3] == ["torso_acc", "torso_gyro", "torso_mag"]
    assert [v.modality for v, _ in sensors][:3] == ["acc", "gyro", "mag"]
    assert [c for _, cols in sensors for c in cols] == list(range(45))
    with pytest.raises(ValueError, match="unknown view_set"):
        dsads_views("all")  # type: ignore[arg-type]


def test_fixture_loads_with_labels_subjects_and_shapes() -> None:
    data = load_fixture()
    assert len(data) == 3 * 2 * 4
    assert data.view_names == list(DSADS_POSITIONS)
    assert all(array.shape == (24, 125, 3) for array in data.x.values())
    assert all(array.dtype == np.float32 for array in data.x.values())
    assert data.mask.all() and data.mask.shape == (24, 5)
    assert data.class_names == DSADS_ACTIVITIES
    # Ordered by subject, then activity, then time; y = aXX - 1.
    assert data.subject.tolist() == [1] * 12 + [2] * 12
    assert data.y.tolist() == ([0] * 4 + [8] * 4 + [11] * 4) * 2
    assert all(v.sampling_rate_hz == 25.0 and v.modality == "acc" for v in data.views)


def test_fixture_values_equal_the_raw_file_text() -> None:
    data = load_fixture()
    # Sample 18 = subject 2 (12 samples per subject), activity a09 (+4), segment s03 (+2).
    raw = raw_segment("data/a09/p2/s03.txt")
    assert data.x["torso"][18, 10, 0] == raw[10, 0]
    assert data.x["left_leg"][18, 124, 2] == raw[124, 38]
    assert data.x["right_arm"][18, 0, 1] == raw[0, 10]
    with zipfile.ZipFile(FIXTURE) as archive:
        first_line = archive.read("data/a01/p1/s01.txt").decode().splitlines()[0]
    assert data.x["torso"][0, 0, 0] == np.float32(float(first_line.split(",")[0]))


def test_five_second_windows_give_back_the_original_segments() -> None:
    data = load_fixture(view_set="imu")  # imu views cover all 45 columns in file order
    everything = np.concatenate([data.x[p] for p in DSADS_POSITIONS], axis=2)
    sample = 0
    for subject in FIXTURE_SUBJECTS:
        for activity in FIXTURE_ACTIVITIES:
            for segment in range(1, FIXTURE_SEGMENTS + 1):
                raw = raw_segment(f"data/a{activity:02d}/p{subject}/s{segment:02d}.txt")
                np.testing.assert_array_equal(everything[sample], raw)
                assert data.y[sample] == activity - 1 and data.subject[sample] == subject
                sample += 1
    assert sample == len(data)


def test_rewindowing_with_overlap_stays_inside_recordings() -> None:
    data = load_fixture(view_set="sensors", window_seconds=4.0, hop_seconds=2.0)
    # 20 s recordings, 100-sample windows every 50 samples: 1 + (500 - 100) // 50 = 9 each.
    assert len(data) == 6 * 9
    assert len(data.views) == 15 and data.x["torso_acc"].shape == (54, 100, 3)
    everything = np.concatenate([data.x[v] for v in data.view_names], axis=2)
    sample = 0
    for subject in FIXTURE_SUBJECTS:
        for activity in FIXTURE_ACTIVITIES:
            recording = raw_recording(activity, subject)
            for k in range(9):
                np.testing.assert_array_equal(everything[sample], recording[50 * k : 50 * k + 100])
                assert data.y[sample] == activity - 1
                sample += 1


def test_window_crossing_segment_boundaries_joins_them_in_order() -> None:
    data = load_dsads(FIXTURE, subjects=[2], activities=[12], window_seconds=7.0, hop_seconds=3.0)
    recording = raw_recording(12, 2)
    assert len(data) == 1 + (500 - 175) // 75
    np.testing.assert_array_equal(data.x["torso"][1], recording[75:250, 0:3])


def test_extracted_folder_loads_like_the_zip(tmp_path: Path) -> None:
    with zipfile.ZipFile(FIXTURE) as archive:
        archive.extractall(tmp_path)
    from_zip = load_fixture(cache=False)
    for folder in (tmp_path, tmp_path / "data"):
        from_folder = load_dsads(
            folder, subjects=FIXTURE_SUBJECTS, activities=FIXTURE_ACTIVITIES, cache=False
        )
        for name in from_zip.view_names:
            np.testing.assert_array_equal(from_folder.x[name], from_zip.x[name])
        np.testing.assert_array_equal(from_folder.y, from_zip.y)


def test_selection_of_subjects_and_activities() -> None:
    data = load_dsads(FIXTURE, subjects=[2], activities=[12])
    assert len(data) == 4
    assert set(data.y.tolist()) == {11} and set(data.subject.tolist()) == {2}
    with pytest.raises(ValueError, match="subjects \\[9\\] not accepted"):
        load_dsads(FIXTURE, subjects=[9])
    with pytest.raises(ValueError, match="twice"):
        load_dsads(FIXTURE, subjects=[1, 1], activities=[1])
    with pytest.raises(DatasetError, match="missing data/a05/p1/"):
        load_dsads(FIXTURE, subjects=[1], activities=[1, 5])
    # By default all 8 subjects and 19 activities are required.
    with pytest.raises(DatasetError, match="missing data/a02/p1/, .* more \\(146 of 152 requested"):
        load_dsads(FIXTURE)


def test_bad_window_arguments() -> None:
    with pytest.raises(ValueError, match="multiple of 0.04 s"):
        load_fixture(window_seconds=2.01)
    with pytest.raises(ValueError, match="hop_seconds must be positive"):
        load_fixture(hop_seconds=0.0)
    with pytest.raises(ValueError, match="longer than the recordings"):
        load_fixture(window_seconds=25.0)


def test_cache_is_written_and_then_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_fixture(cache_dir=tmp_path)
    cached = sorted((tmp_path / "dsads").glob("*.npy"))
    assert len(cached) == 6
    assert np.load(cached[0]).shape == (500, 45)

    def refuse(text: bytes, name: str) -> np.ndarray:
        raise AssertionError(f"parsed {name} although it is cached")

    monkeypatch.setattr(dsads_archive, "parse_segment", refuse)
    second = load_fixture(cache_dir=tmp_path)
    for name in first.view_names:
        np.testing.assert_array_equal(first.x[name], second.x[name])
    with pytest.raises(AssertionError, match="although it is cached"):
        load_fixture(cache=False)


def test_cache_key_follows_member_content(tmp_path: Path) -> None:
    zip_path = write_dsads_zip(tmp_path / "one.zip", seed=1)
    cache_dir = tmp_path / "cache"
    before = load_dsads(zip_path, subjects=[1], activities=[1, 2], cache_dir=cache_dir)
    write_dsads_zip(zip_path, seed=2)  # same names, different numbers
    after = load_dsads(zip_path, subjects=[1], activities=[1, 2], cache_dir=cache_dir)
    assert not np.array_equal(before.x["torso"], after.x["torso"])
    assert len(list((cache_dir / "dsads").glob("*.npy"))) == 4


def test_default_cache_dir_comes_from_the_environment(_private_cache_dir: Path) -> None:
    load_fixture()
    assert len(list((_private_cache_dir / "dsads").glob("*.npy"))) == 6


def test_progress_bar_runs(capsys: pytest.CaptureFixture[str]) -> None:
    load_dsads(FIXTURE, subjects=[1], activities=[1], progress=True, cache=False)
    assert "DSADS recordings" in capsys.readouterr().err


# --- malformed archives: each error names the member and the problem -------------------


def _load(path: Path) -> object:
    return load_dsads(path, subjects=[1], activities=[1, 2], cache=False)


def test_missing_member_is_named(tmp_path: Path) -> None:
    path = write_dsads_zip(tmp_path / "z.zip", edit=lambda m: m.pop("data/a02/p1/s02.txt"))
    with pytest.raises(DatasetError, match="missing member data/a02/p1/s02.txt"):
        _load(path)


def test_recording_shorter_than_the_others_is_named(tmp_path: Path) -> None:
    path = write_dsads_zip(tmp_path / "z.zip", edit=lambda m: m.pop("data/a01/p1/s03.txt"))
    with pytest.raises(DatasetError, match="data/a01/p1/s03.txt"):
        _load(path)


def _replace(name: str, text: str) -> object:
    return lambda members: members.__setitem__(name, text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (segment_text(np.random.default_rng(0), columns=44), "has 44 columns"),
        (segment_text(np.random.default_rng(0), rows=124), "has 124 rows"),
        (segment_text(np.random.default_rng(0)) + "1,2,3\n", "cannot parse"),
        (segment_text(np.random.default_rng(0)).replace(",", ",nan,", 1)[:-1], "cannot parse"),
        ("", "file is empty"),
        ("not,numbers\n", "cannot parse"),
    ],
    ids=["columns", "rows", "ragged", "extra-field", "empty", "text"],
)
def test_malformed_member_is_named(tmp_path: Path, text: str, problem: str) -> None:
    path = write_dsads_zip(tmp_path / "z.zip", edit=_replace("data/a02/p1/s03.txt", text))
    with pytest.raises(DatasetError, match=f"data/a02/p1/s03.txt: {problem}"):
        _load(path)


@pytest.mark.parametrize("bad_value", ["nan", "inf", "-inf", "NaN"])
def test_non_finite_value_is_named(tmp_path: Path, bad_value: str) -> None:
    lines = segment_text(np.random.default_rng(0)).splitlines(keepends=True)
    fields = lines[6].split(",")
    fields[4] = bad_value
    lines[6] = ",".join(fields)
    path = write_dsads_zip(tmp_path / "z.zip", edit=_replace("data/a01/p1/s02.txt", "".join(lines)))
    with pytest.raises(
        DatasetError, match="data/a01/p1/s02.txt: non-finite value .* line 7, column 5"
    ):
        _load(path)


def test_not_a_dsads_archive(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="not a readable zip"):
        _load(junk)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(DatasetError, match="no members named data/aXX/pY/sZZ.txt"):
        _load(other)
    with pytest.raises(DatasetError, match="no such file or folder"):
        _load(tmp_path / "absent.zip")
    with pytest.raises(DatasetError, match="no data/ subfolder"):
        _load(tmp_path)


# --- the full release (skipped where shared/ is absent) --------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not FULL_ZIP.is_file(), reason=f"{FULL_ZIP} not present")
def test_full_release_loads() -> None:
    data = load_dsads(FULL_ZIP, cache=False)
    assert len(data) == 19 * 8 * 60
    assert np.bincount(data.y).tolist() == [480] * 19
    assert np.bincount(data.subject).tolist() == [0] + [1140] * 8
    raw = raw_segment("data/a19/p8/s60.txt", FULL_ZIP)
    np.testing.assert_array_equal(data.x["left_leg"][-1], raw[:, 36:39])
    raw = raw_segment("data/a05/p3/s17.txt", FULL_ZIP)
    index = (3 - 1) * 19 * 60 + (5 - 1) * 60 + (17 - 1)
    np.testing.assert_array_equal(data.x["right_arm"][index], raw[:, 9:12])


def test_windows_know_the_released_segments_they_overlap() -> None:
    """Recordings of 4 segments of 125 samples; 7 s windows (175) every 3 s (75). Written
    out by hand: window k covers samples 75k .. 75k + 174."""
    data = load_dsads(
        FIXTURE, subjects=[2], activities=[1, 12], window_seconds=7.0, hop_seconds=3.0
    )
    assert data.segments is not None
    per_recording = 1 + (500 - 175) // 75  # 5
    # 0-174, 75-249, 150-324, 225-399 (three segments), 300-474
    expected_one = [(0, 1), (0, 1), (1, 2), (1, 3), (2, 3)]
    expected = expected_one + [(4 + a, 4 + b) for a, b in expected_one]  # 2nd recording: +4
    assert data.segments.tolist() == [list(pair) for pair in expected]
    assert len(data) == 2 * per_recording


def test_segment_aligned_windows_overlap_one_segment_each() -> None:
    data = load_fixture()  # 5 s windows, no overlap: window k is segment k of its recording
    assert data.segments is not None
    np.testing.assert_array_equal(data.segments[:, 0], data.segments[:, 1])
    np.testing.assert_array_equal(data.segments[:, 0], np.arange(len(data)))
