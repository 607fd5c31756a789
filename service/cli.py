"""`ralis serve`: run the service under uvicorn.

One process by default; `--workers N` (service/workers.py) runs N processes sharing the port,
to use more than one core per container.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import logging
import math
import resource
import signal
import socket
import sys
from types import FrameType
from typing import Any

import uvicorn
from pydantic import ValidationError

from ralis.bundle import BundleError, load_manifest
from service.app import create_app
from service.protocol import guarded_protocol
from service.settings import Settings
from service.state import ServiceState
from service.workers import WorkerSlot, reuse_port_socket, supervise, worker_slot

logger = logging.getLogger(__name__)


class GracefulServer(uvicorn.Server):
    """On SIGTERM/SIGINT: stop accepting, close streams with 1001, finish in-flight requests.

    A shutdown that outlives its own time limits (`stall_report_s`) prints every thread's
    stack to stderr, so a stall that ends in a SIGKILL leaves evidence of where it was stuck.
    """

    def __init__(self, config: uvicorn.Config, state: ServiceState, stall_report_s: float) -> None:
        super().__init__(config)
        self._state = state
        self._stall_report_s = stall_report_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            faulthandler.dump_traceback_later(self._stall_report_s, exit=False)
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # stop accepting first; uvicorn's shutdown closes them again
        # uvicorn would close open WebSockets with 1012; streams close themselves with 1001.
        await self._state.streams.close_all(self._state.settings.shutdown_timeout_s)
        await super().shutdown(sockets)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ralis serve",
        description="Serve live activity predictions from a model bundle. Every option can also "
        "be set as a RALIS_* environment variable (RALIS_BUNDLE_DIR, RALIS_PORT, ...).",
    )
    parser.add_argument("--bundle", help="model bundle folder (default: the packaged model)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    parser.add_argument(
        "--execution-provider",
        choices=["auto", "cpu", "cuda"],
        help="onnxruntime provider; cuda falls back to cpu with a warning when unavailable",
    )
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "int8"],
        help="encoder precision; auto (default) serves the bundle's int8 encoders on CPU when "
        "it has them, fp32 otherwise",
    )
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port (default 1); stream caps hold per worker",
    )
    parser.add_argument(
        "--model-threads",
        type=int,
        help="batches the model runs at once, one thread each (default 2)",
    )
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line; the rest come from RALIS_* or defaults."""
    given = {
        "bundle_dir": args.bundle,
        "host": args.host,
        "port": args.port,
        "execution_provider": args.execution_provider,
        "precision": args.precision,
        "log_level": args.log_level,
        "workers": args.workers,
        "model_threads": args.model_threads,
    }
    return {key: value for key, value in given.items() if value is not None}


def main(argv: list[str] | None = None) -> int:
    """Parse options, check the bundle, and serve until SIGTERM or SIGINT."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    try:
        settings = Settings(**_overrides(args))
        slot = worker_slot()
    except (ValidationError, ValueError) as exc:
        sys.stderr.write(f"ralis serve: invalid settings:\n{exc}\n")
        return 2
    worker = f"[worker {slot}] " if slot else ""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=f"%(asctime)s %(levelname)s {worker}%(name)s: %(message)s",
    )
    if slot is None:  # the supervisor checked it once for all workers
        try:
            manifest = load_manifest(settings.bundle_dir, verify=True)  # fail fast, clearly
            if settings.precision == "int8":
                manifest.encoder_file(manifest.views[0], "int8")  # BundleError if it has none
        except BundleError as exc:
            sys.stderr.write(f"ralis serve: cannot use the model bundle: {exc}\n")
            return 2
    if slot is None and settings.workers > 1:
        return supervise(
            argv,
            settings.workers,
            settings.host,
            settings.port,
            # Each worker may take the stream close and uvicorn's graceful wait, one after
            # the other (GracefulServer), before it is killed.
            stop_timeout_s=2 * settings.shutdown_timeout_s + 5,
        )
    return _serve(settings, slot)


def _serve(settings: Settings, slot: WorkerSlot | None) -> int:
    """Serve on the configured address (a worker: on its own SO_REUSEPORT socket)."""
    sys.setswitchinterval(settings.gil_switch_interval_ms / 1e3)
    early_stop = _EarlyStop()  # until uvicorn's handler exists, SIGTERM must not be lost
    app = create_app(settings, metrics_dir=slot.metrics_dir if slot else None)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # keep the logging set up above
        ws_max_size=4 * settings.max_message_bytes,  # beyond the app's error-frame limit: 1009
        timeout_graceful_shutdown=max(1, math.ceil(settings.shutdown_timeout_s)),
        # Slow and idle clients (service/protocol.py); uvicorn's keep-alive timer takes floats.
        http=guarded_protocol(settings.header_timeout_s, settings.body_timeout_s),
        timeout_keep_alive=settings.keep_alive_timeout_s,  # type: ignore[arg-type]
        proxy_headers=True,
        server_header=False,
        # Sample chunks are a few hundred bytes: deflate costs CPU and a zlib state per stream
        # for next to no saving (bench/README.md, service load).
        ws_per_message_deflate=False,
    )
    # The stream close, then uvicorn's graceful wait (GracefulServer.shutdown), plus slack.
    stall_report_s = 2 * settings.shutdown_timeout_s + 1
    server = GracefulServer(config, app.state.ralis, stall_report_s)
    _raise_open_files_limit()
    sockets = None
    if slot is not None:
        try:
            sockets = [reuse_port_socket(settings.host, settings.port)]
        except OSError as exc:
            logger.error("cannot listen on %s:%d: %s", settings.host, settings.port, exc)
            return 1
        logger.info("listening on http://%s:%d", settings.host, settings.port)
    # The server's own handler from here on: a SIGTERM before uvicorn installs it (as it
    # starts serving) stops the server as one during serving would. uvicorn re-raises a
    # handled SIGTERM on its way out with the handler it found: this one, where the default
    # would end a clean shutdown with status 143.
    signal.signal(signal.SIGTERM, server.handle_exit)
    if early_stop.requested or server.should_exit:
        _close(sockets)
        return 0  # stopped before serving: no model loaded, no connection accepted
    try:
        # uvicorn's loop choice (uvloop when installed), which asyncio.run would bypass.
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(server.serve(sockets=sockets))
    except KeyboardInterrupt:  # a second Ctrl-C
        return 130
    if not server.started:
        return 1  # startup failed; uvicorn has logged why
    return 0


class _EarlyStop:
    """Records a SIGTERM that arrives while the app and server are still being built."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGTERM, self._record)

    def _record(self, _sig: int, _frame: FrameType | None) -> None:
        self.requested = True


def _close(sockets: list[socket.socket] | None) -> None:
    for sock in sockets or []:
        sock.close()


def _raise_open_files_limit() -> None:
    """Use the hard limit on open files: each connection holds a descriptor, and the usual
    soft limit of 1,024 is reached by a few hundred streams plus a burst of connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


if __name__ == "__main__":
    raise SystemExit(main())
