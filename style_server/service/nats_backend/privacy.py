"""Erasing a job's personal data on NATS: its key first (crypto-shredding: no sealed copy can be opened again,
whatever JetStream's files still hold), then the record's personal fields, its indexes, its unsent mail and its
images; retention erases every job created before a time, and keys whose job was never written."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from nats.js.errors import NotFoundError

from ..jobtypes import CANCEL, EXPIRE
from .link import NatsLink
from .mail import MailQueue
from .names import JOBS_KV, KEYS_STREAM, KEYS_SUBJECT, download_index
from .records import JobRecords, moving

log = logging.getLogger("style_server.nats")


class PersonalData:
    def __init__(self, link: NatsLink, records: JobRecords, mail: MailQueue) -> None:
        self.link, self.records, self.mail = link, records, mail

    async def cancel_and_erase(self, job_id: str) -> None:
        await self.records.change(job_id, moving(CANCEL.sources, CANCEL.target, finished=time.time()))
        await self.erase(job_id, expire=False)

    async def expire(self, before: float) -> list[str]:
        erased, jobs = [], {key.removeprefix("job.") for key in await self.records.bucket_keys(JOBS_KV, "job.")}
        for job_id in jobs:
            found = await self.records.record(job_id)
            if found and found[0]["created"] < before and found[0]["state"] in EXPIRE.sources:
                await self.erase(job_id, expire=True)
                erased.append(job_id)
        await self._drop_orphan_keys(jobs, before)
        return erased

    async def erase(self, job_id: str, expire: bool) -> None:
        """Every piece of personal data goes: the record keeps what statistics need; with history 1 the old
        revision (with the address) is removed from the bucket's stream by the rewrite."""
        found = await self.records.record(job_id)
        code = found[0].get("download_code") if found else None

        def scrub(record: dict[str, Any]) -> bool:
            if expire and record["state"] in EXPIRE.sources:
                record["state"] = EXPIRE.target
            record.update(email=None, request_hash=None, download_code=None, wall=False)
            return True

        # The key first: from then on no copy of the job's personal data can be read. A pass cut short after it
        # leaves the job in its old state, so the next pass erases it again (the other way round, an expired job
        # whose key survived was never looked at again).
        await self.records.drop_key(job_id)
        await self.records.change(job_id, scrub)
        if code:
            await self.records.jobs.purge(download_index(code))
        await self.mail.forget_unsent(job_id)
        await self.records.delete_images(job_id, "portrait.png", "style.png", "result.jpg")

    async def _drop_orphan_keys(self, jobs: set[str], before: float) -> None:
        """Keys older than ``before`` whose job was never written (its API node died mid-create): their photos
        (sealed, gone at the images' age limit) can never be read again."""
        prefix, js = f"{KEYS_SUBJECT}.", self.link.js
        info = await js.stream_info(KEYS_STREAM, subjects_filter=f"{prefix}*")
        for subject in info.state.subjects or {}:
            if (job_id := subject.removeprefix(prefix)) in jobs:
                continue
            with contextlib.suppress(NotFoundError):
                msg = await js.get_msg(KEYS_STREAM, subject=subject)
                if msg.time is not None and msg.time.timestamp() < before:
                    await js.delete_msg(KEYS_STREAM, msg.seq)
                    log.info("the key of job %s, never written, erased", job_id)
