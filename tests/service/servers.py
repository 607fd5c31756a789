"""`ralis serve` in a subprocess on a free loopback port, for tests over real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def start_serve(bundle: Path, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    """`ralis serve` on `bundle` at `port` (CPU, quiet logs), output piped; not waited for."""
    return subprocess.Popen(
        [sys.executable, "-m", "ralis.cli", "serve", "--bundle", str(bundle),
         "--port", str(port), "--execution-provider", "cpu", "--log-level", "warning"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


class Server:
    """`ralis serve` in a subprocess."""

    def __init__(
        self, bundle: Path, env: dict[str, str] | None = None, port: int | None = None
    ) -> None:
        """`{origin}` in a variable's value stands for the server's own origin."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/v1/stream"
        extra = {name: value.format(origin=self.url) for name, value in (env or {}).items()}
        env = dict(os.environ, RALIS_MAX_BATCH_WAIT_MS="1", RALIS_INTRA_OP_THREADS="1", **extra)
        self.output = ""
        self.process = start_serve(bundle, self.port, env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stdout.read()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not become ready within 60 s")

    def stop(self) -> int:
        """SIGTERM (if still running), then wait; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.output, _ = self.process.communicate(timeout=30)
        return self.process.returncode
