# syntax=docker/dockerfile:1
# The application image: the pinned Python packages, Spark's jars (Delta Lake,
# the Kafka source) and the S3A jars for s3a:// tables, all installed by
# scripts/setup.sh from pyproject.toml, requirements.lock and scripts/jvm/pom.xml,
# as on a developer's machine. One image runs every role of docker-compose.yml:
# Spark master and workers (spark-class), the streaming jobs (scripts/submit.sh),
# the simulator, the MLflow server and the dashboard.
#
#   docker build -t live-shopping-lakehouse:0.1.0 .
#
# Bookworm, not trixie: Debian's Java 17 (openjdk-17-jre-headless) is in bookworm.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
    && apt-get install --yes --no-install-recommends openjdk-17-jre-headless maven \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/lakehouse
# What setup.sh installs from, first: a change to the code alone reuses this layer.
COPY pyproject.toml requirements.lock README.md ./
COPY lakehouse/ lakehouse/
COPY scripts/ scripts/
RUN bash scripts/setup.sh --s3a \
    && rm -rf /root/.m2 /root/.cache/pip

FROM ${PYTHON_IMAGE}
RUN apt-get update \
    && apt-get install --yes --no-install-recommends openjdk-17-jre-headless procps tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 lakehouse
WORKDIR /opt/lakehouse
COPY --from=build --chown=lakehouse:lakehouse /opt/lakehouse /opt/lakehouse
COPY --chown=lakehouse:lakehouse . /opt/lakehouse
# Folders the named volumes of docker-compose.yml mount, owned by the app user.
RUN mkdir -p var/spark-work var/mlflow var/tmp && chown -R lakehouse:lakehouse var

ENV PATH=/opt/lakehouse/.venv/bin:$PATH \
    SPARK_HOME=/opt/lakehouse/.venv/lib/python3.11/site-packages/pyspark \
    PYSPARK_PYTHON=/opt/lakehouse/.venv/bin/python \
    PYTHONUNBUFFERED=1
USER lakehouse
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "jobs/pipeline.py", "--help"]
