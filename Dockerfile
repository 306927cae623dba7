# scoreserver serving one score.py. Build from the repository root:
#   docker build -t scoreserver --build-arg APP_DIR=examples/hello .
#   docker run --rm -p 5001:5001 -v "$PWD/model:/models:ro" --stop-timeout 45 scoreserver
# The image holds the server and the app (APP_DIR: score.py and what it imports); the model
# directory is a mount at /models, so one image serves any model version.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged user: Kubernetes' runAsNonRoot checks the numeric id.
RUN useradd --create-home --uid 10001 --user-group scoreserver

WORKDIR /opt/scoreserver
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .

ARG APP_DIR=examples/hello
WORKDIR /app
COPY --chown=scoreserver:scoreserver ${APP_DIR} /app

# The drain on SIGTERM: readiness says "not ready" for SCORESERVER_READINESS_DRAIN_S, then the
# requests already received get SCORESERVER_GRACEFUL_TIMEOUT, then 5 s more before a kill.
# docker stop and Kubernetes must wait longer than that sum (40 s here): --stop-timeout 45,
# terminationGracePeriodSeconds 45.
ENV AML_APP_ROOT=/app \
    AZUREML_MODEL_DIR=/models \
    SCORESERVER_READINESS_DRAIN_S=5 \
    SCORESERVER_GRACEFUL_TIMEOUT=30
VOLUME ["/models"]

USER 10001:10001
EXPOSE 5001
STOPSIGNAL SIGTERM
# Liveness only (GET /): readiness (/v2/health/ready) is the orchestrator's business.
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5001/', timeout=2)"]

ENTRYPOINT ["scoreserver"]
CMD ["--entry_script", "/app/score.py", "--port", "5001"]
