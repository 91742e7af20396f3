# OMS in one image: `oms serve` (every port; in broker mode also the bus worker), or
# `oms worker`, or `oms db upgrade`. Two stages: the build stage installs the locked,
# hash-checked dependencies and OMS itself (non-editable) into a virtualenv; the runtime
# stage has that virtualenv, Python and nothing else.
#
# The base is pinned by digest. Where no registry is reachable, build a local Debian
# bookworm base and pass it instead (README, "The container"):
#   docker build --build-arg BASE_IMAGE=oms-local/debian:bookworm -t oms .
ARG BASE_IMAGE=debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251

FROM ${BASE_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/oms
# Every dependency, and the build's own (setuptools, wheel), at the locked version and hash.
COPY requirements.lock /tmp/requirements.lock
RUN /opt/oms/bin/pip install --require-hashes --no-deps -r /tmp/requirements.lock
COPY setup.cfg pyproject.toml README.md /src/
COPY oms /src/oms
# Non-editable, offline: nothing but the locked packages is used to build and install OMS.
RUN /opt/oms/bin/pip install --no-deps --no-build-isolation --no-index /src \
    && /opt/oms/bin/pip uninstall -y setuptools wheel

FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 oms \
    && mkdir /data && chown oms /data
COPY --from=build /opt/oms /opt/oms
COPY wsgi.py /opt/oms-home/
COPY migrations /opt/oms-home/migrations
COPY config /opt/oms-home/config
ENV PATH=/opt/oms/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMS_HOME=/opt/oms-home \
    OMS_HOST=0.0.0.0 \
    OMS_LOG_FORMAT=json
USER oms
WORKDIR /data

EXPOSE 3010 3011 3020
# Alive = the configured web port answers /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('OMS_PORT_WEB', '3010'), timeout=2)"]
# SIGTERM reaches `oms serve`, which stops gunicorn and the worker gracefully. Migrations
# run first under a database lock; compose runs them once, as their own service.
CMD ["oms", "serve", "--migrate"]
