"""Mail under faults, against real servers on loopback (SQLite one-host, and NATS with a real nats-server) and a
real SMTP inbox (aiosmtpd): the apology of a failed job, a slow SMTP server, a dead-lettered job."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from style_server.service.mailer import TEXTS
from tests.harness import (
    DEMO_PHOTO,
    Inbox,
    ServerProcess,
    job_status,
    nats_booth,
    wait_for_state,
    wait_until,
    wait_until_nats_holds_no_work,
    wait_until_nothing_left_to_send,
)
from tests.nats_inspect import nats_contents

pytestmark = pytest.mark.slow  # end to end: started first when the tests run in parallel

SMTP_TIMEOUT = 2.0
UNCERTAIN_RETRIES = 2


class SlowInbox(Inbox):
    """The real inbox, whose SMTP server stores every mail at once but answers its DATA only ``answer_after`` s
    later: past the sender's timeout, the mail is delivered and the sender cannot know it."""

    def __init__(self, folder: Path, answer_after: float) -> None:
        super().__init__(folder)
        self.answer_after = answer_after

    def start(self) -> SlowInbox:
        super().start()
        handler = self.controller.handler
        store = handler.handle_DATA

        async def slow(server, session, envelope) -> str:
            answer = await store(server, session, envelope)
            await asyncio.sleep(self.answer_after)
            return answer

        handler.handle_DATA = slow
        return self


@pytest.fixture
def box(tmp_path) -> Iterator[Inbox]:
    inbox = Inbox(tmp_path / "inbox").start()
    yield inbox
    inbox.stop()


@pytest.fixture
def slow_box(tmp_path) -> Iterator[SlowInbox]:
    inbox = SlowInbox(tmp_path / "slow-inbox", answer_after=SMTP_TIMEOUT * 3).start()
    yield inbox
    inbox.stop()


def post(client: httpx.Client, address: str, style: str = "palette-04", **fields: str) -> dict:
    data = {"style": style, "email": address, "consent": "true", **fields}
    r = client.post("/v1/jobs", files={"portrait": ("me.jpg", DEMO_PHOTO, "image/jpeg")}, data=data)
    assert r.status_code == 201, r.text
    return r.json()


def assert_one_apology(inbox: Inbox, address: str, language: str, settled: Callable[[], None]) -> None:
    """Exactly one mail arrives for ``address`` (checked again once ``settled`` says nothing is left that could
    send a second copy): the short apology, in the visitor's language, with no picture."""
    wait_until(lambda: [m for m in inbox.messages() if m["To"] == address], lambda: f"no mail: {inbox.messages()}")
    settled()
    mails = [m for m in inbox.messages() if m["To"] == address]
    assert len(mails) == 1, [m["Subject"] for m in mails]
    [mail] = mails
    assert mail["Subject"] == TEXTS[language]["sorry_subject"]
    assert mail["Content-Language"] == language
    assert not mail.is_multipart() and not list(mail.iter_attachments())
    assert TEXTS[language]["sorry"] in mail.get_content()


# -- a failed job: one apology on both backends ------------------------------------------------------------


def test_a_failed_job_gets_one_apology_and_a_cancelled_one_none_on_sqlite(tmp_path, cache_dir, box):
    """The forward pass of palette-05 always fails (fault injection): its visitor is told once, in German. A job
    cancelled while its failing pass is held gets no mail."""
    hold = tmp_path / "hold"
    server = ServerProcess(
        tmp_path / "data", cache_dir, box.port, fault_point="paint:palette-05", test_hold_batch_file=hold
    ).start()
    try:
        with server.client() as client:
            hold.touch()
            cancelled = post(client, "cancelled@example.org", "palette-05", language="de")
            wait_until(
                lambda: f"fast batch {cancelled['id']} waits" in server.log.read_text(errors="replace"),
                lambda: server.log.read_text()[-2000:],
            )
            client.delete(f"/v1/jobs/{cancelled['id']}", headers={"X-Job-Token": cancelled["token"]})
            hold.unlink()
            job = post(client, "failed@example.org", "palette-05", language="de")
            assert wait_for_state(client, job, {"done", "failed"})["state"] == "failed"
            assert_one_apology(box, "failed@example.org", "de", lambda: wait_until_nothing_left_to_send(server))
            assert job_status(client, job)["email_status"] == "sent"
        assert all(m["To"] != "cancelled@example.org" for m in box.messages())
    finally:
        server.stop()


def test_a_failed_job_gets_one_apology_on_nats(tmp_path, cache_dir, box):
    booth = nats_booth(tmp_path, cache_dir, box.port, fault_point="paint:palette-05")
    try:
        with booth.api_nodes[0].client() as client:
            job = post(client, "failed@example.org", "palette-05", language="de")
            assert wait_for_state(client, job, {"done", "failed"})["state"] == "failed"
            assert_one_apology(box, "failed@example.org", "de", lambda: wait_until_nats_holds_no_work(booth.nats.url))
    finally:
        booth.stop()


# -- a slow SMTP server: a bounded number of copies, then "uncertain" --------------------------------------

SLOW_SMTP = {
    "smtp_timeout": SMTP_TIMEOUT,
    "mail_uncertain_retries": UNCERTAIN_RETRIES,
    "mail_retry_base_seconds": 4,  # room to stop the sender between two attempts
    "mail_retry_max_seconds": 4,
}
MAYBE = "maybe delivered"  # what the sender logs after a timeout that may have delivered the mail


