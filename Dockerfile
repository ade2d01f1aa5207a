# aequatio: the API (`serve`, the default) and the background roles (`worker --role ...`).
#
#   docker build -t aequatio .
#   docker run --env-file prod.env -p 8000:8000 aequatio
#   docker run --env-file prod.env aequatio worker --role projections --metrics-port 9100
#
# compose.yaml runs the whole system; deploy/README.md explains the roles, TLS and monitoring.

# --- builder: the dependencies, pinned by constraints.txt, in a virtual environment ----------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /app

# Runtime dependencies first, in their own layer: it is rebuilt only when the pins change.
# (Every dependency ships wheels for linux/amd64 and linux/arm64: no compiler, no apt.)
COPY pyproject.toml constraints.txt README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir -c constraints.txt -r /tmp/requirements.txt

# The package itself, installed in place: the code finds alembic.ini, migrations/ and schemas/
# beside the package (aequatio.persistence.database.REPOSITORY_ROOT), so it stays in /app.
COPY aequatio/ aequatio/
RUN pip install --no-cache-dir --no-deps -c constraints.txt -e . \
    && python -m compileall -q aequatio

# --- runtime: the virtual environment and the application, run as an unprivileged user -----
FROM python:3.11-slim AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AEQUATIO_ENVIRONMENT=production \
    AEQUATIO_HOST=0.0.0.0 \
    AEQUATIO_PORT=8000 \
    AEQUATIO_WORKER_METRICS_HOST=0.0.0.0 \
    AEQUATIO_DATA_DIR=/tmp/aequatio

RUN groupadd --system --gid 10001 aequatio \
    && useradd --system --uid 10001 --gid aequatio --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin aequatio

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# Owned by root and read-only for the application user.
COPY alembic.ini ./
COPY migrations/ migrations/
COPY schemas/ schemas/
COPY --from=builder /app/aequatio/ aequatio/

USER 10001:10001

# 8000: the API (/graphql, /healthz, /readyz, /metrics); 9100: a worker's Prometheus metrics.
EXPOSE 8000 9100

# Liveness of the API process (workers override it: compose.yaml probes their metrics port).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('AEQUATIO_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["aequatio"]
CMD ["serve", "--host", "0.0.0.0"]
