#!/bin/bash
# Batch wait sweep (issue 14): random phases and synchronised, 2 reps, order rotated.
cd /work/main
OUT=bench/results/batch_wait_2026-12-03
mkdir -p $OUT
for rep in 1 2; do
  if [ $rep = 1 ]; then WAITS="2 5 10 20"; else WAITS="20 10 5 2"; fi
  for w in $WAITS; do
    d=$OUT/rep${rep}_wait$w
    [ -f $d/service_load.json ] && continue
    .venv/bin/python -m bench.service_load --streams 200 500 --formats binary json-chunks --warmup 4 --duration 15 --saturation-streams 0 --http-concurrency 16 --http-warmup 1 --http-duration 5 --http-batch-windows 0 --max-batch-wait-ms $w --out-dir $d > $d.log 2>&1
    echo "done rep $rep wait $w $(date +%T)"
  done
done
for w in 2 10; do
  d=$OUT/sync_wait$w
  [ -f $d/service_load.json ] && continue
  .venv/bin/python -m bench.service_load --streams 200 --formats binary json-chunks --phase-spread 0.2 --warmup 4 --duration 15 --saturation-streams 0 --http-concurrency 16 --http-warmup 1 --http-duration 2 --http-batch-windows 0 --max-batch-wait-ms $w --out-dir $d > $d.log 2>&1
  echo "done sync wait $w $(date +%T)"
done
# One stream and HTTP c=1 / c=64 (run by hand after the above, same code):
# for w in 2 10; do .venv/bin/python -m bench.service_load --streams 1 --formats binary --warmup 4 \
#   --duration 15 --saturation-streams 0 --http-concurrency 1 64 --http-warmup 1 --http-duration 5 \
#   --http-batch-windows 0 --max-batch-wait-ms $w --out-dir $OUT/single_wait$w; done
# The model after a pause: .venv/bin/python -m bench.idle_gap --repeats 3 --out-dir $OUT
