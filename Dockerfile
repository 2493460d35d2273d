# The production image: the official Airflow image at the version uv.lock pins, with the project and its
# locked dependencies installed at build time (never at container start). docker-compose.yml builds it once
# and runs every Airflow component from it; tests/unit/test_compose.py keeps the tag equal to the lock.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN mkdir -p /opt/etl /opt/airflow/var && chown -R airflow:0 /opt/etl /opt/airflow/var
USER airflow

# uv at the version the Makefile uses; the environment is a venv of the image's own Python, holding
# exactly uv.lock (runtime dependencies + the `distributed` extra: Celery, Redis, s3fs, asyncpg).
ENV UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/etl/.venv \
    VIRTUAL_ENV=/opt/etl/.venv \
    PATH=/opt/etl/.venv/bin:/home/airflow/.local/bin:$PATH
RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /opt/etl
# Dependencies first (a layer that changes only with the lock), then the project itself.
COPY --chown=airflow:0 pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra distributed --no-install-project --compile-bytecode
COPY --chown=airflow:0 etl ./etl
COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 mappings ./mappings
COPY --chown=airflow:0 expectations ./expectations
COPY --chown=airflow:0 scripts ./scripts
RUN uv sync --frozen --no-dev --extra distributed --compile-bytecode

WORKDIR /opt/airflow
