#!/bin/bash
# A few clients: 4 streams and HTTP c=2, wait 2 vs 10 ms (final batcher: distinct clients).
cd /work/main
OUT=bench/results/batch_wait_2026-12-03
for w in 10 2; do
  d=$OUT/few_wait$w
  [ -f $d/service_load.json ] && continue
  .venv/bin/python -m bench.service_load --streams 4 --formats binary json-chunks --warmup 4 --duration 15 --saturation-streams 0 --http-concurrency 2 --http-warmup 1 --http-duration 5 --http-batch-windows 0 --max-batch-wait-ms $w --out-dir $d > $d.log 2>&1
  echo "done few wait $w $(date +%T)"
done
