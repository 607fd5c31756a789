"""`ralis serve --workers N`: the supervisor, SO_REUSEPORT sockets, metrics summed over workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from service import cli
from service.metrics import Metrics
from service.settings import Settings
from service.workers import (
    METRICS_DIR_ENV,
    WORKER_ENV,
    WorkerSlot,
    check_port_free,
    reuse_port_socket,
    worker_command,
    worker_env,
    worker_slot,
)
from tests.service.servers import REPO, Server, free_port, start_serve

# ---------------------------------------------------------------- settings and pure helpers


def test_fewer_than_one_worker_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValidationError, match="workers"):
        Settings(workers=0, _env_file=None)  # type: ignore[call-arg]
    assert Settings(_env_file=None).workers == 1  # type: ignore[call-arg]
    assert cli.main(["--workers", "0"]) == 2
    assert "workers" in capsys.readouterr().err


def test_the_worker_environment_round_trips(tmp_path: Path) -> None:
    slot = WorkerSlot(2, 3, tmp_path)
    env = worker_env({"PATH": "/bin"}, slot)
    assert env == {"PATH": "/bin", WORKER_ENV: "2/3", METRICS_DIR_ENV: str(tmp_path)}
    assert worker_slot(env) == slot
    assert worker_slot({"PATH": "/bin"}) is None


@pytest.mark.parametrize("marker", ["2", "0/2", "3/2", "a/b", "1/"])
def test_a_malformed_worker_marker_is_refused(marker: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=WORKER_ENV):
        worker_slot({WORKER_ENV: marker, METRICS_DIR_ENV: str(tmp_path)})


def test_a_worker_needs_the_metrics_directory() -> None:
    with pytest.raises(ValueError, match=METRICS_DIR_ENV):
        worker_slot({WORKER_ENV: "1/2"})


def test_workers_run_this_interpreter_with_the_same_options() -> None:
    command = worker_command(["--port", "9000", "--workers", "2"])
    assert command == [sys.executable, "-m", "service.cli", "--port", "9000", "--workers", "2"]


def test_worker_sockets_share_a_port_with_so_reuseport() -> None:
    port = free_port()
    first = reuse_port_socket("127.0.0.1", port)
    second = reuse_port_socket("127.0.0.1", port)  # a second worker binds the same address
    try:
        for sock in (first, second):
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
            assert sock.getsockname() == ("127.0.0.1", port)
        first.listen()
        with pytest.raises(OSError):  # the supervisor's check sees the port taken
            check_port_free("127.0.0.1", port)
    finally:
        first.close()
        second.close()
    check_port_free("127.0.0.1", port)


def test_multiprocess_metrics_need_the_directory_before_import(tmp_path: Path) -> None:
    # This test process imported prometheus_client without PROMETHEUS_MULTIPROC_DIR.
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        Metrics(multiprocess_dir=tmp_path)


WRITER = """
import sys
from pathlib import Path
from service.metrics import Metrics
metrics = Metrics(multiprocess_dir=Path(sys.argv[1]))
metrics.set_model("tiny", "1.0", "CPUExecutionProvider", "fp32")
metrics.init_labels(["torso"], ["walking", "sitting"])
metrics.predictions.labels(activity="walking", source="http").inc(int(sys.argv[2]))
metrics.active_streams.inc(int(sys.argv[2]))
metrics.ready.set(1)
if sys.argv[2] == "0":  # the reader: what /metrics would answer
    from prometheus_client import generate_latest
    sys.stdout.write(generate_latest(metrics.exposition_registry()).decode())