def assert_uncertain_after_bounded_copies(
    client: httpx.Client, inbox: SlowInbox, job: dict, settled: Callable[[], None]
) -> None:
    """The mail ends ``uncertain`` after 1 + retries copies, all with one Message-ID, and no more come."""
    wait_until(
        lambda: job_status(client, job)["email_status"] == "uncertain",
        lambda: f"{len(inbox.messages())} copies and counting; status {job_status(client, job)['email_status']}",
        timeout=180,
    )
    settled()  # nothing is left that could make a further attempt
    copies = inbox.messages()
    assert len(copies) == 1 + UNCERTAIN_RETRIES, len(copies)
    assert {m["Message-ID"] for m in copies} == {f"<portrait-{job['id']}@localhost>"}


def test_a_slow_smtp_server_gets_a_bounded_number_of_copies_on_sqlite(tmp_path, cache_dir, slow_box):
    """The count of uncertain attempts survives a restart: the server is killed after the first one."""
    server = ServerProcess(tmp_path / "data", cache_dir, slow_box.port, **SLOW_SMTP).start()
    try:
        with server.client() as client:
            job = post(client, "slow@example.org")
            wait_until(lambda: MAYBE in server.log.read_text(errors="replace"), lambda: server.log.read_text()[-3000:])
            server.kill9()
            server.start()
            assert_uncertain_after_bounded_copies(
                client, slow_box, job, lambda: wait_until_nothing_left_to_send(server)
            )
    finally:
        server.stop()


def test_a_slow_smtp_server_gets_a_bounded_number_of_copies_on_nats(tmp_path, cache_dir, slow_box):
    """The count survives the mailer: the first mailer is killed after the first uncertain attempt."""
    booth = nats_booth(tmp_path, cache_dir, slow_box.port, mailers=0, **SLOW_SMTP)
    try:
        with booth.api_nodes[0].client() as client:
            job = post(client, "slow@example.org")
            mailer = booth.add_mailer()
            wait_until(lambda: MAYBE in mailer.log.read_text(errors="replace"), lambda: mailer.log.read_text()[-3000:])
            mailer.kill9()
            booth.add_mailer()
            settled = lambda: wait_until_nats_holds_no_work(booth.nats.url)  # noqa: E731
            assert_uncertain_after_bounded_copies(client, slow_box, job, settled)
    finally:
        booth.stop()


# -- a dead-lettered job: its kiosk hears it failed, its photo and preview go -------------------------------


class EventStream:
    """A kiosk's SSE stream (``GET /v1/jobs/{id}/events``) read in a thread: the events as they come."""

    def __init__(self, server: ServerProcess, job: dict, timeout: float = 180) -> None:
        self.events: list[tuple[str, dict]] = []
        self._thread = threading.Thread(target=self._read, args=(server, job, timeout), daemon=True)
        self._thread.start()

    def _read(self, server: ServerProcess, job: dict, timeout: float) -> None:
        deadline, kind = time.monotonic() + timeout, ""
        with server.client() as client:
            url = f"/v1/jobs/{job['id']}/events"
            with client.stream("GET", url, params={"token": job["token"]}) as response:
                for line in response.iter_lines():  # a keep-alive comment every second: the deadline is seen
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        self.events.append((kind, json.loads(line[6:])))
                    if time.monotonic() > deadline:
                        return

    def types(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def join(self, timeout: float = 30) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the stream did not end: {self.types()}"


def test_a_dead_lettered_job_tells_its_kiosk_erases_its_photo_and_preview_and_mails_once(tmp_path, cache_dir, box):
    """A masterpiece whose painter dies (SIGKILL) after each first preview, until the job is given up. The kiosk's
    open stream hears ``failed`` with the reason, a stream opened later gets no preview (a face) but ``failed``
    alone, the Object Store holds nothing of it, and the visitor gets one apology. Paintings begun are what
    counts, not deliveries (a pull that timed out on a busy machine does not count): two painters die, no more."""
    booth = nats_booth(
        tmp_path,
        cache_dir,
        box.port,
        max_deliveries=2,
        sse_keepalive_seconds=1,
        gatys_iterations=400,
        gatys_size=128,
    )
    api = booth.api_nodes[0]
    try:
        with api.client() as client:
            job = post(client, "dead@example.org", "starry-night", method="gatys", language="de")
            stream = EventStream(api, job)
            previews = kills = 0
            while "failed" not in stream.types():
                wait_until(
                    lambda: "failed" in stream.types() or stream.types().count("preview") > previews,  # noqa: B023
                    lambda: f"neither a new preview nor failed: {stream.types()}",
                )
                if "failed" not in stream.types():  # painting, and its preview held: the painter dies
                    previews = stream.types().count("preview")
                    booth.workers[-1].kill9()
                    kills += 1
                    booth.add_worker()
            assert kills == 2, f"given up after {kills} paintings, not max_deliveries"
            failed = next(status for kind, status in stream.events if kind == "failed")
            assert "given up" in failed["status"]["error"], failed
            stream.join()
            late = EventStream(api, job, timeout=30)
            late.join()
            assert late.types() == ["failed"], late.types()
            objects, _ = nats_contents(api.env["PORTRAIT_NATS_URL"])
            assert not [name for name in objects if name.startswith(job["id"])], objects
            assert_one_apology(box, "dead@example.org", "de", lambda: wait_until_nats_holds_no_work(booth.nats.url))
    finally:
        booth.stop()
