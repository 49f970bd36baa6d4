"""``JobBackend`` on NATS: the parts (one per concern) over one connection, and the streams and buckets they use."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Collection, Coroutine
from pathlib import Path
from typing import Any, TypeVar, Unpack

from nats.js import api
from nats.js.errors import BucketNotFoundError, NotFoundError

from shared.protocol import JobState

from ...config import Settings
from ..jobtypes import LANES, BackendUnavailable, Job, LaneCapacity, MailTask, NewJob
from ..rates import RATE_WINDOW
from .consumers import Consumers
from .coordination import Coordination
from .jobs import JobQueue
from .link import NatsLink
from .mail import MailQueue
from .names import (
    DEAD_STREAM,
    IMAGES,
    JOBS_KV,
    KEYS_STREAM,
    KEYS_SUBJECT,
    MAIL_STREAM,
    MAIL_SUBJECT,
    PICTURES_STREAM,
    PICTURES_SUBJECT,
    RATES_KV,
    READY_TIMEOUT,
    WORKER_TTL,
    WORKERS_KV,
    lane_stream,
    lane_subject,
)
from .privacy import PersonalData
from .records import JobRecords

T = TypeVar("T")
EXPIRE_TIMEOUT = 300.0  # a retention pass reads every job: minutes on a large bucket
__all__ = ["NatsLink", "NatsStore"]


class NatsStore:
    """``JobBackend`` on NATS JetStream (see the package's description): each method is its part's."""

    waits_for_work = True  # take() is a pull that waits for the next job

    def __init__(self, settings: Settings, name: str) -> None:
        self.settings = settings
        self.origin = f"{name}-{uuid.uuid4().hex[:8]}"  # who relays an event (never heard back by itself)
        self.link = NatsLink(settings.storage.nats_servers, self.origin, settings.storage.nats_ca_file)
        jobs, workers, rates, images = self.link.run(self._setup())
        self.records = JobRecords(self.link, jobs, images)
        self.consumers = consumers = Consumers(self.link, settings.storage.nats_ack_wait_seconds)
        self.mail = MailQueue(self.link, self.records, consumers)
        self.queue = JobQueue(settings, self.link, self.records, self.mail, consumers)
        self.personal = PersonalData(self.link, self.records, self.mail)
        self.shared = Coordination(self.link, self.origin, self.records, workers, rates)
        self._lease = asyncio.run_coroutine_threadsafe(
            consumers.keep_leases(self.queue.held, self.mail.held), self.link.loop
        )
        self.aio = AsyncNatsStore(self)

    # -- the API side (blocking: the same calls as ``aio``'s, waited for) -----------------------------------

    def create(self, **job: Unpack[NewJob]) -> tuple[Job, bool]:
        return self.link.run(self.queue.create(**job))

    def get(self, job_id: str) -> Job | None:
        return self.link.run(self.queue.get(job_id))

    def by_idempotency_key(self, kiosk: str, key: str) -> Job | None:
        return self.link.run(self.queue.by_idempotency_key(kiosk, key))

    def by_download_code(self, code: str) -> Job | None:
        return self.link.run(self.queue.by_download_code(code))

    def reserve_place(self, kiosk: str, limit: int, now: float) -> float:
        return self.link.run(self.shared.reserve_place(kiosk, limit, now))

    def release_place(self, kiosk: str, place: float) -> None:
        self.link.run(self.shared.release_place(kiosk, place))

    def readiness(self) -> str | None:
        try:
            return self.link.run(self.shared.readiness(), timeout=READY_TIMEOUT + 1)
        except BackendUnavailable as exc:
            return str(exc)

    def position(self, job: Job) -> int:
        return self.link.run(self.queue.position(job))

    def depth(self) -> dict[str, int]:
        return self.link.run(self.queue.depth())

    def mail_status(self, job_id: str) -> str:
        return self.link.run(self.mail.status(job_id))

    def result(self, job_id: str) -> bytes | None:
        return self.link.run(self.queue.result(job_id))

    def cancel_and_erase(self, job_id: str) -> None:
        self.link.run(self.personal.cancel_and_erase(job_id))

    def expire(self, before: float) -> list[str]:
        return self.link.run(self.personal.expire(before), timeout=EXPIRE_TIMEOUT)

    def wall_jobs(self, limit: int, since: float) -> list[Job]:
        return self.link.run(self.queue.wall_jobs(limit, since))

    def capacity(self) -> dict[str, LaneCapacity] | None:
        return self.link.run(self.shared.capacity())

    # -- the workers ----------------------------------------------------------------------------------

    def take(self, method: str, limit: int, window: float) -> list[Job]:
        return self.queue.take(method, limit, window)

    def inputs(self, job: Job) -> tuple[bytes, bytes | None]:
        return self.queue.inputs(job)

    def set_progress(self, job_id: str, progress: float) -> None:
        self.queue.set_progress(job_id, progress)

    def move(self, job_id: str, sources: JobState | Collection[JobState], target: JobState, **fields: Any) -> bool:
        return self.queue.move(job_id, sources, target, **fields)

    def result_tmp(self, job_id: str) -> Path:
        return self.queue.result_tmp(job_id)

    def publish_result(self, job_id: str, tmp: Path, engine_seconds: float, mail: bool) -> bool:
        return self.queue.publish_result(job_id, tmp, engine_seconds, mail)

    def fail(self, job_id: str, error: str, mail: bool = True) -> None:
        self.queue.fail(job_id, error, mail)

    def requeue(self, job_id: str) -> None:
        self.queue.requeue(job_id)

    def requeue_running(self) -> int:
        return self.queue.requeue_running()

    def report_capacity(self, seconds_per_job: dict[str, float], lanes: dict[str, int]) -> None:
        self.shared.report_capacity(seconds_per_job, lanes)

    # -- mail -----------------------------------------------------------------------------------------

    def requeue_lost_mail(self) -> int:
        return 0  # a worker that died before queueing a mail has not acked its job: the job comes back

    def due_mail(self, now: float) -> list[MailTask]:
        return self.link.run(self.mail.due())

    def mail_sent(self, job_id: str) -> None:
        self.link.run(self.mail.sent(job_id))

    def mail_failed(self, job_id: str, error: str, next_attempt: float, give_up: bool, uncertain: bool = False) -> None:
        self.link.run(self.mail.failed(job_id, error, next_attempt, give_up, uncertain))

    def mail_released(self, job_ids: list[str]) -> None:
        self.mail.released(job_ids)

    # -- between processes ----------------------------------------------------------------------------

    def broadcast(self, event: dict[str, Any]) -> None:
        self.shared.broadcast(event)

    def listen(self, handler: Callable[[dict[str, Any]], None]) -> None:
        self.shared.listen(handler)

    def close(self) -> None:
        self._lease.cancel()
        self.shared.close()
        with contextlib.suppress(BackendUnavailable):  # a server already gone: the link's close ends it all
            self.link.run(self.consumers.close(), timeout=5)
        self.link.close()

    # -- setup ----------------------------------------------------------------------------------------

    async def _setup(self) -> tuple[Any, Any, Any, Any]:
        """The streams and buckets, made by the first process that needs them; (jobs, workers, rates, images)."""
        s, js = self.settings, self.link.js
        retention = s.retention.retention_hours * 3600
        replicas = s.storage.nats_replicas
        for method in LANES:
            await self._stream(name=lane_stream(method), subjects=[lane_subject(method)])
        await self._stream(name=MAIL_STREAM, subjects=[MAIL_SUBJECT], duplicate_window=min(retention, 3600))
        # dead letters carry a job id only; kept for operators as long as the job's data
        await self._stream(
            name=DEAD_STREAM, subjects=["portrait.dead.>"], retention=api.RetentionPolicy.LIMITS, max_age=retention
        )
        jobs = await self._bucket(js.key_value, js.create_key_value, JOBS_KV, history=1, replicas=replicas)
        workers = await self._bucket(
            js.key_value, js.create_key_value, WORKERS_KV, history=1, ttl=WORKER_TTL, replicas=replicas
        )
        rates = await self._bucket(
            js.key_value, js.create_key_value, RATES_KV, history=1, ttl=2 * RATE_WINDOW, replicas=replicas
        )
        images = await self._bucket(js.object_store, js.create_object_store, IMAGES, ttl=retention, replicas=replicas)
        # an image that fits one message (all but the largest uploads): one write, one direct read; the newest of
        # a name is the one kept, and the retention's age bounds it as the Object Store's TTL does
        await self._stream(
            name=PICTURES_STREAM,
            subjects=[f"{PICTURES_SUBJECT}.>"],
            retention=api.RetentionPolicy.LIMITS,
            max_age=retention,
            max_msgs_per_subject=1,
            allow_direct=True,
        )
        # Keys apart from the data they open. A deleted message is overwritten where it lay in a file stream's
        # blocks, but a replicated stream's raft log (a file) keeps it until a compaction: so one replica on
        # file, more in memory, never on disk (a restart of the whole cluster at once loses the keys: see README)
        storage = api.StorageType.FILE if replicas == 1 else api.StorageType.MEMORY
        await self._stream(
            name=KEYS_STREAM,
            subjects=[f"{KEYS_SUBJECT}.*"],
            retention=api.RetentionPolicy.LIMITS,
            max_msgs_per_subject=1,
            storage=storage,
        )
        return jobs, workers, rates, images

    async def _stream(self, **config: Any) -> None:
        config = {
            "retention": api.RetentionPolicy.WORK_QUEUE,
            "num_replicas": self.settings.storage.nats_replicas,
            "storage": api.StorageType.FILE,
            **config,
        }
        js = self.link.js
        try:
            await js.add_stream(api.StreamConfig(**config))
        except Exception as exc:  # made by another node, maybe with older settings
            try:
                await js.stream_info(config["name"])
            except NotFoundError:
                raise exc from None

    @staticmethod
    async def _bucket(
        get: Callable[[str], Coroutine[Any, Any, T]], create: Callable[..., Coroutine[Any, Any, T]], name: str, **kw
    ) -> T:
        try:
            return await get(name)
        except (BucketNotFoundError, NotFoundError):
            try:
                return await create(bucket=name, storage=api.StorageType.FILE, **kw)
            except Exception:  # another node made it meanwhile
                return await get(name)


class AsyncNatsStore:
    """``AsyncJobBackend`` on NATS: the parts' coroutines, awaited on the connection's loop from the caller's
    (``NatsLink.call``); no thread is held while NATS answers."""

    def __init__(self, store: NatsStore) -> None:
        self.link, self.queue, self.shared = store.link, store.queue, store.shared
        self.mail, self.personal = store.mail, store.personal
        # a burst of kiosks queues here, in order, instead of flooding the cluster until its requests time out
        self._turns = asyncio.Semaphore(store.settings.storage.nats_calls_in_flight)

    async def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """``coro`` on the connection's loop once a turn is free. The turn is held until the call itself ends,
        even if its caller is cancelled meanwhile (``NatsLink.call`` lets it finish): the bound is a real one."""
        try:
            await asyncio.wait_for(self._turns.acquire(), timeout)
        except BaseException as exc:  # never started: nothing to run later
            coro.close()
            if isinstance(exc, TimeoutError):
                raise BackendUnavailable(f"NATS: no turn within {timeout:g} s (this node is overloaded)") from None
            raise
        call = asyncio.ensure_future(self.link.call(coro, timeout))
        call.add_done_callback(self._end_turn)
        return await asyncio.shield(call)

    def _end_turn(self, call: asyncio.Future[Any]) -> None:
        self._turns.release()
        if not call.cancelled():
            call.exception()  # seen: a caller cancelled meanwhile is not there to hear it

    async def _call_now(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """``coro`` without waiting for a turn: a call that is light and bounded on its own (a kiosk's rate-limit
        count, one at a time per kiosk; readiness, checked once a second) never waits behind a burst of uploads."""
        return await self.link.call(coro, timeout)

    async def create(self, **job: Unpack[NewJob]) -> tuple[Job, bool]:
        return await self._call(self.queue.create(**job))

    async def get(self, job_id: str) -> Job | None:
        return await self._call(self.queue.get(job_id))

    async def by_idempotency_key(self, kiosk: str, key: str) -> Job | None:
        return await self._call(self.queue.by_idempotency_key(kiosk, key))

    async def by_download_code(self, code: str) -> Job | None:
        return await self._call(self.queue.by_download_code(code))

    async def reserve_place(self, kiosk: str, limit: int, now: float) -> float:
        return await self._call_now(self.shared.reserve_place(kiosk, limit, now))

    async def release_place(self, kiosk: str, place: float) -> None:
        await self._call_now(self.shared.release_place(kiosk, place))

    async def readiness(self) -> str | None:
        try:
            return await self._call_now(self.shared.readiness(), timeout=READY_TIMEOUT + 1)
        except BackendUnavailable as exc:
            return str(exc)

    async def position(self, job: Job) -> int:
        return await self._call(self.queue.position(job))

    async def depth(self) -> dict[str, int]:
        return await self._call(self.queue.depth())

    async def mail_status(self, job_id: str) -> str:
        return await self._call(self.mail.status(job_id))

    async def result(self, job_id: str) -> bytes | None:
        return await self._call(self.queue.result(job_id))

    async def cancel_and_erase(self, job_id: str) -> None:
        await self._call(self.personal.cancel_and_erase(job_id))

    async def expire(self, before: float) -> list[str]:
        return await self._call(self.personal.expire(before), timeout=EXPIRE_TIMEOUT)

    async def wall_jobs(self, limit: int, since: float) -> list[Job]:
        return await self._call(self.queue.wall_jobs(limit, since))

    async def capacity(self) -> dict[str, LaneCapacity] | None:
        return await self._call(self.shared.capacity())

    async def due_mail(self, now: float) -> list[MailTask]:
        return await self._call(self.mail.due())

    async def mail_sent(self, job_id: str) -> None:
        await self._call(self.mail.sent(job_id))

    async def mail_failed(
        self, job_id: str, error: str, next_attempt: float, give_up: bool, uncertain: bool = False
    ) -> None:
        await self._call(self.mail.failed(job_id, error, next_attempt, give_up, uncertain))
