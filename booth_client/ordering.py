"""Ordering a painting: sending the visitor's request (or keeping it in the outbox), following the job's events
until the painting is ready, and estimating the wait shown meanwhile."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from shared.protocol import JobCreated, JobEvent, JobRequest, JobStatus

from .api import RequestRejected, ServerUnavailable
from .catalogue import StyleCatalogue
from .config import KioskConfig
from .connection import ServerConnection
from .outbox import RequestOutbox
from .print_page import PrintSpool
from .tasks import UiBridge

RECONNECT_BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0)  # seconds between attempts to follow a job's progress again
MAIL_POLL_S = 5.0  # a download link ends once the job's mail has left: asked this often ...
MAIL_WAIT_S = 900.0  # ... this long at most (then it ends with the server's retention)
log = logging.getLogger(__name__)


@dataclass
class WaitEstimate:
    """Progress and time left, between the server's events too: interpolated along its estimate, so an Instant
    painting moves instead of jumping from 0 % to done. Without the server (``lost``) nothing moves: the bar
    says only what the server said."""

    started: float
    until: float
    server: float = 0.0  # the server's last progress
    shown: float = 0.0
    position: int | None = None  # in the server's queue
    lost: bool = False  # the connection dropped: frozen until the server speaks again

    @classmethod
    def starting(cls, wait_s: float) -> WaitEstimate:
        now = time.monotonic()
        return cls(now, now + wait_s)

    def update(self, status: JobStatus) -> None:
        if status.eta_seconds:  # what is left, as the server sees it now
            self.until = time.monotonic() + status.eta_seconds
        self.server, self.position = status.progress, status.position

    def now(self) -> tuple[float, int | None, float | None]:
        """(progress, queue position, seconds left or None when unknown); the progress never goes backwards."""
        total, left = self.until - self.started, self.until - time.monotonic()
        guessed = min(0.95, 1 - left / total) if total > 0 else 0.0
        self.shown = max(self.shown, self.server, guessed)
        return self.shown, self.position, max(0.0, left) if total > 0 else None


class Orders(QObject):
    """Ordering a painting, given the kiosk's config, the worker bridge, the server connection, the catalogue (its
    waits and retention), the request outbox and the print spool (purged with it). It sends the visitor's request
    or keeps it in the outbox, sends the outbox, follows the job until its painting is ready and ends its download
    link. It tells the window: ``accepted`` (the job), ``refused`` (for good), ``kept`` (photo, request: in the
    outbox), ``outbox_said`` (a panel text id and values) with ``rejected`` (the entries set aside), ``waiting``
    (progress, place, seconds left), ``lost`` (following broke; the mail comes anyway), ``heard`` (an event of the
    job), ``finished`` (job, painting or None, download link) and ``failed`` (job, reason)."""

    accepted = Signal(object)
    refused = Signal()
    kept = Signal(bytes, object)
    outbox_said = Signal(str, dict)
    rejected = Signal(list)
    waiting = Signal(object)
    lost = Signal()
    heard = Signal(object)
    finished = Signal(object, object, object)
    failed = Signal(object, str)

    def __init__(
        self,
        config: Callable[[], KioskConfig],
        bridge: UiBridge,
        connection: ServerConnection,
        catalogue: StyleCatalogue,
        outbox: RequestOutbox,
        spool: PrintSpool,
    ) -> None:
        super().__init__()
        self.config, self.bridge, self.connection, self.catalogue = config, bridge, connection, catalogue
        self.outbox, self.spool = outbox, spool
        self.job: JobCreated | None = None  # the job followed; anything else ends its watcher
        self.event_reconnects = 0
        self._flushing = False
        self._wait = WaitEstimate.starting(0.0)
        self.wait_timer = QTimer(self, interval=250, timeout=self._show_wait)

    # -- sending ----------------------------------------------------------------------------------------

    def submit(self, photo: bytes, request: JobRequest, key: str) -> None:
        self.bridge.run(
            lambda: self.connection.server().submit(photo, request, key),
            self.accepted.emit,
            lambda exc: self._submit_failed(exc, photo, request, key),
            what="sending the portrait",
        )

    def _submit_failed(self, exc: Exception, photo: bytes, request: JobRequest, key: str) -> None:
        if isinstance(exc, RequestRejected):
            log.warning("the server refused the request: %s", exc)  # its reason is English, for the log
            self.refused.emit()
            return
        self.connection.refused(exc)
        # offline, busy, not trusted or anything unexpected: keep it, send it when the server can take it
        self.outbox.add(photo, request, key)
        self.kept.emit(photo, request)

    # -- the outbox -------------------------------------------------------------------------------------

    def flush(self) -> None:
        if self._flushing:
            return
        if self.connection.may_retry():
            self.connection.connect_to(self.config())  # e.g. the server could not be reached to check its certificate
            return
        self._flushing = True
        self.bridge.run(self.send_outbox, self._outbox_done, self._outbox_failed, what="sending the outbox")

    def send_outbox(self) -> tuple[int, list]:
        """Worker thread: send what waits, oldest first, until the server stops answering."""
        self.outbox.purge(self.catalogue.retention_hours)  # personal data: never kept longer than the server would
        self.spool.purge(self.catalogue.retention_hours)  # pages a failed print left behind, likewise
        api = self.connection.api
        for entry in self.outbox.pending() if api is not None else []:
            try:
                api.submit(entry.portrait, entry.request, entry.idempotency_key)
            except ServerUnavailable:
                break
            except RequestRejected as exc:
                log.warning("the server refused an outbox entry for good: %s", exc)
                self.outbox.set_aside(entry, str(exc))
                continue
            self.outbox.remove(entry)
        return len(self.outbox.pending()), self.outbox.rejected()

    def _outbox_done(self, counts: tuple[int, list]) -> None:
        self._flushing = False
        remaining, rejected = counts
        held = self.connection.api is None
        self.outbox_said.emit("panel.outbox_held" if held else "panel.outbox", {"n": remaining})
        self.rejected.emit(rejected)

    def _outbox_failed(self, exc: Exception) -> None:
        self._flushing = False
        self.connection.refused(exc)
        self.outbox_said.emit("panel.outbox_failed", {"why": exc})

    # -- following the job ------------------------------------------------------------------------------

    def follow(self, job: JobCreated) -> None:
        """Show the wait at once (the server's estimates), then follow the job's events on a worker thread."""
        self.job = job
        self._wait = WaitEstimate.starting(job.status.eta_seconds or self.catalogue.eta.get(job.status.method) or 0.0)
        self._status_arrived(job.status)
        self.wait_timer.start()
        self.bridge.run(lambda: self._watch(job), lambda _: None, lambda exc: self._lost_track(job), what="following")

    def stop_showing_wait(self) -> None:
        self.wait_timer.stop()

    def forget(self) -> None:
        """The visitor has gone: the job is no longer followed (its watcher ends)."""
        self.job = None
        self.wait_timer.stop()

    def _status_arrived(self, status: JobStatus) -> None:
        self._wait.update(status)
        self._show_wait()

    def _show_wait(self) -> None:
        if not self._wait.lost:
            self.waiting.emit(self._wait.now())

    def _watch(self, job: JobCreated) -> None:
        """Worker thread: follow the job's events until it ends. A stream that breaks, or stays silent past
        the read timeout (a half-open connection), is opened again with growing pauses."""
        attempt = 0
        while self.job is job:
            try:
                for event in self.connection.server().events(job):
                    attempt = 0
                    self.bridge.call.emit(lambda e=event: self._on_event(job, e))
                    if event.type in ("done", "failed", "cancelled"):
                        return
            except (ServerUnavailable, RequestRejected) as exc:
                self.event_reconnects += 1
                log.warning("progress of job %s: %s; following it again", job.id, exc)
                self.bridge.call.emit(lambda: self._lost_track(job))
            time.sleep(RECONNECT_BACKOFF[min(attempt, len(RECONNECT_BACKOFF) - 1)])
            attempt += 1

    def _lost_track(self, job: JobCreated) -> None:
        """The stream broke, or following failed unexpectedly (logged): the painting still comes by e-mail."""
        if self.job is job:
            self._wait.lost = True
            self.lost.emit()

    def _on_event(self, job: JobCreated, event: JobEvent) -> None:
        if self.job is not job:  # a late event of a job the kiosk no longer follows
            return
        self._wait.lost = False
        self.heard.emit(event)
        self._status_arrived(event.status)
        if event.type == "done":
            self._fetch_result(job, event.status.download_url)
        elif event.type in ("failed", "cancelled"):
            self.failed.emit(job, event.status.error or event.type)

    def _fetch_result(self, job: JobCreated, download_url: str | None) -> None:
        """The painting is ready: fetch it for the result screen (which does without it if it cannot)."""
        self.bridge.run(
            lambda: self.connection.server().result(job),
            lambda data: self.finished.emit(job, data, download_url),
            lambda exc: self.finished.emit(job, None, download_url),
            what="fetching the painting",
        )

    # -- the download link ------------------------------------------------------------------------------

    def end_download(self, job: JobCreated) -> None:
        """The visitor is done: the job is erased on the server, and with it the download link of the QR code,
        once its mail has left (erasing it before would lose the mail)."""
        self.bridge.run(lambda: self._erase_after_mail(job), lambda _: None, what="ending the download link")

    def _erase_after_mail(self, job: JobCreated) -> None:
        """Worker thread."""
        deadline = time.monotonic() + MAIL_WAIT_S
        while self.connection.server().status(job).email_status == "pending":
            if self.bridge.closed or time.monotonic() > deadline:
                return
            time.sleep(MAIL_POLL_S)
        self.connection.server().erase(job)
