#!/usr/bin/env bash
# The default bundle's head as shipped until 2026-12-03 (expert layers as einsum) against its
# re-export with matrix products (training.reexport_head): the whole model's CPU per
# prediction (bench.precision) and the server's at 200 binary streams and HTTP c=16
# (bench.service_load), alternated twice, on an otherwise idle machine. Run from the repo root.
set -euo pipefail
out=bench/results/head_matmul_2026-12-03
einsum=$(mktemp -d)
cp -r service/default_bundle/. "$einsum/"
git show 2c32016:service/default_bundle/head.onnx > "$einsum/head.onnx"
git show 2c32016:service/default_bundle/manifest.json > "$einsum/manifest.json"
for round in 1 2; do
  for name in einsum matmul; do
    if [ "$name" = einsum ]; then bundle=$einsum; else bundle=service/default_bundle; fi
    .venv/bin/python -m bench.precision --bundle "$bundle" --batches 1 3 8 --repeats 3 \
        --out-dir "$out/$name$round" --name precision
    .venv/bin/python -m bench.service_load --bundle "$bundle" --streams 200 --formats binary \
        --warmup 4 --duration 30 --saturation-streams 0 --http-concurrency 16 --http-warmup 1 \
        --http-duration 5 --http-batch-windows 0 --out-dir "$out/$name$round"
  done
done
