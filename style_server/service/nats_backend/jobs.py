"""Jobs on NATS, from create to their end: a work-queue stream per lane (``PORTRAIT_FAST``, ``PORTRAIT_GATYS``)
that workers pull with explicit ack, and the job records (``records``). A job whose painting began
``max_deliveries`` times without finishing (its painter died each time) goes to the dead-letter subject at its next
delivery, is marked failed, and its visitor is mailed that it could not be painted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError

from shared.protocol import JobOptions, JobState

from ...config import Settings
from ..jobtypes import (
    CLAIM,
    FAIL,
    FINISH,
    GIVE_UP,
    LANES,
    REQUEUE,
    TERMINAL,
    BackendUnavailable,
    Job,
    check,
    place_in_lane,
)
from ..sealing import new_key, sealed_record, stored_record
from .consumers import Consumers
from .link import NatsLink, all_at_once
from .mail import MailQueue
from .names import EVENTS, JOBS_KV, KEYS_SUBJECT, download_index, idempotency_index, lane_stream, lane_subject
from .records import JobRecords, moving

log = logging.getLogger("style_server.nats")


def _given_back(record: dict[str, Any]) -> bool:
    """A running job handed back by its painter (``requeue``): its painting no longer counts towards the dead
    letter, which is for a job whose painting stops its painter again and again (a cluster's election once
    bounced a job three times in four seconds, and it was given up)."""
    if not moving(REQUEUE.sources, REQUEUE.target, progress=0.0)(record):
        return False
    record["deliveries"] = max(record.get("deliveries", 0) - 1, 0)
    record["given_back"] = record.get("given_back", 0) + 1  # what a worker of an older version counts, mid-upgrade
    return True


class JobQueue:
    def __init__(
        self, settings: Settings, link: NatsLink, records: JobRecords, mail: MailQueue, consumers: Consumers
    ) -> None:
        self.settings, self.link, self.records, self.mail, self.consumers = settings, link, records, mail, consumers
        self.tmp_dir = settings.storage.data_dir / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.held: dict[str, Any] = {}  # job id -> its stream message, while this process paints it

    # -- the API side ---------------------------------------------------------------------------------

    async def create(
        self,
        *,
        kiosk,
        idem_key,
        method,
        style,
        options: JobOptions,
        email,
        language,
        portrait_png: bytes,
        style_png: bytes | None,
        request_hash: str | None = None,
        wall: bool = False,
    ) -> tuple[Job, bool]:
        job = Job(
            id=secrets.token_hex(12),
            token=secrets.token_urlsafe(24),
            kiosk=kiosk,
            idem_key=idem_key,
            state=JobState.queued,
            method=method,
            style=style,
            has_style_image=style_png is not None,
            options=options,
            email=email,
            language=language,
            progress=0.0,
            error=None,
            created=time.time(),
            started=None,
            finished=None,
            engine_seconds=None,
            request_hash=request_hash,
            download_code=secrets.token_urlsafe(24),
            wall=wall,
        )
        return await self._create(job, portrait_png, style_png)

    async def _create(self, job: Job, portrait_png: bytes, style_png: bytes | None) -> tuple[Job, bool]:
        jobs = self.records.jobs
        if job.idem_key is not None:
            try:  # the index entry first: of two parallel retries, exactly one creates the job
                await jobs.create(idempotency_index(job.kiosk, job.idem_key), job.id.encode())
            except KeyWrongLastSequenceError:
                if existing := await self._winner(job):
                    await self._enqueue_again(existing.id)
                    return existing, False
        key = new_key()
        # what the record points to, written at once, and the record after all of it
        await all_at_once(
            self.link.js.publish(f"{KEYS_SUBJECT}.{job.id}", key),
            self.records.put_image(f"{job.id}/portrait.png", portrait_png, key),
            *([self.records.put_image(f"{job.id}/style.png", style_png, key)] if style_png is not None else []),
            jobs.put(download_index(job.download_code or ""), job.id.encode()),
        )
        record = sealed_record(json.loads(job.to_json()), key)
        revision = await jobs.create(f"job.{job.id}", stored_record(record))
        await self._publish_work(record, revision)
        return job, True

    async def _enqueue_again(self, job_id: str) -> None:
        """A retried create of a queued job whose work message never got its place recorded (the first create
        stopped after writing the job, e.g. in a cluster's leader election): send it (again), or the job would
        stay queued forever."""
        found = await self.records.record(job_id)
        if found is not None and found[0]["state"] == JobState.queued and found[0].get("seq") is None:
            await self._publish_work(*found)

    async def _publish_work(self, record: dict[str, Any], revision: int) -> None:
        """The job's work message, its place in the lane recorded in the job. The stream drops a second message
        with the same Nats-Msg-Id within its duplicate window, so a retry may send it again."""
        job_id = record["id"]
        ack = await self.link.js.publish(
            lane_subject(record["method"]), job_id.encode(), headers={"Nats-Msg-Id": job_id}
        )
        with contextlib.suppress(KeyWrongLastSequenceError):  # a worker already took it: its place is moot
            await self.records.put({**record, "seq": ack.seq}, revision)

    async def _winner(self, job: Job) -> Job | None:
        """The job that holds ``job``'s idempotency key, waiting a few seconds for a parallel create to write it;
        None once the key is ``job``'s: its holder never came (an API node died mid-create), so it is taken over."""
        key = idempotency_index(job.kiosk, job.idem_key or "")
        for _ in range(50):
            entry = await self.records.jobs.get(key)
            if existing := await self.records.job(entry.value.decode()):
                return existing
            await asyncio.sleep(0.1)
        await self.records.jobs.update(key, job.id.encode(), last=entry.revision)  # raises if a retry took it over
        return None

    async def get(self, job_id: str) -> Job | None:
        return await self.records.job(job_id)

    async def by_idempotency_key(self, kiosk: str, key: str) -> Job | None:
        """The job a kiosk sent with this key: the kiosk retries its create, so whatever the first create left
        undone (its work message, when it was cut off) is done now."""
        job = await self.records.indexed(idempotency_index(kiosk, key))
        if job is not None:
            await self._enqueue_again(job.id)
        return job

    async def by_download_code(self, code: str) -> Job | None:
        return await self.records.indexed(download_index(code))

    async def position(self, job: Job) -> int:
        seq = job.seq
        if seq is None:  # read before its message was queued: read it again
            found = await self.records.record(job.id)
            seq = found[0].get("seq") if found else None
        if seq is None:
            return 0
        stream, js = lane_stream(job.method), self.link.js
        try:
            delivered = (await js.consumer_info(stream, f"{job.method}-workers")).delivered.stream_seq
        except NotFoundError:  # no worker has pulled yet
            delivered = (await js.stream_info(stream)).state.first_seq - 1
        return place_in_lane(seq, delivered)  # messages not yet handed to any worker

    async def depth(self) -> dict[str, int]:
        return {m: (await self.link.js.stream_info(lane_stream(m))).state.messages for m in LANES}

    async def result(self, job_id: str) -> bytes | None:
        return await self.records.image(f"{job_id}/result.jpg")

    async def wall_jobs(self, limit: int, since: float) -> list[Job]:
        shown = []
        for key in await self.records.bucket_keys(JOBS_KV, "job."):
            with contextlib.suppress(KeyNotFoundError):
                entry = await self.records.jobs.get(key)
                record = json.loads(entry.value) if entry.value else {}
                # the flag and the state are in the clear: only the jobs shown are opened
                if record.get("wall") and record["state"] == JobState.done and record["created"] >= since:
                    shown.append(record)
        shown.sort(key=lambda record: record["finished"] or 0, reverse=True)
        jobs = [await self.records.job(record["id"]) for record in shown[:limit]]
        return [job for job in jobs if job is not None]

    # -- the workers ----------------------------------------------------------------------------------

    def take(self, method: str, limit: int, window: float) -> list[Job]:
        return self.link.run(self._take(method, limit, window))

    async def _take(self, method: str, limit: int, window: float) -> list[Job]:
        sub = await self.consumers.get(method, lane_stream(method), lane_subject(method))
        msgs = await self.consumers.fetch(sub, limit, 1.0)
        if msgs and len(msgs) < limit and window:
            await asyncio.sleep(window)  # let other kiosks join the batch
            msgs += await self.consumers.fetch(sub, limit - len(msgs), 0.05)
        jobs: list[Job] = []
        try:
            for msg in msgs:
                if job := await self._claim(method, msg):
                    jobs.append(job)
        except BaseException:  # claimed but never handed over: not held, so their leases run out
            for job in jobs:
                self.held.pop(job.id, None)
            raise
        return jobs

    async def _claim(self, method: str, msg: Any) -> Job | None:
        """The job of a delivered message, now running here; None (and the message settled) if there is nothing
        to paint: gone, ended, delivered too often (dead letter), or already being painted here."""
        job_id = msg.data.decode()
        found = await self.records.record(job_id)
        if found is None or found[0]["state"] in TERMINAL:
            if found is not None and found[0]["state"] == JobState.done and found[0].get("email"):
                await self.mail.queue(job_id, "portrait")  # finished by a worker that died before its ack
            self.held.pop(job_id, None)  # ended, so nothing here still needs its lease
            await msg.ack()
            return None
        if job_id in self.held:  # delivered again while this process paints it (its lease lapsed in an outage):
            self.held[job_id] = msg  # painted once, answered on the newest delivery
            return None
        record, revision = found
        # paintings begun (claims, counted with the claim itself) that neither finished nor were given back, as
        # SQLite counts them. Not the stream's deliveries: a delivery to a fetch that an outage cut off never
        # reached a painter, and an outage's fetches ran a job into the dead letter before its second painting
        unfinished = record.get("deliveries", 0)
        if unfinished >= self.settings.storage.max_deliveries:
            await self._dead_letter(method, job_id, msg, unfinished)
            return None
        check(record["state"], CLAIM.target)  # queued (a claim), or running (a reclaim: a lease ran out)
        # its place as delivered (also where the job was taken before its place was recorded): the lane's head
        record.update(
            state=CLAIM.target,
            started=time.time(),
            progress=0.0,
            seq=msg.metadata.sequence.stream,
            deliveries=unfinished + 1,
        )
        try:
            await self.records.put(record, revision)
        except KeyWrongLastSequenceError:  # changed meanwhile (a cancel): look again soon
            await msg.nak(delay=0.2)
            return None
        self.held[job_id] = msg
        return Job.from_dict(record)

    async def _dead_letter(self, method: str, job_id: str, msg: Any, tries: int) -> None:
        error = f"the painting failed {tries} times (the painter stopped each time); the job was given up"
        give_up = moving(GIVE_UP.sources, GIVE_UP.target, error=error, finished=time.time(), progress=0.0)
        record = await self.records.change(job_id, give_up)
        await self.link.js.publish(f"portrait.dead.{method}", job_id.encode())
        if record is not None and record.get("email"):
            await self.mail.queue(job_id, "failed")
        # nobody will paint it: the photos go now, not at retention
        await self.records.delete_images(job_id, "portrait.png", "style.png")
        # as the runner's events.ended: the kiosk's stream hears "failed", every process drops the preview (a
        # face). No origin: the streams of this process hear it too
        await self.link.nc.publish(EVENTS, json.dumps({"kind": "ended", "id": job_id}).encode())
        await msg.ack()
        log.error("job %s given up after %d paintings that never finished (dead letter)", job_id, tries)

    def inputs(self, job: Job) -> tuple[bytes, bytes | None]:
        portrait = self.link.run(self.records.image(f"{job.id}/portrait.png"))
        if portrait is None:
            raise FileNotFoundError(f"the portrait of job {job.id} is gone")
        style = self.link.run(self.records.image(f"{job.id}/style.png")) if job.has_style_image else None
        return portrait, style

    def set_progress(self, job_id: str, progress: float) -> None:
        def advance(record: dict[str, Any]) -> bool:
            if record["state"] != JobState.running:
                return False
            record["progress"] = progress
            return True

        self.link.run(self.records.change(job_id, advance))

    def move(self, job_id: str, sources, target: JobState, **fields: Any) -> bool:
        return self.link.run(self.records.change(job_id, moving(sources, target, **fields))) is not None

    def result_tmp(self, job_id: str) -> Path:
        return self.tmp_dir / f"{job_id}-{secrets.token_hex(6)}.jpg"

    def publish_result(self, job_id: str, tmp: Path, engine_seconds: float, mail: bool) -> bool:
        try:
            return self.link.run(self._publish(job_id, tmp.read_bytes(), engine_seconds, mail))
        finally:
            tmp.unlink(missing_ok=True)

    async def _publish(self, job_id: str, jpeg: bytes, engine_seconds: float, mail: bool) -> bool:
        found, key = await self.records.record_and_key(job_id)
        if found is None or found[0]["state"] not in FINISH.sources:
            await self._settle(job_id)
            return False
        if key is None:  # lost with the whole cluster: nothing can be kept
            raise FileNotFoundError(f"the key of job {job_id} is gone")
        await self.records.put_image(f"{job_id}/result.jpg", jpeg, key)

        finish = moving(
            FINISH.sources, FINISH.target, error=None, finished=time.time(), progress=1.0, engine_seconds=engine_seconds
        )
        if await self.records.change(job_id, finish, found) is None:
            found = await self.records.record(job_id)
            if found is None or found[0]["state"] != JobState.done:  # cancelled or erased while it was painted
                await self.records.delete_images(job_id, "result.jpg")
            # else a second delivery of the job (a lease that ran out, a re-sent create) finished first: its
            # painting, just overwritten with this one, stays
            await self._settle(job_id)
            return False
        if mail:
            await self.mail.queue(job_id, "portrait")
        await self._settle(job_id)
        return True

    async def _settle(self, job_id: str) -> None:
        """The job's message is done with: acknowledged, so no worker gets it again."""
        if msg := self.held.pop(job_id, None):
            await msg.ack()

    def fail(self, job_id: str, error: str, mail: bool = True) -> None:
        async def run() -> None:
            record = await self.records.change(
                job_id, moving(FAIL.sources, FAIL.target, error=error, finished=time.time(), progress=0.0)
            )
            if mail and record is not None and record.get("email"):  # the apology, as after a dead letter
                await self.mail.queue(job_id, "failed")
            await self._settle(job_id)

        self.link.run(run())

    def requeue(self, job_id: str) -> None:
        async def run() -> None:
            msg = self.held.pop(job_id, None)  # first: whatever happens next, this process stops renewing it
            await self.records.change(job_id, _given_back)
            if msg is not None:
                await msg.nak()  # to another worker at once

        try:
            self.link.run(run())
        except BackendUnavailable:  # no longer held, so its lease runs out and it is delivered again
            self.link.loop.call_soon_threadsafe(self.held.pop, job_id, None)
            raise

    def requeue_running(self) -> int:
        held = list(self.held)
        for job_id in held:
            self.requeue(job_id)
        return len(held)
