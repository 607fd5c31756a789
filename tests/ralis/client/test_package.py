"""The client package stays light: no torch, no server code, the DSADS reader numpy-only."""

from __future__ import annotations

import subprocess
import sys


def imported_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_the_sdk_imports_neither_torch_nor_the_server() -> None:
    modules = imported_after(
        "import ralis.client.stream, ralis.client.http, ralis.client.replay, ralis.frames"
    )
    assert "torch" not in modules
    assert not {m for m in modules if m == "service" or m.startswith("service.")}


def test_the_dsads_reader_needs_only_numpy() -> None:
    modules = imported_after("from ralis.client import dsads")
    assert not {"httpx", "websockets", "torch"} & modules


def test_lazy_exports_resolve() -> None:
    import ralis.client

    for name in ralis.client.__all__:
        assert getattr(ralis.client, name).__name__ == name
