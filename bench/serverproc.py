"""`ralis serve` in its own process for load tests: start, wait ready, watch CPU and memory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from prometheus_client.parser import text_string_to_metric_families

from service.settings import DEFAULT_BUNDLE_DIR

REPO = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def resolve_bundle(bundle: Path | None, tiny: bool, work_dir: Path) -> Path:
    """The bundle to serve: `bundle`, else the tiny test bundle if asked, else the default one.

    Raises:
        SystemExit: no bundle given and the default bundle is not there yet.
    """
    if bundle is not None:
        return bundle
    if tiny:
        from tests.service.bundle_factory import build_bundle  # torch; only for this choice

        return build_bundle(work_dir / "tiny_bundle")
    if not (DEFAULT_BUNDLE_DIR / "manifest.json").is_file():
        raise SystemExit(
            f"no default bundle in {DEFAULT_BUNDLE_DIR}; pass --bundle DIR (e.g. from "
            "`ralis export`) or --tiny-bundle"
        )
    return DEFAULT_BUNDLE_DIR


@dataclass(frozen=True)
class ProcessSample:
    """CPU time and memory of a process at one instant."""

    wall_s: float  # time.monotonic()
    cpu_s: float  # user + system, all threads
    rss_bytes: int
    peak_rss_bytes: int  # VmHWM: the high-water mark since the process started
    # The main thread's share of cpu_s: in `ralis serve` the event loop (messages, windows,
    # responses); the other threads run the model.
    main_thread_cpu_s: float = 0.0


def sample_process(pid: int) -> ProcessSample:
    """Read /proc/<pid>/stat and /proc/<pid>/status (Linux)."""
    wall = time.monotonic()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14, stime 15, rss 24 (1-based).
    cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    rss = int(fields[21]) * PAGE_BYTES
    main = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    main_cpu_s = (int(main[11]) + int(main[12])) / CLOCK_TICKS
    peak = rss
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return ProcessSample(wall, cpu_s, rss, peak, main_cpu_s)


def sample_tree(pid: int) -> ProcessSample:
    """`sample_process` summed over `pid` and its live descendants (a supervisor and workers).

    RSS and VmHWM add up each process's own: pages shared between them (libraries) count once
    per process, so the sum is an upper bound on what the processes hold together.
    """
    wall = time.monotonic()
    cpu_s, rss, peak, main_cpu_s = 0.0, 0, 0, 0.0
    for member in process_tree(pid):
        try:
            sample = sample_process(member)
        except (OSError, IndexError, ValueError):
            if member == pid:
                raise
            continue  # a worker exited while we looked
        cpu_s, rss, peak, main_cpu_s = (
            cpu_s + sample.cpu_s,
            rss + sample.rss_bytes,
            peak + sample.peak_rss_bytes,
            main_cpu_s + sample.main_thread_cpu_s,
        )
    return ProcessSample(wall, cpu_s, rss, peak, main_cpu_s)


def cpu_percent(before: ProcessSample, after: ProcessSample, main_thread: bool = False) -> float:
    """Average CPU use between two samples, in % of one core (200 % = both of 2 cores); of
    the main threads only with `main_thread`."""
    elapsed = after.wall_s - before.wall_s
    if main_thread:
        used = after.main_thread_cpu_s - before.main_thread_cpu_s
    else:
        used = after.cpu_s - before.cpu_s
    return 100.0 * used / elapsed if elapsed > 0 else 0.0


def scrape(base_url: str, timeout_s: float = 10.0) -> dict[str, float]:
    """GET /metrics as {'name{label="v",...}': value} (samples of every family)."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=timeout_s) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = sample.value
    return values


def metric_delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """after - before for every sample of `after` (counters and histogram parts)."""
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def server_errors(delta: Mapping[str, float], log: str) -> tuple[float, int]:
    """Internal errors the server counted in `delta`, and tracebacks in its `log`."""
    internal = sum(
        v for k, v in delta.items() if k.startswith('ralis_errors_total{kind="internal"')
    )
    return internal, log.count("Traceback")


class ServerProcess:
    """`python -m ralis.cli serve` on a free loopback port, with extra `RALIS_*` settings.

    Use as a context manager; the server is stopped with SIGTERM on exit. Its output goes to
    a log file (`log_path`) so a chatty server cannot block on a full pipe.
    """

    def __init__(
        self,
        bundle: Path,
        env: Mapping[str, str] | None = None,
        log_level: str = "warning",
        ready_timeout_s: float = 120.0,
        execution_provider: str = "cpu",
        workers: int = 1,
    ) -> None:
        """`workers`: `ralis serve --workers` (RALIS_WORKERS); 1 is the single-process server."""
        self.bundle = bundle
        self.workers = workers
        self.execution_provider = execution_provider
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/v1/stream"
        self._env = {**os.environ, **(env or {}), "RALIS_WORKERS": str(workers)}
        self._log_level = log_level
        self._ready_timeout_s = ready_timeout_s
        self._log = tempfile.NamedTemporaryFile("w+", prefix="ralis-serve-", suffix=".log")
        self.log_path = Path(self._log.name)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the server is not running")
        return self.process.pid

    def start(self) -> None:
        """Start the server and wait until /readyz answers 200.

        With workers, that is the first worker to listen; the others follow within a model
        load (about a second), well inside any warm-up.
        """
        command = [
            sys.executable, "-m", "ralis.cli", "serve", "--bundle", str(self.bundle),
            "--host", "127.0.0.1", "--port", str(self.port), "--execution-provider",
            self.execution_provider,
            "--log-level", self._log_level,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=REPO, env=self._env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + self._ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ralis serve exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ralis serve was not ready within {self._ready_timeout_s:g} s")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def sample(self) -> ProcessSample:
        """CPU and memory of the server now, summed over its processes (supervisor, workers)."""
        return sample_tree(self.pid)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM, then wait (SIGKILL after `timeout_s`); returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        self._log.close()


def process_tree(pid: int) -> list[int]:
    """`pid` and all its live descendants (from the parent ids in /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its live descendants (servers with workers).

    A child that exits takes its CPU with it unless reaped (then it moves to the parent's
    cutime); measure spans in which the server's processes stay up.
    """
    total = 0.0
    for member in process_tree(pid):
        try:
            total += sample_process(member).cpu_s
        except (OSError, IndexError, ValueError):
            continue
    return total
