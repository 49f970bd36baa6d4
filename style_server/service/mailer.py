"""The portrait e-mail, and the outbox that delivers it: retries with backoff, never loses, sends once."""

from __future__ import annotations

import asyncio
import html
import logging
import time
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from ..config import Settings
from ..engine.catalogue import Catalogue, parse_blend
from ..engine.errors import EngineError
from .faults import crash_at
from .metrics import Metrics
from .store import Store

log = logging.getLogger("style_server.mail")

TEXTS = {
    "en": {
        "subject": "Your Portrait Booth painting",
        "hello": "Here is your portrait, painted in the style of {attribution}.",
        "own": "Here is your portrait, painted in the style of the picture you chose.",
        "retention": "We keep your photo, the painting and this address for {hours:g} hours only, then erase them.",
        "thanks": "Thank you for visiting the Portrait Booth!",
    },
    "de": {
        "subject": "Ihr Gemälde aus der Portrait Booth",
        "hello": "Hier ist Ihr Porträt, gemalt im Stil von {attribution}.",
        "own": "Hier ist Ihr Porträt, gemalt im Stil des Bildes, das Sie gewählt haben.",
        "retention": "Wir bewahren Ihr Foto, das Gemälde und diese Adresse nur {hours:g} Stunden auf "
        "und löschen sie dann.",
        "thanks": "Danke für Ihren Besuch in der Portrait Booth!",
    },
}


def build_message(
    settings: Settings, to: str, job_id: str, language: str, attribution: str | None, jpeg: bytes
) -> EmailMessage:
    """Text + HTML body, the portrait inline and attached. ``to`` was validated; headers are set, not pasted."""
    t = TEXTS.get(language, TEXTS["en"])
    intro = t["hello"].format(attribution=attribution) if attribution else t["own"]
    retention = t["retention"].format(hours=settings.retention_hours)
    msg = EmailMessage()
    msg["Subject"] = t["subject"]
    msg["From"] = settings.mail_from
    msg["To"] = to
    if settings.mail_reply_to:
        msg["Reply-To"] = settings.mail_reply_to
    msg["Message-ID"] = f"<portrait-{job_id}@portrait-booth>"  # stable: a resend is recognisable as the same mail
    msg.set_content(f"{intro}\n\n{retention}\n\n{t['thanks']}\n")
    cid = make_msgid(domain="portrait-booth")
    msg.add_alternative(
        f'<html><body><p>{html.escape(intro)}</p><p><img src="cid:{cid[1:-1]}" alt="portrait" '
        f'style="max-width:100%"></p><p>{html.escape(retention)}</p><p>{html.escape(t["thanks"])}</p>'
        "</body></html>",
        subtype="html",
    )
    msg.get_payload()[1].add_related(jpeg, "image", "jpeg", cid=cid)
    msg.add_attachment(jpeg, maintype="image", subtype="jpeg", filename="portrait.jpg")
    return msg


class MailOutbox:
    """Delivers pending mails from the store; a failed attempt is retried later, with backoff."""

    def __init__(self, settings: Settings, store: Store, catalogue: Catalogue, metrics: Metrics) -> None:
        self.settings, self.store, self.catalogue, self.metrics = settings, store, catalogue, metrics

    async def run(self) -> None:
        while True:
            try:
                for row in self.store.due_mail(time.time()):
                    await self._deliver(row["job_id"], row["attempts"])
            except Exception:  # keep the loop alive whatever happens; the row stays pending
                log.exception("outbox pass failed")
            await asyncio.sleep(1.0)  # the outbox is polled: mails are queued from worker threads

    def _attribution(self, job) -> str | None:
        """Credit every painting of the style (blends credit each); a visitor's own picture has none."""
        if not job.style or job.has_style_image:
            return None
        try:
            return " and ".join(self.catalogue.get(name).attribution for name, _ in parse_blend(job.style))
        except EngineError:
            return None

    async def _deliver(self, job_id: str, attempts: int) -> None:
        job = self.store.get(job_id)
        result = self.store.folder(job_id) / "result.jpg"
        if job is None or not job.email or not result.is_file():
            self.store.mail_failed(job_id, "job, address or result no longer exists", time.time(), give_up=True)
            return
        message = build_message(
            self.settings, job.email, job.id, job.language, self._attribution(job), result.read_bytes()
        )
        s = self.settings
        accepted = False
        try:
            # The duplicate window: the SMTP server has accepted the mail, and the outbox does not know it yet.
            # It is kept to one local SQLite write: "sent" is recorded as soon as DATA is accepted, before QUIT.
            # A crash inside it sends the mail again after the restart, with the same Message-ID.
            async with aiosmtplib.SMTP(
                hostname=s.smtp_host,
                port=s.smtp_port,
                timeout=s.smtp_timeout,
                use_tls=s.smtp_security == "tls",
                start_tls=s.smtp_security == "starttls",
                cert_bundle=str(s.smtp_ca_file) if s.smtp_ca_file else None,  # None: the system's CA store
                username=s.smtp_user,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            ) as smtp:
                await smtp.send_message(message)
                crash_at(s.fault_point, "after_smtp_accept")
                self.store.mail_sent(job_id)
                accepted = True
        except (aiosmtplib.SMTPException, OSError) as exc:
            if accepted:  # only the goodbye (QUIT) failed: the mail is delivered and recorded
                log.info("mail for job %s delivered; the SMTP goodbye failed (%s)", job_id, type(exc).__name__)
                self.metrics.emails.labels("sent").inc()
                return
            delay = min(s.mail_retry_base_seconds * 2**attempts, s.mail_retry_max_seconds)
            self.store.mail_failed(job_id, type(exc).__name__, time.time() + delay, give_up=False)
            self.metrics.emails.labels("retry").inc()
            log.warning("mail for job %s not delivered (%s); retry in %.0fs", job_id, type(exc).__name__, delay)
            return
        self.metrics.emails.labels("sent").inc()
        log.info("mail for job %s delivered", job_id)
