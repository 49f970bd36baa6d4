"""Ordering a painting: sending the visitor's request (or keeping it in the outbox), following the job's events
until the painting is ready, and estimating the wait shown meanwhile."""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass

from shared.protocol import JobCreated, JobEvent, JobRequest, JobStatus

from .api import RequestRejected, ServerUnavailable
from .i18n import tr

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


class Ordering:
    """Mixed into ``BoothWindow``: the work behind its sending, progress and outbox; the flow's states call it."""

    job: JobCreated | None  # the job followed; anything else ends its watcher
    event_reconnects: int

    # -- sending ----------------------------------------------------------------------------------------

    def _submit(self, photo: bytes, request: JobRequest, key: str) -> None:
        self.bridge.run(
            lambda: self.connection.server().submit(photo, request, key),
            lambda job: self.flow.fire("accepted", job),
            lambda exc: self._submit_failed(exc, photo, request, key),
            what="sending the portrait",
        )

    def _submit_failed(self, exc: Exception, photo: bytes, request: JobRequest, key: str) -> None:
        if isinstance(exc, RequestRejected):
            log.warning("the server refused the request: %s", exc)  # its reason is English, for the log
            self.email.say(tr("refused", self.config.language))
            self.flow.fire("refused")
            return
        self.connection.refused(exc)
        self.catalogue.server_reached = False
        self._show_availability()
        # offline, busy, not trusted or anything unexpected: keep it, send it when the server can take it
        self.outbox.add(photo, request, key)
        self.flow.fire("kept", photo, request)

    # -- the outbox -------------------------------------------------------------------------------------

    def flush_outbox(self) -> None:
        if self._flushing:
            return
        if self.connection.may_retry():
            self.connection.connect_to(self.config)  # e.g. the server could not be reached to check its certificate
            return
        self._flushing = True
        self.bridge.run(self._send_outbox, self._outbox_done, self._outbox_failed, what="sending the outbox")

    def _send_outbox(self) -> tuple[int, list]:
        """Worker thread: send what waits, oldest first, until the server stops answering."""
        self.outbox.purge(self.catalogue.retention_hours)  # personal data: never kept longer than the server would
        self.print_desk.spool.purge(self.catalogue.retention_hours)  # pages a failed print left behind, likewise
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
        if self.connection.api is not None:
            self.operator.show_outbox("panel.outbox", n=remaining)
        else:
            self.operator.show_outbox("panel.outbox_held", n=remaining)
        self.operator.show_rejected(rejected)

    def _outbox_failed(self, exc: Exception) -> None:
        self._flushing = False
        self.connection.refused(exc)
        self.operator.show_outbox("panel.outbox_failed", why=exc)

    # -- following the job ------------------------------------------------------------------------------

    def _follow(self, job: JobCreated) -> None:
        """Show the wait at once (the server's estimates), then follow the job's events on a worker thread."""
        self.job = job
        self._wait = WaitEstimate.starting(job.status.eta_seconds or self.catalogue.eta.get(job.status.method) or 0.0)
        self._status_arrived(job.status)
        self.wait_timer.start()
        self.bridge.run(lambda: self._watch(job), lambda _: None, lambda exc: self._lost_track(job), what="following")

    def _status_arrived(self, status: JobStatus) -> None:
        self._wait.update(status)
        self._show_wait()

    def _show_wait(self) -> None:
        if not self._wait.lost:
            self.progress.update_status(*self._wait.now())

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
            self.progress.set_detail(tr("arrives_anyway", self.config.language))
            self.progress.set_remaining(tr("reconnecting", self.config.language))

    def _on_event(self, job: JobCreated, event: JobEvent) -> None:
        if self.job is not job:  # a late event of a job the kiosk no longer follows
            return
        self.progress.set_detail(tr("can_leave", self.config.language))
        self._wait.lost = False
        if event.preview_jpeg_base64:
            self.progress.show_picture(base64.b64decode(event.preview_jpeg_base64))
        self._status_arrived(event.status)
        if event.type == "done":
            self._fetch_result(job, event.status.download_url)
        elif event.type in ("failed", "cancelled"):
            self.flow.fire("failed", job, None, event.status.error or event.type)

    def _fetch_result(self, job: JobCreated, download_url: str | None) -> None:
        """The painting is ready: fetch it for the result screen (which does without it if it cannot)."""
        self.bridge.run(
            lambda: self.connection.server().result(job),
            lambda data: self.flow.fire("done", job, data, "", download_url),
            lambda exc: self.flow.fire("done", job, None, "", download_url),
            what="fetching the painting",
        )

    # -- the download link ------------------------------------------------------------------------------

    def _end_download(self, job: JobCreated) -> None:
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
