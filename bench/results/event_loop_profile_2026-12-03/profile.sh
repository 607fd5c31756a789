#!/usr/bin/env bash
# Sample `ralis serve` with py-spy during 200 binary streams (the machine otherwise idle).
# py-spy is not a project dependency: pip install --target /tmp/pyspy py-spy
# Output: profile.raw (collapsed stacks per thread), load.log (the load run's own table).
set -euo pipefail
out=${1:-.}
.venv/bin/python -m bench.service_load --streams 200 --formats binary --warmup 4 \
    --duration 30 --saturation-streams 0 --http-concurrency 16 --http-warmup 1 \
    --http-duration 1 --http-batch-windows 0 --out-dir /tmp/profile_load > "$out/load.log" 2>&1 &
sleep 14  # the server is up and the streams are past their warm-up
server=$(pgrep -f "ralis.cli serve" | head -1)
/tmp/pyspy/bin/py-spy record -p "$server" -d 15 -r 250 -f raw --threads -o "$out/profile.raw"
wait
