#!/bin/bash
# New code (the batcher stops waiting when no one else could join): wait 10 vs 2, alternated.
cd /work/main
OUT=bench/results/batch_wait_2026-12-03
for w in 10 2; do
  d=$OUT/sources_wait$w
  [ -f $d/service_load.json ] && continue
  .venv/bin/python -m bench.service_load --streams 1 200 500 --formats binary json-chunks --warmup 4 --duration 15 --saturation-streams 0 --http-concurrency 1 16 --http-warmup 1 --http-duration 5 --http-batch-windows 0 --max-batch-wait-ms $w --out-dir $d > $d.log 2>&1
  echo "done sources wait $w $(date +%T)"
done
