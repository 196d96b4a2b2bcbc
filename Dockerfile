# syntax=docker/dockerfile:1
# yamlcron's image: docs/deploying.md#containers.
#   docker build -t yamlcron .
#   docker run --stop-timeout 45 -v ./jobs.yaml:/etc/yamlcron/jobs.yaml:ro -v yamlcron:/data yamlcron
ARG PYTHON=3.12

# Build the wheels in a stage of their own: the image gets no compiler, no pip cache.
FROM python:${PYTHON}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY yamlcron ./yamlcron
COPY plugins ./plugins
COPY schemas ./schemas
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres]"

FROM python:${PYTHON}-slim
LABEL org.opencontainers.image.title="yamlcron" \
      org.opencontainers.image.description="Declarative YAML cron and workflow runner" \
      org.opencontainers.image.licenses="MIT"
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels "yamlcron[postgres]" \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home yamlcron \
 && mkdir -p /data /etc/yamlcron \
 && chown 10001:10001 /data
COPY deploy/docker/healthcheck.py /usr/local/lib/yamlcron-healthcheck.py

# The manifest is mounted read-only at /etc/yamlcron/jobs.yaml (a ConfigMap in Kubernetes);
# the SQLite store lives on the /data volume. For PostgreSQL set YAMLCRON_STORE.
ENV YAMLCRON_STORE=sqlite:///data/state.db \
    YAMLCRON_HTTP=0.0.0.0:8080 \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 8080
USER 10001:10001
WORKDIR /data

# yamlcron is its own init as PID 1 (it reaps orphans and forwards signals: yamlcron/pid1.py),
# so no tini is needed. SIGTERM stops firing and waits up to 30 s for runs, then 10 s more
# for them to die: give `docker stop` 45 s (--stop-timeout 45, or stop_grace_period in compose).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "/usr/local/lib/yamlcron-healthcheck.py"]
ENTRYPOINT ["yamlcron"]
CMD ["run", "-f", "/etc/yamlcron/jobs.yaml"]
