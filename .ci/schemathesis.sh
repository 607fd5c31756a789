#!/usr/bin/env bash
# Schemathesis against the real server's OpenAPI schema: `ralis serve` on a free port, every
# operation, 30 examples per operation and phase, a fixed seed; no response may be a server
# error (bench/schemathesis_run.py). Bounded: it takes seconds; 120 s is the hard limit.
#   .ci/schemathesis.sh [VENV]   (default .venv, as `make test` leaves it)
set -euo pipefail

venv=${1:-.venv}
cd "$(dirname "$0")/.."
timeout 120 "$venv/bin/python" -m bench.schemathesis_run --max-examples 30 --seed 1
