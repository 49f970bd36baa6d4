"""The mail queue on NATS: the work-queue stream ``PORTRAIT_MAIL`` (one message per job, de-duplicated by id) and
a record per mail in the jobs bucket. The send is recorded before the ack, so a mail goes out at most once per
Message-ID."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from ..jobtypes import MailTask
from .consumers import Consumers
from .link import NatsLink
from .names import MAIL_STREAM, MAIL_SUBJECT
from .records import JobRecords


class MailQueue:
    def __init__(self, link: NatsLink, records: JobRecords, consumers: Consumers) -> None:
        self.link, self.records, self.consumers = link, records, consumers
        self.held: dict[str, Any] = {}  # job id -> its mail message, while this process sends it (leases renewed)

    async def queue(self, job_id: str, kind: str) -> None:
        """Queue a job's mail once (de-duplicated by id); its status reads pending until it is sent."""
        with contextlib.suppress(KeyWrongLastSequenceError):  # queued before (a second delivery of the job)
            await self.records.jobs.create(f"mail.{job_id}", json.dumps({"status": "pending", "attempts": 0}).encode())
        payload = json.dumps({"job_id": job_id, "kind": kind}).encode()
        await self.link.js.publish(MAIL_SUBJECT, payload, headers={"Nats-Msg-Id": f"mail-{job_id}"})

    async def record(self, job_id: str) -> dict[str, Any]:
        try:
            entry = await self.records.jobs.get(f"mail.{job_id}")
        except KeyNotFoundError:
            return {}
        return json.loads(entry.value) if entry.value else {}

    async def forget_unsent(self, job_id: str) -> None:
        """Erasure: the record of a mail not sent goes (a sent one stays, as a statistic without an address)."""
        if (await self.record(job_id)).get("status") != "sent":
            with contextlib.suppress(KeyNotFoundError):
                await self.records.jobs.purge(f"mail.{job_id}")

    async def status(self, job_id: str) -> str:
        return (await self.record(job_id)).get("status", "none")

    async def due(self) -> list[MailTask]:
        sub = await self.consumers.get("mail", MAIL_STREAM, MAIL_SUBJECT)
        tasks: list[MailTask] = []
        try:
            for msg in await self.consumers.fetch(sub, 10, 1.0):
                body = json.loads(msg.data)
                job_id = body["job_id"]
                if job_id in self.held:  # delivered again while held (its lease lapsed in a stall): sent once,
                    self.held[job_id] = msg  # answered on the newest delivery
                    continue
                record = await self.record(job_id)
                if record.get("status") in ("sent", "uncertain", None):  # done with, or erased since
                    await msg.ack()
                    continue
                self.held[job_id] = msg
                kind, uncertain = body.get("kind", "portrait"), record.get("uncertain", 0)
                # attempts made, as recorded by failed(): a mail handed back unsent was not attempted
                tasks.append(MailTask(job_id, record.get("attempts", 0), kind, uncertain))
        except BaseException:  # fetched but never handed over
            self._let_go([task.job_id for task in tasks])
            raise
        return tasks

    async def sent(self, job_id: str) -> None:
        await self.records.jobs.put(f"mail.{job_id}", json.dumps({"status": "sent", "sent_at": time.time()}).encode())
        if msg := self.held.pop(job_id, None):
            await msg.ack()

    async def failed(
        self, job_id: str, error: str, next_attempt: float, give_up: bool, uncertain: bool = False
    ) -> None:
        record = await self.record(job_id)
        if record:  # never brings back a record erased meanwhile
            record = {
                "status": ("uncertain" if uncertain else "failed") if give_up else "pending",
                "attempts": record.get("attempts", 0) + 1,
                "uncertain": record.get("uncertain", 0) + int(uncertain),  # kept across retries and mailers
            }
            await self.records.jobs.put(f"mail.{job_id}", json.dumps({**record, "last_error": error}).encode())
        msg = self.held.pop(job_id, None)
        if msg is not None:
            await (msg.term() if give_up else msg.nak(delay=max(next_attempt - time.time(), 0.0)))

    def released(self, job_ids: list[str]) -> None:
        self.link.loop.call_soon_threadsafe(self._let_go, job_ids)

    def _let_go(self, job_ids: list[str]) -> None:
        """On the connection's loop: these mails are no longer held or renewed, so their leases run out and they
        are delivered again."""
        for job_id in job_ids:
            self.held.pop(job_id, None)
