#!/bin/bash
# Model threads 1 vs 2 with the 10 ms wait and the early stop, alternated twice.
cd /work/main
OUT=bench/results/batch_wait_2026-12-03
for rep in 1 2; do
  if [ $rep = 1 ]; then ORDER="1 2"; else ORDER="2 1"; fi
  for mt in $ORDER; do
    d=$OUT/threads${mt}_rep$rep
    [ -f $d/service_load.json ] && continue
    .venv/bin/python -m bench.service_load --streams 200 500 --formats binary json-chunks --warmup 4 --duration 15 --saturation-streams 0 --http-concurrency 16 --http-warmup 1 --http-duration 5 --http-batch-windows 0 --max-batch-wait-ms 10 --model-threads $mt --out-dir $d > $d.log 2>&1
    echo "done threads $mt rep $rep $(date +%T)"
  done
done
