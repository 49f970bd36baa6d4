"""The portrait e-mail, and the outbox that delivers it: retries with backoff, never loses, sends once."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import aiosmtplib

from ..config import Settings
from ..engine.catalogue import Catalogue, parse_blend
from ..engine.errors import EngineError
from .backend import JobBackend
from .faults import crash_at
from .frame_store import FrameStore, framed
from .jobtypes import BackendUnavailable, MailTask
from .metrics import Metrics

log = logging.getLogger("style_server.mail")

TEXTS = {
    "en": {
        "subject": "Your Portrait Booth painting",
        "heading": "Your portrait is ready",
        "hello": "Here is your portrait, painted in the style of {attribution}.",
        "own": "Here is your portrait, painted in the style of the picture you chose.",
        "and": " and ",
        "alt": "Your portrait as a painting",
        "retention": "We keep your photo, the painting and this address for {hours:g} hours only, then erase them.",
        "thanks": "Thank you for visiting the Portrait Booth!",
        "sorry_subject": "Your Portrait Booth painting could not be made",
        "sorry": "We are sorry: your portrait could not be painted. Please visit the booth again, we will gladly "
        "take a new photo.",
    },
    "de": {
        "subject": "Ihr Gemälde aus der Portrait Booth",
        "heading": "Ihr Porträt ist fertig",
        "hello": "Hier ist Ihr Porträt, gemalt im Stil von {attribution}.",
        "own": "Hier ist Ihr Porträt, gemalt im Stil des Bildes, das Sie gewählt haben.",
        "and": " und ",
        "alt": "Ihr Porträt als Gemälde",
        "retention": "Wir bewahren Ihr Foto, das Gemälde und diese Adresse nur {hours:g} Stunden auf "
        "und löschen sie dann.",
        "thanks": "Danke für Ihren Besuch in der Portrait Booth!",
        "sorry_subject": "Ihr Gemälde aus der Portrait Booth konnte nicht entstehen",
        "sorry": "Es tut uns leid: Ihr Porträt konnte nicht gemalt werden. Besuchen Sie die Booth gern noch "
        "einmal, wir machen gern ein neues Foto.",
    },
}

# One table, inline styles only: what mail programs (Gmail, Outlook, Apple Mail) render alike.
HTML = """<!DOCTYPE html>
<html lang="{lang}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{subject}</title></head>
<body style="margin:0;padding:0;background:#f1ece4;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f1ece4;">
<tr><td align="center" style="padding:32px 12px;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="width:100%;max-width:600px;\
background:#ffffff;border-radius:10px;font-family:Georgia,'Times New Roman',serif;color:#2a2a2a;">
<tr><td style="background:#1f2a44;color:#f1ece4;padding:18px 32px;border-radius:10px 10px 0 0;\
font-family:Helvetica,Arial,sans-serif;font-size:13px;letter-spacing:3px;text-transform:uppercase;">\
Portrait Booth</td></tr>
<tr><td style="padding:28px 32px 6px;font-size:26px;line-height:1.25;">{heading}</td></tr>
<tr><td style="padding:0 32px 22px;font-size:16px;line-height:1.55;">{intro}</td></tr>
<tr><td style="padding:0 32px;"><img src="cid:{cid}" alt="{alt}" width="536" style="display:block;width:100%;\
max-width:536px;height:auto;border:10px solid #2a2a2a;box-sizing:border-box;"></td></tr>
<tr><td style="padding:10px 32px 26px;font-size:13px;font-style:italic;color:#6d6a66;">{credit}</td></tr>
<tr><td style="padding:0 32px 28px;font-size:16px;">{thanks}</td></tr>
<tr><td style="background:#f7f4ef;padding:16px 32px;border-radius:0 0 10px 10px;font-family:Helvetica,Arial,\
sans-serif;font-size:12px;line-height:1.5;color:#6d6a66;">{retention}</td></tr>
</table></td></tr></table>
</body>
</html>
"""


def sender_domain(mail_from: str) -> str:
    """The domain of the configured sender (``PORTRAIT_MAIL_FROM``), for Message-IDs; a safe default without one."""
    _, at, domain = parseaddr(mail_from)[1].rpartition("@")
    domain = domain.strip().lower()
    return domain if at and re.fullmatch(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?", domain) else "portrait-booth"


def message_id(settings: Settings, job_id: str) -> str:
    """Stable per job: a resend (after a crash in the duplicate window) is recognisable as the same mail."""
    return f"<portrait-{job_id}@{sender_domain(settings.mail.mail_from)}>"


def build_message(
    settings: Settings, to: str, job_id: str, language: str, attribution: str | None, jpeg: bytes
) -> EmailMessage:
    """Text + HTML body (``lang`` set), the portrait inline and attached. ``to`` was validated; headers are set,
    not pasted. ``attribution`` is already in ``language``."""
    lang = language if language in TEXTS else "en"
    t = TEXTS[lang]
    intro = t["hello"].format(attribution=attribution) if attribution else t["own"]
    retention = t["retention"].format(hours=settings.retention.retention_hours)
    domain = sender_domain(settings.mail.mail_from)
    msg = EmailMessage()
    msg["Subject"] = t["subject"]
    msg["From"] = settings.mail.mail_from
    msg["To"] = to
    if settings.mail.mail_reply_to:
        msg["Reply-To"] = settings.mail.mail_reply_to
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = message_id(settings, job_id)
    msg.set_content(f"{intro}\n\n{retention}\n\n{t['thanks']}\n")
    cid = make_msgid(idstring=f"portrait-{job_id}", domain=domain)
    esc = html.escape
    msg.add_alternative(
        HTML.format(
            lang=lang,
            subject=esc(t["subject"]),
            heading=esc(t["heading"]),
            intro=esc(intro),
            cid=esc(cid[1:-1]),
            alt=esc(t["alt"]),
            credit=esc(attribution or ""),
            thanks=esc(t["thanks"]),
            retention=esc(retention),
        ),
        subtype="html",
    )
    msg.get_payload()[1].add_related(jpeg, "image", "jpeg", cid=cid)
    msg.add_attachment(jpeg, maintype="image", subtype="jpeg", filename="portrait.jpg")
    msg["Content-Language"] = lang  # last: making the message multipart moves Content-* headers into a part
    return msg


def build_apology(settings: Settings, to: str, job_id: str, language: str) -> EmailMessage:
    """The mail of a job that could not be painted (given up after repeated failures): text only, same
    Message-ID rule, so it too is sent at most once."""
    t = TEXTS[language if language in TEXTS else "en"]
    msg = EmailMessage()
    msg["Subject"] = t["sorry_subject"]
    msg["From"] = settings.mail.mail_from
    msg["To"] = to
    if settings.mail.mail_reply_to:
        msg["Reply-To"] = settings.mail.mail_reply_to
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = message_id(settings, job_id)
    retention = t["retention"].format(hours=settings.retention.retention_hours)
    msg.set_content(f"{t['sorry']}\n\n{retention}\n")
    msg["Content-Language"] = language if language in TEXTS else "en"
    return msg


# A timeout or a lost connection from the DATA command on: the server may have the message (it stored it and
# answered too late), so sending again may deliver a copy. Such attempts are counted and bounded.
MAYBE_DELIVERED = (aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPServerDisconnected)


class _SMTP(aiosmtplib.SMTP):
    """Knows whether the message was handed over: ``send_message`` sends MAIL and RCPT, then calls ``data``."""

    handed_over = False

    async def data(self, message: str | bytes, /, **kwargs) -> aiosmtplib.SMTPResponse:
        self.handed_over = True
        return await super().data(message, **kwargs)


class MailOutbox:
    """Delivers pending mails from the store; a failed attempt is retried later, with backoff."""

    def __init__(
        self, settings: Settings, store: JobBackend, catalogue: Catalogue, metrics: Metrics, frames: FrameStore
    ) -> None:
        self.settings, self.store, self.catalogue, self.metrics = settings, store, catalogue, metrics
        self.frames = frames  # the event frame every mailed portrait is laid in
        self._oldest = 0.0  # seconds: the oldest mail of the current pass (``booth_outbox_age_seconds``)

    async def run(self) -> None:
        while True:
            try:
                await self._deliver_due()
            except BackendUnavailable as exc:  # the mail stays queued; its lease runs out if we held it
                log.warning("the mail queue cannot be reached (%s); trying again", exc)
                await asyncio.sleep(1.0)
            except Exception:  # keep the loop alive whatever happens; the mail stays pending
                log.exception("outbox pass failed")
                await asyncio.sleep(1.0)
            if not self.store.waits_for_work:
                await asyncio.sleep(1.0)  # the outbox is polled: mails are queued from worker threads

    async def _deliver_due(self) -> None:
        """One pass over the mails due now. Whatever ends it early hands the rest back, so they are due again
        soon: a store that timed out mid-pass would otherwise leave them held by this process, never sent."""
        tasks = await self.store.aio.due_mail(time.time())
        self._oldest = 0.0
        try:
            for i, task in enumerate(tasks):
                try:
                    await self._deliver(task)
                except BaseException:
                    self.store.mail_released([t.job_id for t in tasks[i:]])
                    raise
        finally:
            self.metrics.outbox_age.set(self._oldest)
            self.metrics.outbox_passes.inc()

    async def _record_sent(self, job_id: str) -> None:
        """The SMTP server has the mail: it is recorded as sent however long the store takes to answer, so a
        store that cannot be reached for a while never makes it send the mail twice."""
        while True:
            try:
                # shielded: a pass stopped now (a shutdown) still records it, or the mail would go out again
                return await asyncio.shield(self.store.aio.mail_sent(job_id))
            except BackendUnavailable as exc:
                log.warning("mail for job %s delivered; recording it waits for the store (%s)", job_id, exc)
                await asyncio.sleep(1.0)

    def _attribution(self, job) -> str | None:
        """Credit every painting of the style (blends credit each), in the visitor's language; a visitor's own
        picture has none."""
        if not job.style or job.has_style_image:
            return None
        joiner = TEXTS.get(job.language, TEXTS["en"])["and"]
        try:
            return joiner.join(
                self.catalogue.get(name).attribution_in(job.language) for name, _ in parse_blend(job.style)
            )
        except EngineError:
            return None

    async def _deliver(self, task: MailTask) -> None:
        job_id = task.job_id
        job = await self.store.aio.get(job_id)
        if job is not None:  # how long the oldest mail of this pass waited for the outbox (its job's end on)
            self._oldest = max(self._oldest, time.time() - (job.finished or job.created))
        jpeg = await self.store.aio.result(job_id) if task.kind == "portrait" else b""
        if job is None or not job.email or jpeg is None:
            await self.store.aio.mail_failed(job_id, "job, address or result no longer exists", time.time(), True)
            return
        if task.kind == "failed":
            message = build_apology(self.settings, job.email, job.id, job.language)
        else:
            jpeg = await framed(self.frames, jpeg)
            message = build_message(self.settings, job.email, job.id, job.language, self._attribution(job), jpeg)
        s = self.settings
        smtp = _SMTP(
            hostname=s.mail.smtp_host,
            port=s.mail.smtp_port,
            timeout=s.mail.smtp_timeout,
            use_tls=s.mail.smtp_security == "tls",
            start_tls=s.mail.smtp_security == "starttls",
            cert_bundle=str(s.mail.smtp_ca_file) if s.mail.smtp_ca_file else None,  # None: the system's CA store
            username=s.mail.smtp_user,
            password=s.mail.smtp_password.get_secret_value() if s.mail.smtp_password else None,
        )
        accepted = False
        try:
            # The duplicate window: the SMTP server has accepted the mail, and the outbox does not know it yet.
            # It is kept to one local SQLite write: "sent" is recorded as soon as DATA is accepted, before QUIT.
            # A crash inside it sends the mail again after the restart, with the same Message-ID.
            async with smtp:
                await smtp.send_message(message)
                crash_at(s.testing.fault_point, "after_smtp_accept")
                await self._record_sent(job_id)
                accepted = True
        except (aiosmtplib.SMTPException, OSError) as exc:
            if accepted:  # only the goodbye (QUIT) failed: the mail is delivered and recorded
                log.info("mail for job %s delivered; the SMTP goodbye failed (%s)", job_id, type(exc).__name__)
                self.metrics.emails.labels("sent").inc()
                return
            await self._failed(task, type(exc).__name__, smtp.handed_over and isinstance(exc, MAYBE_DELIVERED))
            return
        self.metrics.emails.labels("sent").inc()
        log.info("mail for job %s delivered", job_id)

    async def _failed(self, task: MailTask, error: str, maybe_delivered: bool) -> None:
        """Record a failed attempt and retry it with backoff. An attempt that may have delivered the mail is
        retried only ``mail_uncertain_retries`` times (with the same Message-ID); then the mail is uncertain and
        never sent again: a slow server would otherwise get a new copy at every retry, forever."""
        s, job_id = self.settings, task.job_id
        delay = min(s.mail.mail_retry_base_seconds * 2**task.attempts, s.mail.mail_retry_max_seconds)
        give_up = maybe_delivered and task.uncertain >= s.mail.mail_uncertain_retries
        await self.store.aio.mail_failed(job_id, error, time.time() + delay, give_up, maybe_delivered)
        if give_up:
            self.metrics.emails.labels("uncertain").inc()
            log.error(
                "mail for job %s maybe delivered %d times (%s): marked uncertain, not sent again",
                job_id,
                task.uncertain + 1,
                error,
            )
            return
        self.metrics.emails.labels("retry").inc()
        if maybe_delivered:
            log.warning(
                "mail for job %s maybe delivered: the SMTP server did not answer the message in time (%s); "
                "sent again in %.0fs with the same Message-ID (uncertain %d of %d)",
                job_id,
                error,
                delay,
                task.uncertain + 1,
                s.mail.mail_uncertain_retries + 1,
            )
        else:
            log.warning("mail for job %s not delivered (%s); retry in %.0fs", job_id, error, delay)
