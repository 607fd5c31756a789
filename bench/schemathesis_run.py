"""Schemathesis against the real server's OpenAPI schema: no request may get a server error.

Starts `ralis serve` (the default bundle, or the tiny test bundle while there is none) on a
free port and runs the `schemathesis` command over every operation of `/openapi.json` with a
bounded number of examples and a fixed seed. Checks: no 5xx, documented status codes and
content types, responses matching their schema. Exits with schemathesis's status, or 1 when
the server logged a traceback or counted an internal error.

Run: `python -m bench.schemathesis_run [--max-examples 30] [--seed 1]` (CI: `.ci/schemathesis.sh`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.serverproc import ServerProcess, metric_delta, resolve_bundle, scrape, server_errors
from service.settings import DEFAULT_BUNDLE_DIR

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


def schemathesis_command(base_url: str, max_examples: int, seed: int) -> list[str]:
    """The CLI call: bounded, reproducible, no example database left behind."""
    executable = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    return [
        executable, "run", f"{base_url}/openapi.json",
        "--checks", ",".join(CHECKS),
        "--max-examples", str(max_examples),
        "--seed", str(seed),
        "--generation-database", "none",
        "--workers", "1",
        "--request-timeout", "30",
        "--no-color",
    ]  # fmt: skip


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=30, help="per operation and phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--tiny-bundle", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tiny = args.tiny_bundle or not (DEFAULT_BUNDLE_DIR / "manifest.json").is_file()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ralis-schemathesis-") as work:
        bundle = resolve_bundle(args.bundle, tiny, Path(work))
        print(f"schemathesis against ralis serve with bundle {bundle}", flush=True)
        with ServerProcess(bundle, log_level="warning") as server:
            before = scrape(server.base_url)
            command = schemathesis_command(server.base_url, args.max_examples, args.seed)
            # In the temporary folder: schemathesis keeps a cache in its working directory.
            status = subprocess.run(command, check=False, cwd=work).returncode
            delta = metric_delta(before, scrape(server.base_url))
            alive = server.alive()
            log = server.log_tail(10_000)
    internal, tracebacks = server_errors(delta, log)
    print(
        f"schemathesis exit status {status}; server internal errors {internal:.0f}, tracebacks "
        f"in its log {tracebacks}, {'alive' if alive else 'DEAD'}; "
        f"{time.monotonic() - started:.0f} s"
    )
    if status != 0:
        return status
    return 0 if internal == 0 and tracebacks == 0 and alive else 1


if __name__ == "__main__":
    raise SystemExit(main())
