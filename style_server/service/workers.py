"""The processes of a scaled-out booth besides the API nodes: ``style-server worker`` (one per GPU) and
``style-server mailer``. Both take their work from the shared backend (NATS) and hold nothing of their own."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING

from ..config import Settings, engine_from_settings
from ..engine.catalogue import Catalogue
from .backend import open_backend
from .frame_store import open_frame_store
from .mailer import MailOutbox
from .metrics import Metrics
from .metrics_server import serving_metrics

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger("style_server.worker")
CAPACITY_EVERY = 5.0  # seconds between a worker's reports of its measured throughput


async def run_worker(settings: Settings, lanes: list[str], device: str | None) -> None:
    """Paint the jobs of ``lanes`` until SIGTERM/SIGINT; a running masterpiece then goes back to the queue.
    Retention is the API nodes' pass (and the buckets' TTL), mail the mailers'."""
    from .app import start_painting, stop_painting  # here, not above: the mailer never loads torch
    from .service import Service

    engine = await asyncio.to_thread(engine_from_settings, settings, device)
    store = await asyncio.to_thread(open_backend, settings, "worker")
    service = Service(settings, engine, store, streams=False)
    service.events.bind(asyncio.get_running_loop())
    tasks = start_painting(service, lanes, mail=False, retention=False)
    tasks.append(asyncio.create_task(_report_capacity(service, lanes)))
    with serving_metrics(settings, service.metrics):
        log.info("worker on %s painting lanes %s", engine.device, ", ".join(lanes))
        await _until_stopped()
        await stop_painting(service, tasks)


async def _report_capacity(service: Service, lanes: list[str]) -> None:
    """Tell the API nodes what this worker measured (their queue positions' ETA and the catalogue's)."""
    runner = service.runner
    counts = {m: n for m, n in runner.lanes().items() if m in lanes}
    while True:
        seconds = {m: runner.average_seconds[m] for m in counts}
        try:
            await asyncio.to_thread(service.store.report_capacity, seconds, counts)
        except Exception as exc:  # a cluster election, say: the next report goes through
            log.warning("capacity report failed (%s)", type(exc).__name__)
        await asyncio.sleep(CAPACITY_EVERY)


async def run_mailer(settings: Settings) -> None:
    """Send the booth's mails until SIGTERM/SIGINT (at most once per job, retried with backoff)."""
    store = await asyncio.to_thread(open_backend, settings, "mailer")
    frames = open_frame_store(settings, store)
    metrics = Metrics()
    outbox = MailOutbox(settings, store, Catalogue.load(settings.engine.models_dir), metrics, frames)
    task = asyncio.create_task(outbox.run())
    with serving_metrics(settings, metrics):
        log.info("mailer sending through %s:%d", settings.mail.smtp_host, settings.mail.smtp_port)
        await _until_stopped()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.to_thread(store.close)


async def _until_stopped() -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
