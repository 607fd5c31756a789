from __future__ import annotations

from pathlib import Path

import pytest

from training.data.cache import CACHE_DIR_ENV


@pytest.fixture(autouse=True)
def _private_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Keep tests from reading or writing the user's ~/.cache/ralis."""
    cache_dir = tmp_path_factory.mktemp("ralis-cache")
    monkeypatch.setenv(CACHE_DIR_ENV, str(cache_dir))
    return cache_dir