"""


def test_multiprocess_metrics_are_summed_over_the_workers(tmp_path: Path) -> None:
    def run(count: int) -> str:
        env = dict(os.environ, **{METRICS_DIR_ENV: str(tmp_path)})
        command = [sys.executable, "-c", WRITER, str(tmp_path), str(count)]
        done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run(3)
    run(4)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(run(0))
        for s in family.samples
    }
    walking = (("activity", "walking"), ("source", "http"))
    assert samples["ralis_predictions_total", walking] == 7
    # live* gauges drop a process only once it is marked dead; these writers were not.
    assert samples["ralis_active_streams", ()] == 7
    assert samples["ralis_ready", ()] == 1
    model = (
        ("execution_provider", "CPUExecutionProvider"),
        ("name", "tiny"),
        ("precision", "fp32"),
        ("version", "1.0"),
    )
    assert samples["ralis_model_info", model] == 1


# ---------------------------------------------------------------- real servers


def children(pid: int) -> list[int]:
    """Live child processes of `pid` (Linux)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def predict(url: str) -> None:
    """One prediction on a fresh connection (so the kernel picks a worker each time)."""
    window = np.random.default_rng(0).normal(size=(100, 3)).tolist()
    response = httpx.post(f"{url}/v1/predict", json={"sensors": {"torso": window}}, timeout=10)
    assert response.status_code == 200


def http_predictions(url: str) -> float:
    """`ralis_predictions_total` over every activity, for HTTP, from one scrape."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "ralis_predictions_total" and sample.labels["source"] == "http"
    )


@pytest.fixture(scope="module")
def two_workers(bundle_dir: Path) -> Iterator[Server]:
    running = Server(bundle_dir, env={"RALIS_WORKERS": "2"})
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow
def test_two_workers_serve_the_api(two_workers: Server) -> None:
    assert len(children(two_workers.process.pid)) == 2
    assert httpx.get(f"{two_workers.url}/healthz", timeout=10).json()["status"] == "ok"
    predict(two_workers.url)


@pytest.mark.slow
def test_metrics_count_every_workers_predictions(two_workers: Server) -> None:
    before = http_predictions(two_workers.url)
    for _ in range(20):
        predict(two_workers.url)
    # Each scrape is a fresh connection, answered by whichever worker the kernel picks.
    assert [http_predictions(two_workers.url) - before for _ in range(5)] == [20] * 5


@pytest.mark.slow
def test_sigterm_stops_every_worker_and_exits_0(bundle_dir: Path) -> None:
    server = Server(bundle_dir, env={"RALIS_WORKERS": "2"})
    workers = children(server.process.pid)
    metrics_dir = Path(
        dict(
            line.split("=", 1)
            for line in Path(f"/proc/{workers[0]}/environ").read_text().split("\0")
            if "=" in line
        )[METRICS_DIR_ENV]
    )
    assert metrics_dir.is_dir()
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 10
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert not metrics_dir.exists()


@pytest.mark.slow
@pytest.mark.parametrize("delay_s", [0.0, 0.3, 1.0])
def test_sigterm_while_the_workers_start_stops_them_all_with_0(
    bundle_dir: Path, delay_s: float
) -> None:
    # Whatever a worker is doing when the stop comes (importing, building the app, loading
    # the model), it must end promptly; CI once saw one swallow it and be killed (137).
    env = dict(os.environ, RALIS_WORKERS="2", RALIS_INTRA_OP_THREADS="1")
    process = start_serve(bundle_dir, free_port(), env)
    try:
        deadline = time.monotonic() + 30
        while len(children(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        workers = children(process.pid)
        assert len(workers) == 2, "the supervisor did not start its workers"
        time.sleep(delay_s)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert time.monotonic() - started < 10
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


@pytest.mark.slow
def test_a_dead_worker_stops_the_server_with_an_error(bundle_dir: Path) -> None:
    server = Server(bundle_dir, env={"RALIS_WORKERS": "2"})
    first, second = children(server.process.pid)
    os.kill(first, signal.SIGKILL)
    server.process.wait(timeout=30)  # without a signal to the supervisor
    assert server.stop() == 1
    assert not Path(f"/proc/{second}").exists()
    assert "stopping the others" in server.output
