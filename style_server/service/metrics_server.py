"""The Prometheus port of a process without an HTTP API (``style-server worker`` and ``mailer``): the API's metric
names on ``PORTRAIT_METRICS_HOST:PORTRAIT_METRICS_PORT``. It has no key and no TLS, so it listens on loopback only;
a scraper on another host reads it through a reverse proxy that adds both."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from prometheus_client import start_http_server

from shared.net import is_loopback

from ..config import Settings
from .metrics import Metrics

log = logging.getLogger("style_server.metrics")


def metrics_host_problem(settings: Settings) -> str | None:
    """Why the metrics port must not be opened where the settings say (one line), or None."""
    if settings.storage.metrics_port == 0 or is_loopback(settings.storage.metrics_host):
        return None
    return (
        f"refusing to serve metrics on {settings.storage.metrics_host}, beyond this machine (they have no key and no "
        "TLS): keep PORTRAIT_METRICS_HOST on loopback and let a scraper on another host go through a reverse proxy"
    )


@contextlib.contextmanager
def serving_metrics(settings: Settings, metrics: Metrics) -> Iterator[None]:
    """Serve ``metrics`` while inside (nothing with ``metrics_port`` 0)."""
    if settings.storage.metrics_port == 0:
        yield
        return
    problem = metrics_host_problem(settings)
    if problem:  # the CLI refuses first; this keeps any other caller from opening it
        raise ValueError(problem)
    server, thread = start_http_server(settings.storage.metrics_port, settings.storage.metrics_host, metrics.registry)
    log.info("metrics on http://%s:%d/metrics", settings.storage.metrics_host, settings.storage.metrics_port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
