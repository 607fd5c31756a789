#!/usr/bin/env bash
# On a machine with a CUDA GPU, in one command (under 10 minutes):
#   1. install the GPU profile (deploy/install.sh gpu: the service with onnxruntime-gpu, as the
#      Dockerfile's gpu target does) into a fresh venv from this checkout;
#   2. check the CUDA provider's parity against CPU on the committed real DSADS windows
#      (tests/fixtures/dsads_windows/windows.npz, all 31 sensor subsets);
#   3. run the stream load on CUDA at 1, 10, 100 and 1000 streams and print one table.
#
#   bench/gpu_check.sh [VENV]        (default build/venv-gpu; results: bench/results/gpu_check.json)
#
# Exits 3 at once, before installing anything, when no CUDA device is present. Needs PyPI for
# onnxruntime-gpu (CUDA 13 and cuDNN 9 libraries as deploy/install.sh pins them: the Dockerfile's
# CUDA base image, or the host's). Not run yet: no GPU on the development and CI machines.
set -euo pipefail

cd "$(dirname "$0")/.."
venv=${1:-build/venv-gpu}
started=$SECONDS

if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu_check: no CUDA device: nvidia-smi is not installed (no NVIDIA driver)" >&2
    exit 3
fi
if ! gpus=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1) \
    || [[ -z $gpus ]]; then
    echo "gpu_check: no CUDA device: nvidia-smi lists no GPU (${gpus:-no output})" >&2
    exit 3
fi
echo "GPU: $gpus"

echo "== installing the GPU profile into $venv (deploy/install.sh gpu)"
rm -rf "$venv"
deploy/install.sh gpu "$venv" -e .
"$venv/bin/python" - <<'EOF'
import onnxruntime as ort

providers = ort.get_available_providers()
print(f"onnxruntime {ort.__version__} ({ort.get_device()}), providers: {', '.join(providers)}")
if "CUDAExecutionProvider" not in providers:
    raise SystemExit("onnxruntime-gpu offers no CUDAExecutionProvider: the install is not a GPU one")
EOF
echo "   installed in $((SECONDS - started)) s"

echo "== parity against CPU, then streams on CUDA"
# timeout: the whole command must end within 10 minutes, install included.
timeout --signal=TERM $((590 - (SECONDS - started)))s \
    "$venv/bin/python" -m bench.gpu_check --provider cuda --streams 1 10 100 1000
echo "gpu_check: done in $((SECONDS - started)) s"
