"""Fixtures: a tiny exported bundle (always) and the committed default bundle (if present)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.app import create_app
from service.settings import DEFAULT_BUNDLE_DIR, Settings
from tests.service.bundle_factory import build_bundle
from tests.service.servers import Server
from tests.service.testclient import TestClient


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight bundle with the default model's views, rates and window."""
    return build_bundle(tmp_path_factory.mktemp("bundle") / "tiny")


@pytest.fixture(scope="session")
def default_bundle() -> Path:
    """The committed default model; tests using it skip until it is there."""
    if not (DEFAULT_BUNDLE_DIR / "manifest.json").is_file():
        pytest.skip(f"no default bundle in {DEFAULT_BUNDLE_DIR} yet")
    return DEFAULT_BUNDLE_DIR


@pytest.fixture(scope="session")
def bundle_dir(tiny_bundle: Path) -> Path:
    """The bundle the service tests run against; override to test another bundle."""
    return tiny_bundle


@pytest.fixture()
def settings(bundle_dir: Path) -> Settings:
    """Test settings: CPU, one thread, no batching wait, no keys."""
    return Settings(
        bundle_dir=bundle_dir,
        execution_provider="cpu",
        intra_op_threads=1,
        max_batch_wait_ms=0.0,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture()
def client(settings: Settings) -> Iterator[TestClient]:
    """An app with its lifespan running."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def server(bundle_dir: Path) -> Iterator[Server]:
    """`ralis serve` on the test bundle in a subprocess, shared by a module's tests."""
    running = Server(bundle_dir)
    try:
        yield running
    finally:
        running.stop()
