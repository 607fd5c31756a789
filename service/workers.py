"""`ralis serve --workers N`: a supervisor process and N uvicorn workers sharing one port.

Each worker binds its own listening socket with SO_REUSEPORT, so the kernel spreads new
connections across the workers by a hash of the addresses (no shared accept queue, no
thundering herd). Metrics go through prometheus_client's multiprocess mode: every worker
writes its values to files in a directory the supervisor creates and removes, and any
worker's `/metrics` answers the sum over all of them.

The supervisor does not restart workers: if one dies it stops the others and exits non-zero,
and the container orchestrator (Kubernetes, compose `restart:`) restarts the whole server.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

logger = logging.getLogger(__name__)

# Set by the supervisor in each worker's environment: "i/N", 1-based.
WORKER_ENV = "RALIS_WORKER"
# Read by prometheus_client when it is first imported: it must be in the environment the
# worker starts with, not set later.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
POLL_S = 0.2


@dataclass(frozen=True)
class WorkerSlot:
    """This process is worker `index` (1-based) of `count`, writing metrics to `metrics_dir`."""

    index: int
    count: int
    metrics_dir: Path

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def worker_slot(environ: Mapping[str, str] | None = None) -> WorkerSlot | None:
    """The slot the supervisor gave this process, or None when it is not a worker.

    Raises:
        ValueError: the marker is malformed or the metrics directory is missing.
    """
    environ = os.environ if environ is None else environ
    marker = environ.get(WORKER_ENV)
    if marker is None:
        return None
    index_text, _, count_text = marker.partition("/")
    if not (index_text.isdigit() and count_text.isdigit()):
        raise ValueError(f"{WORKER_ENV}={marker!r}; expected 'i/N', e.g. '1/2'")
    index, count = int(index_text), int(count_text)
    if not 1 <= index <= count:
        raise ValueError(f"{WORKER_ENV}={marker!r}: the index must be within 1..{count}")
    metrics_dir = environ.get(METRICS_DIR_ENV)
    if not metrics_dir:
        raise ValueError(f"{WORKER_ENV} is set but {METRICS_DIR_ENV} is not")
    return WorkerSlot(index, count, Path(metrics_dir))


def worker_env(base: Mapping[str, str], slot: WorkerSlot) -> dict[str, str]:
    """The environment a worker starts with: `base`, its slot and the metrics directory."""
    return {
        **base,
        WORKER_ENV: f"{slot.index}/{slot.count}",
        METRICS_DIR_ENV: str(slot.metrics_dir),
    }


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) that other workers of this user may bind as well.

    uvicorn listens on it (`Server.serve(sockets=[...])`). The address family follows
    uvicorn's own rule: IPv6 when the host has a colon.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def check_port_free(host: str, port: int) -> None:
    """Bind (host, port) without SO_REUSEPORT and let go: fails if anything listens there.

    Without this, a second `ralis serve --workers N` of the same user on the same port would
    silently join the first one's workers instead of failing.

    Raises:
        OSError: the address is in use or cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no conflict
        sock.bind((host, port))


def worker_command(argv: Sequence[str]) -> list[str]:
    """The command line of a worker: this interpreter, `ralis serve`'s module, same options."""
    return [sys.executable, "-m", "service.cli", *argv]


class Supervisor:
    """Starts the workers, forwards SIGTERM/SIGINT to them, and waits for them to exit."""

    def __init__(self, argv: Sequence[str], workers: int, stop_timeout_s: float) -> None:
        self._argv = list(argv)
        self._count = workers
        self._stop_timeout_s = stop_timeout_s
        self._children: list[subprocess.Popen[bytes]] = []
        self._stopping = False

    def run(self, metrics_dir: Path) -> int:
        """Serve until a signal (0 when every worker stopped cleanly) or a worker dies (1)."""
        previous = {
            sig: signal.signal(sig, self._forward) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for index in range(1, self._count + 1):
                if self._stopping:
                    break  # a signal during start-up: start no more
                slot = WorkerSlot(index, self._count, metrics_dir)
                self._children.append(
                    # Own process group: a terminal's Ctrl-C reaches the supervisor only, which
                    # forwards it once (a second SIGINT to uvicorn means "exit now").
                    subprocess.Popen(
                        worker_command(self._argv),
                        env=worker_env(os.environ, slot),
                        process_group=0,
                    )
                )
            logger.info(
                "supervisor %d started %d workers: %s",
                os.getpid(),
                self._count,
                ", ".join(str(child.pid) for child in self._children),
            )
            if self._stopping:
                self._signal_children(signal.SIGTERM)  # those started after the signal
            failed = self._wait_for_first_exit()
            if failed is not None:
                logger.error(
                    "worker %d exited with status %s; stopping the others",
                    failed.pid,
                    failed.returncode,
                )
                self._signal_children(signal.SIGTERM)
            codes = self._wait_all()
        finally:
            self._kill_leftovers()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if failed is not None:
            return 1
        # A worker still importing when SIGTERM came had no handler yet and nothing to close.
        stopped = {0, -signal.SIGTERM}
        return next((_exit_status(code) for code in codes if code not in stopped), 0)

    def _forward(self, sig: int, _frame: FrameType | None) -> None:
        self._stopping = True
        self._signal_children(sig)

    def _signal_children(self, sig: int) -> None:
        for child in self._children:
            if child.poll() is None:
                child.send_signal(sig)

    def _wait_for_first_exit(self) -> subprocess.Popen[bytes] | None:
        """Wait until a signal arrives (None) or a worker exits on its own (that worker)."""
        while not self._stopping:
            for child in self._children:
                if child.poll() is not None:
                    return None if self._stopping else child
            time.sleep(POLL_S)
        return None

    def _wait_all(self) -> list[int]:
        """Wait for every worker (SIGKILL after the stop timeout); their exit statuses."""
        deadline = time.monotonic() + self._stop_timeout_s
        for child in self._children:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.error("worker %d did not stop in time; killing it", child.pid)
                child.kill()
                child.wait()
        return [child.returncode for child in self._children]

    def _kill_leftovers(self) -> None:
        for child in self._children:
            if child.poll() is None:
                child.kill()
                child.wait()


def _exit_status(code: int) -> int:
    """A child's status as a shell reports it: 128 + signal for one killed by a signal."""
    return 128 - code if code < 0 else code


def supervise(
    argv: Sequence[str], workers: int, host: str, port: int, stop_timeout_s: float
) -> int:
    """Run `workers` worker processes of `ralis serve argv` until stopped; the exit status."""
    try:
        check_port_free(host, port)
    except OSError as exc:
        sys.stderr.write(f"ralis serve: cannot listen on {host}:{port}: {exc}\n")
        return 1
    metrics_dir = Path(tempfile.mkdtemp(prefix="ralis-metrics-"))
    try:
        return Supervisor(argv, workers, stop_timeout_s).run(metrics_dir)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
