"""A small on-disk cache of parsed arrays, so repeated training runs skip text parsing."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

CACHE_DIR_ENV = "RALIS_CACHE_DIR"


def default_cache_dir() -> Path:
    """`$RALIS_CACHE_DIR` if set, else `~/.cache/ralis`."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "ralis"


def load_cached(
    path: Path, shape: tuple[int, ...], dtype: type = np.float32
) -> npt.NDArray[np.float32] | None:
    """The array stored at `path` if it exists and has the expected shape and dtype."""
    if not path.is_file():
        return None
    try:
        array: npt.NDArray[np.float32] = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable cache file %s: %s", path, exc)
        return None
    if array.shape != shape or array.dtype != dtype:
        logger.warning(
            "ignoring cache file %s: %s %s, expected %s %s",
            path,
            array.dtype,
            array.shape,
            np.dtype(dtype),
            shape,
        )
        return None
    return array


def save_cached(path: Path, array: np.ndarray) -> None:
    """Store `array` at `path` atomically; a cache that cannot be written only logs."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so concurrent runs never read a half-written file.
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, array, allow_pickle=False)
            os.chmod(tmp_name, 0o644)  # mkstemp makes 0600; the cache may be shared
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    except OSError as exc:
        logger.warning("could not write cache file %s: %s", path, exc)
