# syntax=docker/dockerfile:1
# RALIS inference service. Targets:
#   runtime (default): python:3.11-slim, CPU onnxruntime   docker build -t ralis .
#   gpu:               CUDA 13 + cuDNN 9, onnxruntime-gpu    docker build --target gpu -t ralis:gpu .
# Both install the wheel with deploy/install.sh, the script .ci/run exercises in a fresh venv.
# No torch and no training code: the wheel holds ralis/ and service/ (with the default bundle).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04

# ---- build: the project wheel ------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY deploy/install.sh deploy/install.sh
COPY ralis ralis
COPY service service
RUN deploy/install.sh wheel /dist

# ---- gpu: CUDA runtime base with onnxruntime-gpu -------------------------------------------
FROM ${CUDA_IMAGE} AS gpu
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/ralis/bin:$PATH \
    RALIS_HOST=0.0.0.0 \
    RALIS_PORT=8000 \
    RALIS_EXECUTION_PROVIDER=cuda
# The CUDA base pins CUDA and cuDNN; Ubuntu's python3 follows its own security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY deploy/install.sh deploy/healthcheck.py /opt/ralis-deploy/
COPY --from=build /dist /tmp/dist
RUN PYTHON=python3 /opt/ralis-deploy/install.sh gpu /opt/ralis /tmp/dist/ralis-*.whl \
    && rm -rf /tmp/dist \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin ralis
USER 10001
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/opt/ralis-deploy/healthcheck.py"]
ENTRYPOINT ["ralis", "serve"]

# ---- runtime (default, last): slim CPU image ---------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/ralis/bin:$PATH \
    RALIS_HOST=0.0.0.0 \
    RALIS_PORT=8000
COPY deploy/install.sh deploy/healthcheck.py /opt/ralis-deploy/
COPY --from=build /dist /tmp/dist
RUN /opt/ralis-deploy/install.sh service /opt/ralis /tmp/dist/ralis-*.whl \
    && rm -rf /tmp/dist \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin ralis
USER 10001
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/opt/ralis-deploy/healthcheck.py"]
# One uvicorn worker per container: scale with replicas, not workers (metrics stay per process).
ENTRYPOINT ["ralis", "serve"]
