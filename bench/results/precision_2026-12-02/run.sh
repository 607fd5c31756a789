#!/usr/bin/env bash
# BENCHMARKS section 15: float vs int8 encoders, idle machine (no training running).
cd /work/main
OUT=bench/results/precision_2026-12-02
uptime
.venv/bin/python -m bench.precision --repeats 3 --out-dir $OUT
run() {  # rep precision
  .venv/bin/python -m bench.service_load --warmup 4 --duration 15 --saturation-streams 0 \
    --precision $2 --streams 200 500 --formats json-chunks binary --http-concurrency 16 \
    --http-batch-windows 0 --out-dir $OUT/rep$1_$2 > $OUT/rep$1_$2.log 2>&1
}
sync() {  # precision
  .venv/bin/python -m bench.service_load --warmup 4 --duration 15 --saturation-streams 0 \
    --precision $1 --streams 200 --formats json-chunks binary --phase-spread 0.2 \
    --http-concurrency 16 --http-batch-windows 0 --out-dir $OUT/sync_$1 > $OUT/sync_$1.log 2>&1
}
run 1 fp32; run 1 int8; run 2 int8; run 2 fp32
sync int8; sync fp32
uptime
echo done

# then, from logs/orchestrate.sh: a JSON message per chunk
for p in int8 fp32; do
  .venv/bin/python -m bench.service_load --warmup 4 --duration 15 --saturation-streams 0 \
    --precision $p --streams 200 500 --formats json --http-concurrency 64 \
    --http-batch-windows 0 --out-dir $OUT/json_$p > $OUT/json_$p.log 2>&1
done
