#!/usr/bin/env bash
# On a machine with a CUDA GPU, in one command (under 10 minutes):
#   1. install the GPU profile (deploy/install.sh gpu: the service with onnxruntime-gpu, as the
#      Dockerfile's gpu target does) into a fresh venv from this checkout;
#   2. check the CUDA provider's parity against CPU on the committed real DSADS windows
#      (tests/fixtures/dsads_windows/windows.npz, all 31 sensor subsets);
#   3. time the raw model on CUDA and CPU, then run the stream load at 1, 10, 100 and 1000
#      streams on CUDA and, as the baseline of the same run, on CPU; print the tables.
#
#   bench/gpu_check.sh [VENV]                  (default build/venv-gpu)
#   bench/gpu_check.sh --wheels DIR [TARGET]   no package index: see below
# Results: bench/results/gpu_check.json.
#
# Exits 3 at once, before installing anything, when no CUDA device is present. Needs PyPI for
# onnxruntime-gpu (CUDA 13 and cuDNN 9 libraries as deploy/install.sh pins them: the Dockerfile's
# CUDA base image, or the host's).
#
# --wheels: for a GPU machine that reaches no package index. DIR holds the service's dependency
# wheels and onnxruntime-gpu, either as its wheel or as onnxruntime_gpu*.tar.xz, the wheel's
# contents re-packed (xz gets the 256 MB wheel to 7 MB: its CUDA kernels deflate badly). They go
# into TARGET (default build/site-gpu) for the machine's own python3, whose packages fill in the
# rest; the CUDA and cuDNN libraries are taken from the nvidia-* pip packages there, if any.
set -euo pipefail

cd "$(dirname "$0")/.."
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

if [[ ${1:-} == --wheels ]]; then
    wheels=${2:?"usage: bench/gpu_check.sh --wheels DIR [TARGET]"}
    site=${3:-build/site-gpu}
    python=${PYTHON:-python3}
    echo "== installing the service's wheels from $wheels into $site (no package index)"
    rm -rf "$site"
    mkdir -p "$site"
    site=$(cd "$site" && pwd)
    "$python" -m pip install --quiet --disable-pip-version-check --no-index --no-deps \
        --no-compile --target "$site" "$wheels"/*.whl
    for packed in "$wheels"/onnxruntime_gpu*.tar.xz; do
        if [[ -e $packed ]]; then tar -xJf "$packed" -C "$site"; fi
    done
    export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
    # onnxruntime-gpu dlopens libcudart, libcublas and libcudnn: point it at the nvidia-* packages.
    cuda_libs=$("$python" -c 'import glob, os, sys
print(":".join(sorted({d for p in sys.path
                        for d in glob.glob(os.path.join(p, "nvidia", "**", "lib"), recursive=True)})))')
    export LD_LIBRARY_PATH=$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
else
    venv=${1:-build/venv-gpu}
    python=$venv/bin/python
    echo "== installing the GPU profile into $venv (deploy/install.sh gpu)"
    rm -rf "$venv"
    deploy/install.sh gpu "$venv" -e .
fi
"$python" - <<'EOF'
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
    "$python" -m bench.gpu_check --provider cuda --streams 1 10 100 1000 --compare-cpu
echo "gpu_check: done in $((SECONDS - started)) s"
