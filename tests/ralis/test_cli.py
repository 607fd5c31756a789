"""The `ralis` dispatcher: help, unknown commands, lazy subcommands."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ralis.cli import main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("serve", "replay", "train", "evaluate", "export"):
        assert command in out


def test_unknown_command_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trian"]) == 2
    assert "unknown command 'trian'; known: serve, replay, train" in capsys.readouterr().err


def test_serve_help_does_not_import_torch() -> None:
    code = (
        "import sys; from ralis.cli import main\n"
        "try:\n    main(['serve', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'ralis serve imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
