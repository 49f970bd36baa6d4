"""Real parts for integration tests: a style server in its own process, an SMTP inbox on loopback."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from pathlib import Path

import httpx

from portrait_booth import loopback
from portrait_booth.loopback import API_KEY, Inbox, free_port
from portrait_booth.scaleout import NatsCluster, NatsServer, ScaledBooth
from shared.protocol import JobCreated, JobOptions

__all__ = [
    "API_KEY",
    "DEMO_PHOTO",
    "Inbox",
    "ServerProcess",
    "free_port",
    "job_status",
    "nats_booth",
    "one_place_server",
    "post_demo_job",
    "wait_for_state",
    "wait_until",
]

DEMO_PHOTO = (Path(__file__).parent.parent / "booth_client" / "assets" / "demo_portrait.jpg").read_bytes()
QUICK = {  # small paintings and fast mail retries keep the tests quick
    "mail_retry_base_seconds": 0.3,
    "mail_retry_max_seconds": 1,
    "fast_size": 256,
    "gatys_size": 96,
    "gatys_iterations": 8,
    "preview_every": 2,
}


class ServerProcess(loopback.ServerProcess):
    """``portrait_booth.loopback.ServerProcess`` with the ``QUICK`` settings (each can be overridden)."""

    def __init__(
        self, data_dir: Path, cache_dir: Path, smtp_port: int, tls: bool = False, script: Path | None = None, **settings
    ) -> None:
        super().__init__(data_dir, cache_dir, smtp_port, tls, script, **{**QUICK, **settings})


def nats_booth(
    folder: Path,
    cache_dir: Path,
    smtp_port: int,
    cluster: bool = False,
    api_nodes: int = 1,
    workers: int = 1,
    mailers: int = 1,
    **settings,
) -> ScaledBooth:
    """A started scaled-out booth on loopback: NATS JetStream (one server, or a 3-node cluster with 3 replicas),
    ``api_nodes`` API nodes, ``workers`` workers painting both lanes and ``mailers`` mailers. Leases last 3 s unless
    ``settings`` say otherwise (quick redelivery after a kill)."""
    nats = (NatsCluster(folder / "nats") if cluster else NatsServer(folder / "nats")).start()
    common = {"backend": "nats", "nats_url": nats.url, "nats_ack_wait_seconds": 3, "nats_replicas": 3 if cluster else 1}
    common |= settings
    booth = ScaledBooth(nats, [])
    try:
        for i in range(api_nodes):
            booth.api_nodes.append(ServerProcess(folder / f"api{i}", cache_dir, smtp_port, **common).start())
        for _ in range(workers):
            booth.add_worker()
        for _ in range(mailers):
            booth.add_mailer()
    except BaseException:
        booth.stop()
        raise
    return booth


def one_place_server(data_dir: Path, cache_dir: Path, **settings) -> ServerProcess:
    """A started server whose queue has one place, and masterpieces slow enough to hold it: while one waits or
    runs, every other job gets 503."""
    quick = {"queue_max": 1, "gatys_iterations": 400, "gatys_size": 128}
    return ServerProcess(data_dir, cache_dir, free_port(), **{**quick, **settings}).start()


def post_demo_job(server: loopback.ServerProcess, style: str = "palette-04") -> JobCreated:
    """A fast job with the demo photo, posted straight to the server (as a kiosk's send would)."""
    with server.client() as client:
        response = client.post(
            "/v1/jobs", files={"portrait": ("me.jpg", DEMO_PHOTO, "image/jpeg")}, data={"style": style}
        )
    response.raise_for_status()
    return JobCreated.model_validate(response.json())


def job_status(client: httpx.Client, job: dict) -> dict:
    """``GET /v1/jobs/{id}`` with the job's token."""
    return client.get(f"/v1/jobs/{job['id']}", headers={"X-Job-Token": job["token"]}).json()


def wait_for_state(client: httpx.Client, job: dict, states: set[str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job_status(client, job)
        if status["state"] in states:
            return status
        time.sleep(0.1)
    raise TimeoutError(f"job never reached {states}: {status}")


GRACE_SECONDS = 30  # the compose files' stop_grace_period (Docker's default is 10 s) and a systemd unit's default
STORE_CREATE = {  # a store's create as the API calls it, less the idempotency key
    "kiosk": "kiosk-a",
    "method": "fast",
    "style": "palette-01",
    "options": JobOptions(),
    "email": None,
    "language": "en",
    "portrait_png": b"png",
    "style_png": None,
}


def always_during(condition, seconds: float, what: str, every: float = 0.2) -> None:
    """``condition`` holds at every look for ``seconds``: a claim about a span of time (a lease renewed, a
    connection kept), where the span itself is what is tested."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition(), what
        time.sleep(every)


def wait_until(condition, what, timeout: float = 120, every: float = 0.2):
    """Poll ``condition`` until it returns something true; fail with ``what()`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, what()
        time.sleep(every)
    return found


def metric(url: str, name: str, **labels: str) -> float:
    """A metric of the server at ``url``, summed over the labels not given."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    samples = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    ]
    family = re.sub(r"_(count|sum|bucket)$", "", name)  # a counter's HELP line keeps its _total
    assert samples or f"# HELP {family} " in text, f"{name} is not among the metrics"
    return sum(samples)


def wait_until_nothing_left_to_send(server: ServerProcess, timeout: float = 60) -> None:
    """Until nothing the booth holds could still send a mail: where a test claims an absence (no second copy).
    The whole booth must be quiet, not only the test's job (a module's shared server: its earlier tests' mails).
    One process: no mail pending in its outbox table (due now or after a backoff), and two more passes of its
    outbox ended (the one under way, with any send it had begun, and a whole one after). Scaled out: no job and
    no mail is left in NATS (a message stays in its stream until acked)."""
    booth = getattr(server, "booth", None)
    if booth is not None:
        wait_until_nats_holds_no_work(booth.nats.url, timeout)
        return
    wait_until(lambda: pending_mail(server) == 0, lambda: f"{pending_mail(server)} mails pending", timeout)
    start = metric(server.url, "booth_outbox_passes_total")
    wait_until(
        lambda: metric(server.url, "booth_outbox_passes_total") >= start + 2, lambda: "the outbox stopped", timeout
    )


def pending_mail(server: ServerProcess) -> int:
    """Mails a one-process server still means to send (read-only, beside the running server)."""
    with contextlib.closing(sqlite3.connect(f"file:{server.data_dir / 'jobs.db'}?mode=ro", uri=True)) as db:
        return db.execute("SELECT COUNT(*) FROM outbox WHERE status='pending'").fetchone()[0]


def wait_until_nats_holds_no_work(url: str, timeout: float = 60) -> None:
    """Until no job and no mail is left in NATS: painted and mailed, or given up."""
    from tests.nats_inspect import queued_messages

    wait_until(lambda: queued_messages(url) == 0, lambda: f"{queued_messages(url)} jobs or mails stay in NATS", timeout)
