# The style server for a GPU host. The kiosk runs on the kiosk machine (see README), not in here.
# Safe by default: it listens on the container's loopback with HTTPS. To serve kiosks, set PORTRAIT_HOST=0.0.0.0
# together with PORTRAIT_API_KEYS (one strong key per kiosk): the server refuses a public address with the demo
# key, a key under 24 characters or without TLS (docker-compose.yml does all this).
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 \
    PORTRAIT_PORT=8000 PORTRAIT_TLS=auto \
    PORTRAIT_DATA_DIR=/data PORTRAIT_CACHE_DIR=/data/cache

WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY style_server ./style_server
COPY research ./research
RUN pip install '.[server]'

VOLUME ["/data"]
EXPOSE 8000
# Over HTTPS on loopback: the certificate is the server's own (pinned by kiosks), so this check need not verify it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s \
  CMD python -c "import ssl, urllib.request as u; u.urlopen('https://127.0.0.1:8000/healthz', timeout=3, context=ssl._create_unverified_context())"
CMD ["style-server", "serve"]
