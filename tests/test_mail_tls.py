"""Mail over TLS: the booth delivers through a real aiosmtpd speaking STARTTLS, and one speaking implicit TLS.

The SMTP server's certificate is made here; the style server trusts it only through PORTRAIT_SMTP_CA_FILE, and
without that file it refuses the unknown certificate and keeps the mail for a later try.
"""

from __future__ import annotations

import io
import re
import ssl
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from style_server.dev_inbox import InboxHandler, read_inbox
from style_server.service.tls import make_self_signed
from tests.harness import ServerProcess, free_port, job_status, wait_for_state


@pytest.fixture(scope="module")
def smtp_cert(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("smtp-cert")
    cert_pem, key_pem = make_self_signed(["localhost", "127.0.0.1"])
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(key_pem)
    return folder / "cert.pem", folder / "key.pem"


class TlsInbox:
    """aiosmtpd on loopback that speaks TLS: ``starttls`` (required before MAIL) or ``tls`` (implicit, port 465
    style). Mails land in ``folder`` through the dev inbox's handler."""

    def __init__(self, folder: Path, mode: str, cert: tuple[Path, Path]) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*map(str, cert))
        self.folder, self.port = folder, free_port()
        options = {"ssl_context": context} if mode == "tls" else {"tls_context": context, "require_starttls": True}
        self.controller = Controller(InboxHandler(folder, echo=False), hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def messages(self):
        return read_inbox(self.folder)

    def stop(self) -> None:
        self.controller.stop()


def _portrait_jpeg(portrait) -> bytes:
    buf = io.BytesIO()
    portrait.resize((160, 160)).save(buf, "JPEG")
    return buf.getvalue()


def _send_job(server: ServerProcess, portrait, address: str) -> dict:
    with server.client() as client:
        answer = client.post(
            "/v1/jobs",
            files={"portrait": ("me.jpg", _portrait_jpeg(portrait), "image/jpeg")},
            data={"style": "palette-01", "method": "fast", "email": address, "consent": "true"},
        )
        assert answer.status_code == 201, answer.text
        job = answer.json()
        wait_for_state(client, job, {"done"})
        return job


def _email_status(server: ServerProcess, job: dict) -> str:
    with server.client() as client:
        return job_status(client, job)["email_status"]


def _mail_outcomes(server: ServerProcess) -> dict[str, float]:
    with server.client() as client:
        text = client.get("/metrics").text
    return {m[0]: float(m[1]) for m in re.findall(r'^booth_emails_total\{outcome="(\w+)"\} (\S+)$', text, re.M)}


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_mail_arrives_over_tls(mode, tmp_path, cache_dir, smtp_cert, portrait):
    inbox = TlsInbox(tmp_path / "inbox", mode, smtp_cert)
    server = ServerProcess(
        tmp_path / "data", cache_dir, inbox.port, smtp_security=mode, smtp_ca_file=smtp_cert[0]
    ).start()
    try:
        job = _send_job(server, portrait, f"{mode}@example.org")
        deadline = time.monotonic() + 60
        while not inbox.messages() and time.monotonic() < deadline:
            time.sleep(0.1)
        [mail] = inbox.messages()
        assert mail["To"] == f"{mode}@example.org"
        assert mail["Message-ID"] == f"<portrait-{job['id']}@localhost>"  # the domain of PORTRAIT_MAIL_FROM
        assert any(part.get_filename() == "portrait.jpg" for part in mail.iter_attachments())
        assert _email_status(server, job) == "sent"
    finally:
        server.stop()
        inbox.stop()


def test_an_untrusted_smtp_certificate_is_refused_and_the_mail_kept(tmp_path, cache_dir, smtp_cert, portrait):
    """Without PORTRAIT_SMTP_CA_FILE the system store does not know the test certificate: no mail may leave
    unverified, and the mail stays pending for a later try (the outbox counts a retry)."""
    inbox = TlsInbox(tmp_path / "inbox", "starttls", smtp_cert)
    server = ServerProcess(tmp_path / "data", cache_dir, inbox.port, smtp_security="starttls").start()
    try:
        job = _send_job(server, portrait, "nobody@example.org")
        deadline = time.monotonic() + 60
        while _mail_outcomes(server).get("retry", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _mail_outcomes(server).get("retry", 0) >= 1
        assert inbox.messages() == []
        assert _email_status(server, job) == "pending"
    finally:
        server.stop()
        inbox.stop()
