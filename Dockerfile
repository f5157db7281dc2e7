# syntax=docker/dockerfile:1
# The visionstudio image: `docker build -t visionstudio .` builds the final stage (runtime);
# `--target fake-openai` builds the loopback OpenAI Images API used by the tests, for trying
# the service without an account (deploy/compose.yaml's `fake-openai` profile).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv with the package and its dependencies, nothing else ------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/visionstudio
# Only what the wheel is built from (see .dockerignore): a test or README edit elsewhere
# does not invalidate this layer.
COPY pyproject.toml README.md ./
COPY server ./server
COPY client/visionstudio ./client/visionstudio
# A regular (not editable) install: the console scripts, the generated stubs and the SQL
# migrations (package data) all land in the virtualenv's site-packages.
RUN /opt/visionstudio/bin/pip install --no-compile . \
    && /opt/visionstudio/bin/python -m compileall -q /opt/visionstudio/lib

# --- base: the runtime filesystem shared by the final image and the fake upstream -------------
FROM ${PYTHON_IMAGE} AS base
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="visionstudio" \
      org.opencontainers.image.description="gRPC and HTTP/JSON service that generates, edits and inpaints images with OpenAI's image models" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Proprietary" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it and volumes can be
# chowned to it; -l keeps the lastlog file from growing with a high uid.
RUN groupadd --system --gid 10001 visionstudio \
    && useradd --system -l --uid 10001 --gid 10001 --home-dir /var/lib/visionstudio \
       --shell /usr/sbin/nologin visionstudio \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/visionstudio
COPY --from=build /opt/visionstudio /opt/visionstudio
ENV PATH=/opt/visionstudio/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VISIONSTUDIO_DATA_DIR=/var/lib/visionstudio
WORKDIR /var/lib/visionstudio
USER 10001:10001

# --- fake-openai: the loopback OpenAI Images API (a development stage, never production) ------
FROM base AS fake-openai
WORKDIR /opt/fake-openai
# The fake is a package of the repository's tests/, which the wheel does not carry.
COPY --chown=10001:10001 tests/__init__.py ./tests/__init__.py
COPY --chown=10001:10001 tests/fake_openai ./tests/fake_openai
EXPOSE 8600
HEALTHCHECK NONE
ENTRYPOINT ["python", "-m", "tests.fake_openai", "--host", "0.0.0.0", "--port", "8600"]

# --- runtime: the service (the default target) ------------------------------------------------
FROM base AS runtime
# gRPC, HTTP/JSON (also /healthz, /readyz and /metrics).
EXPOSE 50051 8527
# The standard gRPC health service, through the client CLI (exit 0 when SERVING). With
# VISIONSTUDIO_GRPC_PORT changed or TLS on, override it (compose: healthcheck.test).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["visionstudio", "health", "--target", "127.0.0.1:50051"]
# SIGTERM starts the drain (VISIONSTUDIO_SHUTDOWN_GRACE_S); give `docker stop -t` more than it.
STOPSIGNAL SIGTERM
ENTRYPOINT ["visionstudio-server"]
