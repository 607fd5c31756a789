"""`ralis serve`'s own pieces: settings refusal, the open-files limit, the guarded protocol."""

from __future__ import annotations

import resource

import pytest

from service import cli
from service.protocol import GuardedHttpToolsProtocol, guarded_protocol


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
