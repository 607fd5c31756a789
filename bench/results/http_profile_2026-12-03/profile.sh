#!/usr/bin/env bash
# Sample `ralis serve` with py-spy during 40 s of HTTP windows at concurrency 16 (one idle
# stream first, which bench.service_load needs), the machine otherwise idle.
# py-spy is not a project dependency: pip install --target /tmp/pyspy py-spy
# Usage: profile.sh OUT_NAME   -> OUT_NAME.raw (collapsed stacks per thread), OUT_NAME_load.log
set -euo pipefail
name=${1:?name}
.venv/bin/python -m bench.service_load --streams 1 --formats binary --warmup 1 --duration 1 \
    --grace 1 --saturation-streams 0 --http-concurrency 16 --http-warmup 3 --http-duration 40 \
    --http-batch-windows 0 --out-dir /tmp/http_profile_load > "${name}_load.log" 2>&1 &
sleep 22  # the server is up and the HTTP load is past its warm-up
server=$(pgrep -f "ralis.cli serve" | head -1)
/tmp/pyspy/bin/py-spy record -p "$server" -d 15 -r 250 -f raw --threads -o "$name.raw"
wait
