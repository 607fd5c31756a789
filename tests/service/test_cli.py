"""`ralis serve`'s own pieces: settings refusal, the open-files limit, the guarded protocol,
a stop signal during start-up."""

from __future__ import annotations

import asyncio
import faulthandler
import os
import resource
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from service import cli
from service.app import create_app as service_create_app
from service.protocol import GuardedHttpToolsProtocol, guarded_protocol
from service.settings import Settings


def test_non_finite_settings_are_refused_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Once RALIS_SHUTDOWN_TIMEOUT_S=inf crashed at start with a traceback.
    monkeypatch.setenv("RALIS_SHUTDOWN_TIMEOUT_S", "inf")
    assert cli.main([]) == 2
    error = capsys.readouterr().err
    assert "invalid settings" in error and "shutdown_timeout_s" in error
    assert "Traceback" not in error


def test_the_open_files_limit_is_raised_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        cli._raise_open_files_limit()
        raised, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert raised == (hard if hard != resource.RLIM_INFINITY else max(256, 65536))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_protocol_class_carries_the_configured_timeouts() -> None:
    protocol = guarded_protocol(header_timeout_s=3.5, body_timeout_s=7.0)
    assert issubclass(protocol, GuardedHttpToolsProtocol)
    assert (protocol.header_timeout_s, protocol.body_timeout_s) == (3.5, 7.0)
    assert GuardedHttpToolsProtocol.header_timeout_s == 10.0  # the base is untouched


def test_command_line_options_become_settings_and_the_rest_stay_unset() -> None:
    args = cli._parser().parse_args(["--model-threads", "3", "--port", "9000"])
    assert cli._overrides(args) == {"model_threads": 3, "port": 9000}
    assert cli._overrides(cli._parser().parse_args([])) == {}


def test_model_threads_below_one_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--model-threads", "0"]) == 2
    assert "model_threads" in capsys.readouterr().err


@pytest.fixture()
def restored_sigterm() -> Iterator[None]:
    """SIGTERM's handler as it was, and no stall report left armed by a handled stop."""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        faulthandler.cancel_dump_traceback_later()


@pytest.mark.parametrize("stage", ["create_app", "_raise_open_files_limit"])
@pytest.mark.usefixtures("restored_sigterm")
def test_a_sigterm_while_the_server_is_being_built_stops_it_before_it_serves(
    stage: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CI once saw a worker run on after SIGTERM until the supervisor killed it (status 137):
    # a signal that came before uvicorn installed its handler was swallowed by a no-op.
    built: list[FastAPI] = []

    def recording_create_app(*args: Any, **kwargs: Any) -> FastAPI:
        built.append(service_create_app(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(cli, "create_app", recording_create_app)
    monkeypatch.setattr(cli, stage, _sigterm_first(getattr(cli, stage)))
    started = time.monotonic()
    assert cli._serve(settings.model_copy(update={"port": 0}), slot=None) == 0
    assert time.monotonic() - started < 5
    (app,) = built
    assert app.state.ralis.runtime is None  # the lifespan never started: nothing was loaded


def _sigterm_first(step: Callable[..., Any]) -> Callable[..., Any]:
    """`step`, after this process has been sent SIGTERM."""

    def signalled(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)
        return step(*args, **kwargs)

    return signalled


@pytest.mark.usefixtures("restored_sigterm")
def test_a_sigterm_just_before_uvicorn_takes_the_signals_still_stops_the_server(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The window the CI failure fell into: after the server is built, before uvicorn's
    # capture_signals. A swallowed signal is made up for after 10 s, so the test fails
    # instead of hanging.
    serve = cli.GracefulServer.serve
    swallowed: list[bool] = []

    async def signalled_serve(self: cli.GracefulServer, sockets: Any = None) -> None:
        def stop_the_missed_way() -> None:
            swallowed.append(True)
            self.should_exit = True

        fallback = asyncio.get_running_loop().call_later(10, stop_the_missed_way)
        os.kill(os.getpid(), signal.SIGTERM)
        try:
            await serve(self, sockets)
        finally:
            fallback.cancel()

    monkeypatch.setattr(cli.GracefulServer, "serve", signalled_serve)
    assert cli._serve(settings.model_copy(update={"port": 0}), slot=None) == 0
    assert not swallowed


@pytest.mark.usefixtures("restored_sigterm")
def test_a_stop_that_outlives_its_limits_prints_every_threads_stack(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    # So that a worker killed for a stalled shutdown leaves word of where it was stuck.
    app = service_create_app(settings)
    server = cli.GracefulServer(uvicorn.Config(app), app.state.ralis, stall_report_s=0.2)
    server.handle_exit(signal.SIGTERM, None)
    assert server.should_exit
    time.sleep(1.0)  # the server never shuts down here: a stall
    report = capfd.readouterr().err
    assert "Thread" in report and "test_cli.py" in report  # the sleeping test's own frame
