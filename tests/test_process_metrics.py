"""The Prometheus port of a scaled-out booth's worker and mailer (``PORTRAIT_METRICS_PORT``): a real NATS booth on
127.0.0.1, one job painted and mailed, the counters read over HTTP as Prometheus reads them."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import DEMO_PHOTO, free_port, nats_booth, wait_for_state

pytestmark = pytest.mark.slow  # a NATS booth: its module starts first when the tests run in parallel

Samples = dict[tuple[str, frozenset], float]


@pytest.fixture(scope="module")
def booth(tmp_path_factory, cache_dir, inbox):
    """One booth for the module: an API node, a worker and a mailer, each with its metrics port."""
    booth = nats_booth(tmp_path_factory.mktemp("booth"), cache_dir, inbox.port, workers=0, mailers=0)
    try:
        booth.add_worker("--lanes", "fast", metrics_port=free_port())
        booth.add_mailer(metrics_port=free_port())
        yield booth
    finally:
        booth.stop()


def metrics_port(process) -> int:
    return int(process.env["PORTRAIT_METRICS_PORT"])


def scrape(port: int) -> Samples:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value for f in text_string_to_metric_families(text) for s in f.samples
    }


def scrape_until(port: int, ready: Callable[[Samples], bool], timeout: float = 30) -> Samples:
    """The counters are moved just after the job's state or the mail is visible: read until they show it."""
    deadline = time.monotonic() + timeout
    while not ready(samples := scrape(port)):
        assert time.monotonic() < deadline, samples
        time.sleep(0.1)
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_a_painted_and_mailed_job_moves_the_worker_and_mailer_counters(booth, inbox):
    with booth.api_nodes[0].client() as client:
        response = client.post(
            "/v1/jobs",
            files={"portrait": ("me.jpg", DEMO_PHOTO, "image/jpeg")},
            data={"style": "palette-04", "email": "metrics@example.org", "consent": "true"},
        )
        response.raise_for_status()
        assert wait_for_state(client, response.json(), {"done", "failed"})["state"] == "done"
    inbox.wait_for(1, timeout=60)

    worker = scrape_until(
        metrics_port(booth.workers[0]), lambda s: value(s, "booth_jobs_total", method="fast", state="done") >= 1
    )
    assert value(worker, "booth_jobs_claimed_total", method="fast") == 1
    assert value(worker, "booth_jobs_total", method="fast", state="done") == 1
    assert value(worker, "booth_jobs_total", method="fast", state="failed") == 0
    assert value(worker, "booth_paint_seconds_count", method="fast") == 1
    assert value(worker, "booth_paint_seconds_sum", method="fast") > 0
    assert value(worker, "booth_queue_wait_seconds_count", method="fast") == 1
    assert value(worker, "booth_paint_seconds_count", method="gatys") == 0  # a lane this worker does not paint

    mailer = scrape_until(
        metrics_port(booth.mailers[0]),
        lambda s: value(s, "booth_emails_total", outcome="sent") >= 1 and value(s, "booth_outbox_passes_total") >= 1,
    )
    assert value(mailer, "booth_emails_total", outcome="sent") == 1
    assert value(mailer, "booth_emails_total", outcome="retry") == 0
    assert ("booth_outbox_age_seconds", frozenset()) in mailer
    # the mailer paints nothing: it never loads torch (about a second and some hundred MB less per mailer)
    maps = {p: Path(f"/proc/{p.proc.pid}/maps").read_text() for p in (booth.workers[0], booth.mailers[0])}
    assert "libtorch" in maps[booth.workers[0]] and "libtorch" not in maps[booth.mailers[0]]


@pytest.mark.parametrize("command", ["worker", "mailer"])
def test_a_metrics_port_beyond_loopback_is_refused_with_one_line(booth, command):
    port = free_port()
    env = {**booth.mailers[0].env, "PORTRAIT_METRICS_PORT": str(port), "PORTRAIT_METRICS_HOST": "0.0.0.0"}
    script = Path(sys.executable).parent / "style-server"
    done = subprocess.run([str(script), command], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: refusing to serve metrics on 0.0.0.0, beyond this machine (they have no key and no TLS): keep "
        "PORTRAIT_METRICS_HOST on loopback and let a scraper on another host go through a reverse proxy"
    ]
    with pytest.raises(httpx.ConnectError):  # nothing listens on the port it was given
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
