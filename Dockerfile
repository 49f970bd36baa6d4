# The style server for a GPU host. The kiosk runs on the kiosk machine (see README), not in here.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 \
    PORTRAIT_HOST=0.0.0.0 PORTRAIT_PORT=8000 \
    PORTRAIT_DATA_DIR=/data PORTRAIT_CACHE_DIR=/data/cache PORTRAIT_MODELS_DIR=/app/models

WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY style_server ./style_server
COPY models ./models
RUN pip install '.[server]'

VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["style-server", "serve"]
