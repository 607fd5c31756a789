"""Reading and parsing DSADS segment files from the released zip or its extracted folder.

Layout (official UCI release): ``data/aXX/pY/sZZ.txt``, activity XX = 01..19, subject
Y = 1..8, segment ZZ = 01..60; each file holds 125 lines of 45 comma-separated numbers.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ralis.client import dsads as dsads_layout
from training.data.dataset import DatasetError

SEGMENT_ROWS = dsads_layout.SEGMENT_ROWS  # 5 s at 25 Hz
NUM_COLUMNS = dsads_layout.COLUMNS  # 5 units x (acc, gyro, mag) x (x, y, z)

_MEMBER = re.compile(r"^data/a(\d\d)/p(\d+)/s(\d\d)\.txt$")
_FINGERPRINT_VERSION = b"dsads-parse-v1"

PairKey = tuple[int, int]  # (activity 1..19, subject 1..8)


class DsadsArchive:
    """The segment files of a DSADS release, as a zip or an extracted folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        self._root: Path | None = None
        # (activity, subject) -> segment number -> member name ("data/aXX/pY/sZZ.txt")
        self.segments: dict[PairKey, dict[int, str]] = defaultdict(dict)
        # member name -> facts that change when its content changes
        self._stamps: dict[str, str] = {}
        if self.path.is_file():
            self._open_zip()
        elif self.path.is_dir():
            self._open_folder()
        else:
            raise DatasetError(
                f"{self.path}: no such file or folder; expected the DSADS zip as released "
                "or its extracted folder (containing data/aXX/pY/sZZ.txt)"
            )

    def _open_zip(self) -> None:
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DatasetError(f"{self.path}: not a readable zip file ({exc})") from exc
        for info in self._zip.infolist():
            if self._index(info.filename):
                self._stamps[info.filename] = f"{info.CRC:08x}:{info.file_size}"
        if not self._stamps:
            raise DatasetError(
                f"{self.path}: no members named data/aXX/pY/sZZ.txt; is this the DSADS zip?"
            )

    def _open_folder(self) -> None:
        if (self.path / "data").is_dir():
            root = self.path
        elif self.path.name == "data":  # the data/ folder itself
            root = self.path.parent
        else:
            raise DatasetError(
                f"{self.path}: folder has no data/ subfolder; expected the extracted DSADS "
                "release (data/aXX/pY/sZZ.txt)"
            )
        self._root = root
        for file in sorted((root / "data").glob("a*/p*/s*.txt")):
            name = file.relative_to(root).as_posix()
            if self._index(name):
                stat = file.stat()
                self._stamps[name] = f"{stat.st_size}:{stat.st_mtime_ns}"
        if not self._stamps:
            raise DatasetError(f"{root / 'data'}: no files named aXX/pY/sZZ.txt")

    def _index(self, name: str) -> bool:
        match = _MEMBER.match(name)
        if match is None:
            return False
        activity, subject, segment = (int(group) for group in match.groups())
        self.segments[(activity, subject)][segment] = name
        return True

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> DsadsArchive:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def recording_members(self, pairs: list[PairKey]) -> list[list[str]]:
        """Member names of each (activity, subject) recording, segments in order.

        Every recording must have the same segments s01..sK (K = 60 in the release).
        """
        absent = [pair for pair in pairs if not self.segments.get(pair)]
        if absent:
            listed = ", ".join(f"data/a{a:02d}/p{s}/" for a, s in absent[:4])
            more = f" and {len(absent) - 4} more" if len(absent) > 4 else ""
            raise DatasetError(
                f"{self.path}: missing {listed}{more} ({len(absent)} of {len(pairs)} "
                "requested recordings have no segment files); pass subjects= and "
                "activities= to load only what the archive holds"
            )
        num_segments = max(max(self.segments[pair]) for pair in pairs)
        return [self._member_names(a, s, num_segments) for a, s in pairs]

    def _member_names(self, activity: int, subject: int, num_segments: int) -> list[str]:
        present = self.segments[(activity, subject)]
        folder = f"data/a{activity:02d}/p{subject}/"
        missing = [s for s in range(1, num_segments + 1) if s not in present]
        if missing:
            names = ", ".join(f"{folder}s{s:02d}.txt" for s in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise DatasetError(
                f"{self.path}: missing member {names}{more}; every recording needs "
                f"segments s01..s{num_segments:02d}"
            )
        return [present[s] for s in range(1, num_segments + 1)]

    def fingerprint(self, members: list[str]) -> str:
        """A short digest that changes when any of these members' content changes."""
        digest = hashlib.sha256(_FINGERPRINT_VERSION)
        for name in members:
            digest.update(f"{name}={self._stamps[name]};".encode())
        return digest.hexdigest()[:20]

    def read(self, name: str) -> bytes:
        """The raw bytes of one member."""
        try:
            if self._zip is not None:
                return self._zip.read(name)
            assert self._root is not None
            return (self._root / name).read_bytes()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DatasetError(f"{self.path}: cannot read {name} ({exc})") from exc

    def read_recording(self, members: list[str]) -> npt.NDArray[np.float32]:
        """Consecutive segments joined in order into one (len(members) * 125, 45) array."""
        return np.concatenate([parse_segment(self.read(name), name) for name in members])


def parse_segment(text: bytes, name: str) -> npt.NDArray[np.float32]:
    """Parse one segment file into a (125, 45) float32 array, or say what is wrong with it."""
    expected = f"expected {SEGMENT_ROWS} rows of {NUM_COLUMNS} comma-separated numbers"
    if not text.strip():
        raise DatasetError(f"{name}: file is empty; {expected}")
    try:
        # Parse as float64 and round once to float32, as float32(float(text)) would.
        values = np.loadtxt(
            io.BytesIO(text), delimiter=",", dtype=np.float64, comments=None, ndmin=2
        )
    except ValueError as exc:
        raise DatasetError(f"{name}: cannot parse ({exc}); {expected}") from exc
    rows, columns = values.shape
    if columns != NUM_COLUMNS:
        raise DatasetError(f"{name}: has {columns} columns; {expected}")
    if rows != SEGMENT_ROWS:
        raise DatasetError(f"{name}: has {rows} rows (inconsistent length); {expected}")
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        row, column = bad[0]
        raise DatasetError(
            f"{name}: non-finite value {values[row, column]} at line {row + 1}, column "
            f"{column + 1} ({len(bad)} in the file); DSADS has no missing values"
        )
    return values.astype(np.float32)
