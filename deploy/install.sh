#!/usr/bin/env bash
# Install RALIS into a virtual environment. The Makefile, .ci/run and the Dockerfile all call
# this script, so CI exercises the exact install path of the container image.
#
#   deploy/install.sh wheel   DIST_DIR             build the service wheel into DIST_DIR
#   deploy/install.sh service VENV [PIP_TARGET...]  service only: runtime deps, no torch
#   deploy/install.sh gpu     VENV [PIP_TARGET...]  service with onnxruntime-gpu for onnxruntime
#   deploy/install.sh dev     VENV [PROJECT_DIR]    CPU torch first, then -e PROJECT_DIR[train,dev]
#
# PIP_TARGET defaults to "." (the project directory); pass a wheel file or "-e ." instead.
# VENV is created with `python3 -m venv` when it does not exist yet (PYTHON overrides python3).
# TORCH_INDEX_URL, when set, is the package index the pinned CPU torch is taken from.
set -euo pipefail

readonly TORCH_SPEC="torch==2.13.0"
# onnxruntime-gpu 1.31 wheels need CUDA 13 and cuDNN 9: keep in step with CUDA_IMAGE in Dockerfile.
readonly ONNXRUNTIME_GPU_SPEC="onnxruntime-gpu==1.31.1"

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[[ $# -ge 2 ]] || usage
profile=$1
target=$2
shift 2

pip_quiet=(--quiet --disable-pip-version-check --no-input)

if [[ $profile == wheel ]]; then
    # The service wheel holds ralis/ and service/ only (the Dockerfile copies just these):
    # no model/ or training/ code reaches the image. Built from a copy so the tree stays clean.
    stage=$(mktemp -d)
    trap 'rm -rf "$stage"' EXIT
    cp pyproject.toml README.md "$stage/"
    cp -R ralis service "$stage/"
    find "$stage" -name __pycache__ -type d -prune -exec rm -rf {} +
    "${PYTHON:-python3}" -m pip wheel "${pip_quiet[@]}" --no-deps --wheel-dir "$target" "$stage"
    exit 0
fi

case $profile in
service | gpu | dev) ;;
*)
    echo "install.sh: unknown profile '$profile'; known: wheel, service, gpu, dev" >&2
    exit 2
    ;;
esac

venv=$target
if [[ ! -x $venv/bin/python ]]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip)

case $profile in
service)
    "${pip[@]}" install "${pip_quiet[@]}" "${@:-.}"
    ;;
gpu)
    # Both wheels ship the same `onnxruntime` package: the CPU one must go before the GPU one lands.
    "${pip[@]}" install "${pip_quiet[@]}" "${@:-.}"
    "${pip[@]}" uninstall --quiet --yes onnxruntime
    "${pip[@]}" install "${pip_quiet[@]}" "$ONNXRUNTIME_GPU_SPEC"
    ;;
dev)
    # torch goes first and pinned: letting the extras resolve it pulls a multi-GB CUDA build.
    "${pip[@]}" install "${pip_quiet[@]}" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$TORCH_SPEC"
    "${pip[@]}" install "${pip_quiet[@]}" -e "${1:-.}[train,dev]"
    ;;
esac
