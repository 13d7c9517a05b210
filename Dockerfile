# syntax=docker/dockerfile:1
# Casebridge: one image, two commands.
#   default               python -m casebridge.api      the API, web UI and /metrics on :8000
#   worker                python -m casebridge.worker   workflows and activities (Temporal)
#   one-shot              casebridge migrate            database migrations (and other operator commands)
# Built and run by docker-compose.yml; see docs/production.md.

ARG PYTHON_IMAGE=python:3.11.15-slim-trixie

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/casebridge
WORKDIR /src
COPY deploy/constraints.txt ./constraints.txt
COPY pyproject.toml ./
COPY casebridge ./casebridge
# The project itself, without the dev extras, at the versions the test suite ran on.
RUN /opt/casebridge/bin/pip install --constraint constraints.txt . \
    && /opt/casebridge/bin/python -c "import casebridge.api.app, casebridge.worker"

FROM ${PYTHON_IMAGE}
# tzdata: deadlines are counted in local time (CASEBRIDGE_TIMEZONE, Asia/Shanghai) and zoneinfo
# reads the system time zone database; make sure it is there whatever the slim base carries.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 casebridge \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/casebridge --create-home \
        --shell /usr/sbin/nologin casebridge
COPY --from=build /opt/casebridge /opt/casebridge
COPY deploy/healthcheck.py /opt/casebridge/healthcheck.py
ENV PATH=/opt/casebridge/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CASEBRIDGE_HTTP_HOST=0.0.0.0 \
    CASEBRIDGE_HTTP_PORT=8000
USER 10001:10001
WORKDIR /home/casebridge
EXPOSE 8000
CMD ["python", "-m", "casebridge.api"]
