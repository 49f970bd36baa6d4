"""The distributed backend (``backend.JobBackend``) on NATS JetStream: any number of API nodes, GPU workers and
mail workers share one NATS cluster, and none of them holds state of its own.

- Jobs: a work-queue stream per lane (``PORTRAIT_FAST``, ``PORTRAIT_GATYS``); workers pull with explicit ack. A
  worker that dies stops renewing its lease (``+WPI`` every third of the ack wait) and the job is delivered again.
  A job delivered more than ``nats_max_deliveries`` times goes to the dead-letter subject, is marked failed, and
  the visitor is mailed that it could not be painted.
- Job state: the Key-Value bucket ``portrait-jobs`` (one JSON record per job, history 1), changed only with a
  revision check, so two workers can never both finish a job.
- Images: the Object Store bucket ``portrait-images``, with a TTL of the retention period, and deleted on cancel.
- Personal data (the address, the download code, the photos, the painting) is stored only encrypted with a key
  per job, kept apart in ``PORTRAIT_KEYS`` and destroyed on erase (crypto-shredding, ``sealing``): JetStream
  keeps old revisions and deleted messages in its files until a compaction, so deleting the data is not enough.
- Mail: the work-queue stream ``PORTRAIT_MAIL`` (one message per job, de-duplicated by id); the send is recorded
  in KV before the ack, so a mail goes out at most once per Message-ID.
- Events (progress, previews, cancels): core NATS messages on ``portrait.events``, relayed by every process.

The connection runs on its own event-loop thread; the blocking methods wait for it (never call them from it).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import secrets
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Collection, Coroutine
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, TypeVar

import nats
import nats.errors
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import (
    BadObjectMetaError,
    BucketNotFoundError,
    DigestMismatchError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
    ObjectDeletedError,
)
from nats.js.object_store import OBJ_CHUNKS_PRE_TEMPLATE, OBJ_DIGEST_TYPE, OBJ_STREAM_TEMPLATE

from shared.protocol import JobOptions, JobState

from ..config import Settings
from .jobtypes import (
    CANCEL,
    CLAIM,
    EXPIRE,
    FAIL,
    FINISH,
    GIVE_UP,
    LANES,
    REQUEUE,
    TERMINAL,
    BackendUnavailable,
    Job,
    LaneCapacity,
    MailTask,
    check,
)
from .rates import RATE_WINDOW, rate_window
from .sealing import new_key, opened_record, seal, sealed_record, stored_record, unseal

log = logging.getLogger("style_server.nats")
T = TypeVar("T")

JOBS_KV, WORKERS_KV, IMAGES = "portrait-jobs", "portrait-workers", "portrait-images"
MAIL_STREAM, MAIL_SUBJECT, DEAD_STREAM, EVENTS = "PORTRAIT_MAIL", "portrait.mail", "PORTRAIT_DEAD", "portrait.events"
IMAGES_STREAM = OBJ_STREAM_TEMPLATE.format(bucket=IMAGES)
KEYS_STREAM, KEYS_SUBJECT = "PORTRAIT_KEYS", "portrait.keys"  # one message per job: the key of its personal data
GONE = (NotFoundError, ObjectDeletedError, BadObjectMetaError)  # an object that is not there (any more)
WORKER_TTL = 30.0  # a worker not heard of for this long no longer counts towards capacity
RATES_KV = "portrait-rates"  # per kiosk: the times of its accepted jobs in the last minute, seen by every API node
READY_TIMEOUT, READY_FOR = 2.0, 1.0  # a readiness check waits this long for NATS; its answer is kept this long


def lane_stream(method: str) -> str:
    return f"PORTRAIT_{method.upper()}"


def lane_subject(method: str) -> str:
    return f"portrait.jobs.{method}"


def _idem_key(kiosk: str, key: str) -> str:
    """A KV key for (kiosk, Idempotency-Key): any characters may be in either, KV keys allow few."""
    return "idem." + hashlib.sha256(f"{kiosk}\0{key}".encode()).hexdigest()[:40]


def _code_key(code: str) -> str:
    """The KV key of a download code: its hash, so the code itself is never written in the clear."""
    return "dl." + hashlib.sha256(code.encode()).hexdigest()[:40]


def _moving(sources: JobState | Collection[JobState], target: JobState, **fields: Any) -> Callable[[dict], bool]:
    """A change for ``NatsStore._change``: a record in one of ``sources`` moves to ``target`` with ``fields``; any
    other is left as it is (it moved on). Raises ``IllegalTransition`` at once if the lifecycle has no such move."""
    sources = check(sources, target)

    def move(record: dict[str, Any]) -> bool:
        if record["state"] not in sources:
            return False
        record.update(state=target, **fields)
        return True

    return move


class NatsLink:
    """A NATS connection on its own event-loop thread, for blocking callers."""

    def __init__(
        self, servers: list[str], name: str, ca_file: Path | None = None, connect_timeout: float = 10.0
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._loop_error)
        self.closing = False
        self._last_error = ""
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"nats-{name}", daemon=True)
        self._thread.start()
        self.nc = self.run(
            nats.connect(
                servers=servers,
                tls=ssl.create_default_context(cafile=str(ca_file)) if ca_file else None,
                name=name,
                connect_timeout=connect_timeout,
                max_reconnect_attempts=-1,  # a cluster node going away is a reconnect to another, never an end
                reconnect_time_wait=0.25,
                error_cb=self._error,
                disconnected_cb=self._disconnected,
                reconnected_cb=self._reconnected,
            ),
            timeout=connect_timeout + 5,
        )
        self.js = self.nc.jetstream(timeout=10)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the connection's loop and wait; NATS failures become ``BackendUnavailable``."""
        if self.closing or not self.loop.is_running():  # this process stops: nothing will answer
            coro.close()
            raise BackendUnavailable("NATS: the connection is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except (nats.errors.Error, FutureTimeout, TimeoutError, FutureCancelled) as exc:  # cancelled: by close
            future.cancel()
            raise BackendUnavailable(f"NATS: {type(exc).__name__} {exc}".strip()) from exc

    async def _error(self, exc: Exception) -> None:
        if str(exc) != self._last_error:  # an outage is one line, not one per reconnect attempt (4 a second)
            self._last_error = str(exc)
            log.warning("NATS: %s", exc)

    async def _disconnected(self) -> None:
        log.warning("NATS connection lost; reconnecting")

    async def _reconnected(self) -> None:
        self._last_error = ""
        log.info("NATS connection back")

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Tasks that ``close`` cancels or leaves unfinished on purpose (the client's drain, a call that came in as
        it closed) are no error; anything else goes to asyncio's usual handler."""
        cancelled = isinstance(context.get("exception"), asyncio.CancelledError)
        left_pending = self.closing and str(context.get("message", "")).startswith("Task was destroyed")
        if cancelled or left_pending:
            return
        loop.default_exception_handler(context)

    def close(self) -> None:
        if self.closing:  # closed before (a shutdown path that runs twice)
            return
        with contextlib.suppress(Exception):
            self.run(self.nc.drain(), timeout=5)
        self.closing = True  # from here on, callers get BackendUnavailable instead of a task left half-run
        with contextlib.suppress(Exception):  # the client's own tasks end here, not half-run when the loop closes
            asyncio.run_coroutine_threadsafe(_cancel_the_rest(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


async def _cancel_the_rest() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class NatsStore:
    """``JobBackend`` on NATS JetStream (see the module's description)."""

    waits_for_work = True  # take() is a pull that waits for the next job

    def __init__(self, settings: Settings, name: str) -> None:
        self.settings = settings
        self.origin = f"{name}-{uuid.uuid4().hex[:8]}"  # who relays an event (never heard back by itself)
        self.link = NatsLink(settings.nats_servers, self.origin, settings.nats_ca_file)
        self.tmp_dir = settings.data_dir / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._held: dict[str, Any] = {}  # job id -> its stream message, while this process paints it
        self._mail: dict[str, Any] = {}  # job id -> its mail message, while this process sends it
        self._subs: dict[str, Any] = {}
        self._listeners = ThreadPoolExecutor(1, thread_name_prefix="nats-events")  # in order, off the NATS loop
        self._ready: tuple[float, str | None] = (-READY_FOR, None)  # (when checked, why not ready)
        self.link.run(self._setup())
        self._lease = asyncio.run_coroutine_threadsafe(self._keep_leases(), self.link.loop)

    # -- setup ----------------------------------------------------------------------------------------

    async def _setup(self) -> None:
        s, js = self.settings, self.link.js
        retention = s.retention_hours * 3600
        replicas = s.nats_replicas
        for method in LANES:
            await self._stream(name=lane_stream(method), subjects=[lane_subject(method)])
        await self._stream(name=MAIL_STREAM, subjects=[MAIL_SUBJECT], duplicate_window=min(retention, 3600))
        # dead letters carry a job id only; kept for operators as long as the job's data
        await self._stream(
            name=DEAD_STREAM, subjects=["portrait.dead.>"], retention=api.RetentionPolicy.LIMITS, max_age=retention
        )
        self.jobs = await self._bucket(js.key_value, js.create_key_value, JOBS_KV, history=1, replicas=replicas)
        self.workers = await self._bucket(
            js.key_value, js.create_key_value, WORKERS_KV, history=1, ttl=WORKER_TTL, replicas=replicas
        )
        self.rates = await self._bucket(
            js.key_value, js.create_key_value, RATES_KV, history=1, ttl=2 * RATE_WINDOW, replicas=replicas
        )
        self.images = await self._bucket(
            js.object_store, js.create_object_store, IMAGES, ttl=retention, replicas=replicas
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

    async def _stream(self, **config: Any) -> None:
        config = {
            "retention": api.RetentionPolicy.WORK_QUEUE,
            "num_replicas": self.settings.nats_replicas,
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

    async def _consumer(self, method: str, stream: str, subject: str) -> Any:
        """The shared durable pull consumer of a stream (one per process, bound lazily)."""
        if method not in self._subs:
            ack_wait = self.settings.nats_ack_wait_seconds
            self._subs[method] = await self.link.js.pull_subscribe(
                subject,
                durable=f"{method}-workers",
                stream=stream,
                config=api.ConsumerConfig(ack_wait=ack_wait, max_deliver=-1, max_ack_pending=10_000),
            )
        return self._subs[method]

    async def _keep_leases(self) -> None:
        """While this process is alive it keeps the jobs and mails it holds (in-progress acks)."""
        every = max(self.settings.nats_ack_wait_seconds / 3, 0.2)
        while True:
            await asyncio.sleep(every)
            for msg in [*self._held.values(), *self._mail.values()]:
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    # -- job records ----------------------------------------------------------------------------------

    async def _record(self, job_id: str) -> tuple[dict[str, Any], int] | None:
        """The job's record with its personal fields opened, and its revision (write it with ``_put``)."""
        try:
            entry = await self.jobs.get(f"job.{job_id}")
        except KeyNotFoundError:
            return None
        if entry.value is None:
            return None
        stored = json.loads(entry.value)
        key = await self._key(job_id) if stored.get("sealed") else None
        return opened_record(stored, key), entry.revision

    async def _put(self, record: dict[str, Any], last: int) -> int:
        """Write a job's record (revision checked) with its personal fields sealed."""
        return await self.jobs.update(f"job.{record['id']}", stored_record(record), last=last)

    async def _key(self, job_id: str) -> bytes | None:
        """The key of the job's personal data; None once erased (or lost with the whole cluster)."""
        try:
            return (await self.link.js.get_msg(KEYS_STREAM, subject=f"{KEYS_SUBJECT}.{job_id}")).data
        except NotFoundError:
            return None

    async def _drop_key(self, job_id: str) -> None:
        """Crypto-shredding: a deleted message is overwritten on disk (a purge would leave its bytes)."""
        with contextlib.suppress(NotFoundError):
            msg = await self.link.js.get_msg(KEYS_STREAM, subject=f"{KEYS_SUBJECT}.{job_id}")
            await self.link.js.delete_msg(KEYS_STREAM, msg.seq)

    async def _put_image(self, name: str, data: bytes, key: bytes) -> None:
        await self.images.put(name, seal(key, data, name))

    async def _job(self, job_id: str) -> Job | None:
        found = await self._record(job_id)
        return Job.from_dict(found[0]) if found else None

    async def _change(
        self, job_id: str, change: Callable[[dict[str, Any]], bool], found: tuple[dict[str, Any], int] | None = None
    ) -> dict[str, Any] | None:
        """Apply ``change`` to the job's record with a revision check (retried if another node wrote first);
        ``change`` returns False to leave it. The record as written, or None if unchanged. ``found``: the record
        and revision just read, to save reading it again."""
        for attempt in range(20):
            if attempt or found is None:
                found = await self._record(job_id)
            if found is None:
                return None
            record, revision = found
            if not change(record):
                return None
            try:
                await self._put(record, revision)
                return record
            except KeyWrongLastSequenceError:
                continue
        raise RuntimeError(f"job {job_id}: too many concurrent changes")

    def get(self, job_id: str) -> Job | None:
        return self.link.run(self._job(job_id))

    def _indexed(self, key: str) -> Job | None:
        async def lookup() -> Job | None:
            try:
                entry = await self.jobs.get(key)
            except KeyNotFoundError:
                return None
            return await self._job(entry.value.decode()) if entry.value else None

        return self.link.run(lookup())

    def by_idempotency_key(self, kiosk: str, key: str) -> Job | None:
        """The job a kiosk sent with this key: the kiosk retries its create, so whatever the first create left
        undone (its work message, when it was cut off) is done now."""
        job = self._indexed(_idem_key(kiosk, key))
        if job is not None:
            self.link.run(self._enqueue_again(job.id))
        return job

    def by_download_code(self, code: str) -> Job | None:
        return self._indexed(_code_key(code))

    # -- the rate limit and readiness, shared by every API node ----------------------------------------

    def reserve_place(self, kiosk: str, limit: int, now: float) -> float:
        def take(places: list[float]) -> tuple[list[float] | None, float]:
            places, wait = rate_window(places, limit, now)
            return (None if wait else [*places, now]), wait

        return self.link.run(self._change_places(kiosk, take))

    def release_place(self, kiosk: str, place: float) -> None:
        def give_back(places: list[float]) -> tuple[list[float] | None, float]:
            if place not in places:
                return None, 0.0
            places.remove(place)
            return places, 0.0

        self.link.run(self._change_places(kiosk, give_back))

    async def _change_places(
        self, kiosk: str, change: Callable[[list[float]], tuple[list[float] | None, float]]
    ) -> float:
        """Apply ``change`` to the kiosk's places with a revision check (again if another node wrote first);
        it returns the new places (None: leave them) and the answer."""
        key = "kiosk." + hashlib.sha256(kiosk.encode()).hexdigest()[:40]
        for _ in range(50):
            try:
                entry = await self.rates.get(key)
                places, last = json.loads(entry.value or b"[]"), entry.revision
            except KeyNotFoundError:  # none in the last two minutes
                places, last = [], None
            new, answer = change(places)
            try:
                if new is not None and last is None:
                    await self.rates.create(key, json.dumps(new).encode())
                elif new is not None:
                    await self.rates.update(key, json.dumps(new).encode(), last=last)
                return answer
            except KeyWrongLastSequenceError:
                continue
        raise BackendUnavailable(f"NATS: the rate limit of kiosk {kiosk} changed too often to be counted")

    def readiness(self) -> str | None:
        """Kept for a second: a load balancer probing often costs one round of checks a second at most."""
        checked, reason = self._ready
        if time.monotonic() - checked >= READY_FOR:
            try:
                reason = self.link.run(self._writable(), timeout=READY_TIMEOUT + 1)
            except BackendUnavailable as exc:
                reason = str(exc)
            self._ready = (time.monotonic(), reason)
        return reason

    async def _writable(self) -> str | None:
        """Why a job cannot be written now: a stream it goes to does not answer or has no leader (a cluster
        without a quorum), or None."""
        names = [KEYS_STREAM, IMAGES_STREAM, f"KV_{JOBS_KV}", f"KV_{RATES_KV}", *(lane_stream(m) for m in LANES)]
        try:
            infos = await asyncio.wait_for(
                asyncio.gather(*(self.link.js.stream_info(name) for name in names)), READY_TIMEOUT
            )
        except (TimeoutError, NatsTimeout):
            return f"NATS: no answer within {READY_TIMEOUT:g} s (a cluster without a quorum?)"
        except nats.errors.Error as exc:
            return f"NATS: {type(exc).__name__} {exc}".strip()
        for name, info in zip(names, infos, strict=True):
            if info.cluster is not None and not info.cluster.leader:
                return f"NATS: stream {name} has no leader (a cluster without a quorum)"
        return None

    # -- the API side ---------------------------------------------------------------------------------

    def create(
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
        job_id = secrets.token_hex(12)
        job = Job(
            id=job_id,
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
        return self.link.run(self._create(job, portrait_png, style_png))

    async def _create(self, job: Job, portrait_png: bytes, style_png: bytes | None) -> tuple[Job, bool]:
        if job.idem_key is not None:
            try:  # the index entry first: of two parallel retries, exactly one creates the job
                await self.jobs.create(_idem_key(job.kiosk, job.idem_key), job.id.encode())
            except KeyWrongLastSequenceError:
                if existing := await self._winner(job):
                    await self._enqueue_again(existing.id)
                    return existing, False
        key = new_key()
        await self.link.js.publish(f"{KEYS_SUBJECT}.{job.id}", key)
        await self._put_image(f"{job.id}/portrait.png", portrait_png, key)
        if style_png is not None:
            await self._put_image(f"{job.id}/style.png", style_png, key)
        await self.jobs.put(_code_key(job.download_code or ""), job.id.encode())
        record = sealed_record(json.loads(job.to_json()), key)
        revision = await self.jobs.create(f"job.{job.id}", stored_record(record))
        await self._publish_work(record, revision)
        return job, True

    async def _enqueue_again(self, job_id: str) -> None:
        """A retried create of a queued job whose work message never got its place recorded (the first create
        stopped after writing the job, e.g. in a cluster's leader election): send it (again). Without this the job
        stayed queued forever (CI runs of the cluster test)."""
        found = await self._record(job_id)
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
            await self._put({**record, "seq": ack.seq}, revision)

    async def _winner(self, job: Job) -> Job | None:
        """The job that holds ``job``'s idempotency key, waiting a few seconds for a parallel create to write it;
        None once the key is ``job``'s: its holder never came (an API node died mid-create), so it is taken over."""
        key = _idem_key(job.kiosk, job.idem_key or "")
        for _ in range(50):
            entry = await self.jobs.get(key)
            if existing := await self._job(entry.value.decode()):
                return existing
            await asyncio.sleep(0.1)
        await self.jobs.update(key, job.id.encode(), last=entry.revision)  # raises if another retry took it over
        return None

    def position(self, job: Job) -> int:
        async def place() -> int:
            found = await self._record(job.id)
            seq = found[0].get("seq") if found else None
            if seq is None:
                return 0
            stream, js = lane_stream(job.method), self.link.js
            try:
                delivered = (await js.consumer_info(stream, f"{job.method}-workers")).delivered.stream_seq
            except NotFoundError:  # no worker has pulled yet
                delivered = (await js.stream_info(stream)).state.first_seq - 1
            return max(seq - delivered - 1, 0)  # messages not yet handed to any worker

        return self.link.run(place())

    def depth(self) -> dict[str, int]:
        async def counts() -> dict[str, int]:
            return {m: (await self.link.js.stream_info(lane_stream(m))).state.messages for m in LANES}

        return self.link.run(counts())

    def mail_status(self, job_id: str) -> str:
        return self.link.run(self._mail_record(job_id)).get("status", "none")

    async def _mail_record(self, job_id: str) -> dict[str, Any]:
        try:
            entry = await self.jobs.get(f"mail.{job_id}")
        except KeyNotFoundError:
            return {}
        return json.loads(entry.value) if entry.value else {}

    def result(self, job_id: str) -> bytes | None:
        return self.link.run(self._object(f"{job_id}/result.jpg"))

    async def _object(self, name: str) -> bytes | None:
        """An image, read chunk by chunk with stream message gets: the library's get sets up and removes an
        ordered consumer for every read, which made it about twice as slow for an image (bench/RESULTS.md)."""
        try:
            info = await self.images.get_info(name)
            subject, data, seq = OBJ_CHUNKS_PRE_TEMPLATE.format(bucket=IMAGES, obj=info.nuid), bytearray(), 0
            for _ in range(info.chunks or 0):
                chunk = await self.link.js.get_msg(IMAGES_STREAM, seq + 1, subject, next=True)
                seq = chunk.seq
                data += chunk.data or b""
        except GONE:  # never written, deleted, or deleted while it was read
            return None
        expected = base64.urlsafe_b64decode(info.digest[len(OBJ_DIGEST_TYPE) :])  # as the library checks it
        if hashlib.sha256(data).digest() != expected:
            raise DigestMismatchError
        key = await self._key(name.split("/")[0])
        return unseal(key, bytes(data), name) if key is not None else None  # no key: erased

    def cancel_and_erase(self, job_id: str) -> None:
        async def run() -> None:
            await self._change(job_id, _moving(CANCEL.sources, CANCEL.target, finished=time.time()))
            await self._erase(job_id, expire=False)

        self.link.run(run())

    def expire(self, before: float) -> list[str]:
        async def run() -> list[str]:
            erased, jobs = [], {key.removeprefix("job.") for key in await self._bucket_keys(JOBS_KV, "job.")}
            for job_id in jobs:
                found = await self._record(job_id)
                if found and found[0]["created"] < before and found[0]["state"] in EXPIRE.sources:
                    await self._erase(job_id, expire=True)
                    erased.append(job_id)
            await self._drop_orphan_keys(jobs, before)
            return erased

        return self.link.run(run(), timeout=300)

    def wall_jobs(self, limit: int, since: float) -> list[Job]:
        async def read() -> list[Job]:
            shown = []
            for key in await self._bucket_keys(JOBS_KV, "job."):
                with contextlib.suppress(KeyNotFoundError):
                    entry = await self.jobs.get(key)
                    record = json.loads(entry.value) if entry.value else {}
                    # the flag and the state are in the clear: only the jobs shown are opened
                    if record.get("wall") and record["state"] == JobState.done and record["created"] >= since:
                        shown.append(record)
            shown.sort(key=lambda record: record["finished"] or 0, reverse=True)
            jobs = [await self._job(record["id"]) for record in shown[:limit]]
            return [job for job in jobs if job is not None]

        return self.link.run(read())

    async def _drop_orphan_keys(self, jobs: set[str], before: float) -> None:
        """Keys older than ``before`` whose job was never written (its API node died mid-create): their photos
        (sealed, gone by the Object Store's TTL) can never be read again."""
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

    async def _bucket_keys(self, bucket: str, prefix: str) -> list[str]:
        """The keys of a KV bucket that start with ``prefix``, from the bucket stream's subjects. Not keys(): its
        watcher is a consumer that lingers 5 min on the server, and capacity is read every 2 s by every process
        (32 workers reached the server's 1000 consumers)."""
        subjects = f"$KV.{bucket}."
        try:
            info = await self.link.js.stream_info(f"KV_{bucket}", subjects_filter=f"{subjects}{prefix}>")
        except NotFoundError:
            return []
        return [subject.removeprefix(subjects) for subject in info.state.subjects or {}]

    async def _erase(self, job_id: str, expire: bool) -> None:
        """Every piece of personal data goes: the record keeps what statistics need; with history 1 the old
        revision (with the address) is removed from the bucket's stream by the rewrite."""
        found = await self._record(job_id)
        code = found[0].get("download_code") if found else None

        def scrub(record: dict[str, Any]) -> bool:
            if expire and record["state"] in EXPIRE.sources:
                record["state"] = EXPIRE.target
            record.update(email=None, request_hash=None, download_code=None, wall=False)
            return True

        # The key first: from then on no copy of the job's personal data can be read. A pass cut short after it
        # leaves the job in its old state, so the next pass erases it again (the other way round, an expired job
        # whose key survived was never looked at again).
        await self._drop_key(job_id)
        await self._change(job_id, scrub)
        if code:
            await self.jobs.purge(_code_key(code))
        if (await self._mail_record(job_id)).get("status") != "sent":
            with contextlib.suppress(KeyNotFoundError):
                await self.jobs.purge(f"mail.{job_id}")
        for name in ("portrait.png", "style.png", "result.jpg"):
            with contextlib.suppress(*GONE):
                await self.images.delete(f"{job_id}/{name}")

    def capacity(self) -> dict[str, LaneCapacity] | None:
        async def read() -> dict[str, LaneCapacity]:
            keys = await self._bucket_keys(WORKERS_KV, "w.")
            seconds: dict[str, list[float]] = {}
            lanes: dict[str, int] = {}
            for key in keys:
                with contextlib.suppress(KeyNotFoundError):
                    entry = await self.workers.get(key)
                    report = json.loads(entry.value)
                    for method, count in report["lanes"].items():
                        lanes[method] = lanes.get(method, 0) + count
                        seconds.setdefault(method, []).append(report["seconds_per_job"][method])
            return {m: LaneCapacity(sum(v) / len(v), lanes[m]) for m, v in seconds.items()}

        return self.link.run(read())

    # -- the workers ----------------------------------------------------------------------------------

    def take(self, method: str, limit: int, window: float) -> list[Job]:
        return self.link.run(self._take(method, limit, window))

    async def _take(self, method: str, limit: int, window: float) -> list[Job]:
        sub = await self._consumer(method, lane_stream(method), lane_subject(method))
        msgs = await self._fetch(sub, limit, 1.0)
        if msgs and len(msgs) < limit and window:
            await asyncio.sleep(window)  # let other kiosks join the batch
            msgs += await self._fetch(sub, limit - len(msgs), 0.05)
        jobs: list[Job] = []
        try:
            for msg in msgs:
                if job := await self._claim(method, msg):
                    jobs.append(job)
        except BaseException:  # claimed but never handed over: not held, so their leases run out
            for job in jobs:
                self._held.pop(job.id, None)
            raise
        return jobs

    @staticmethod
    async def _fetch(sub: Any, count: int, timeout: float) -> list[Any]:
        try:
            return await sub.fetch(count, timeout=timeout)
        except (TimeoutError, NatsTimeout):
            return []

    async def _claim(self, method: str, msg: Any) -> Job | None:
        """The job of a delivered message, now running here; None (and the message settled) if there is nothing
        to paint: gone, ended, or delivered too often (dead letter)."""
        job_id = msg.data.decode()
        found = await self._record(job_id)
        if found is None or found[0]["state"] in TERMINAL:
            if found is not None and found[0]["state"] == JobState.done and found[0].get("email"):
                await self._queue_mail(job_id, "portrait")  # finished by a worker that died before its ack
            await msg.ack()
            return None
        record, revision = found
        if msg.metadata.num_delivered > self.settings.nats_max_deliveries:
            await self._dead_letter(method, job_id, msg)
            return None
        check(record["state"], CLAIM.target)  # queued (a claim), or running (a reclaim: a lease ran out)
        record.update(state=CLAIM.target, started=time.time(), progress=0.0)
        try:
            await self._put(record, revision)
        except KeyWrongLastSequenceError:  # changed meanwhile (a cancel): look again soon
            await msg.nak(delay=0.2)
            return None
        self._held[job_id] = msg
        return Job.from_dict(record)

    async def _dead_letter(self, method: str, job_id: str, msg: Any) -> None:
        tries = msg.metadata.num_delivered - 1
        error = f"the painting failed {tries} times (the painter stopped each time); the job was given up"

        give_up = _moving(GIVE_UP.sources, GIVE_UP.target, error=error, finished=time.time(), progress=0.0)
        record = await self._change(job_id, give_up)
        await self.link.js.publish(f"portrait.dead.{method}", job_id.encode())
        if record is not None and record.get("email"):
            await self._queue_mail(job_id, "failed")
        for name in ("portrait.png", "style.png"):  # nobody will paint it: the photos go now, not at retention
            with contextlib.suppress(*GONE):
                await self.images.delete(f"{job_id}/{name}")
        # as the runner's events.ended: the kiosk's stream hears "failed", every process drops the preview (a
        # face). No origin: the streams of this process hear it too
        await self.link.nc.publish(EVENTS, json.dumps({"kind": "ended", "id": job_id}).encode())
        await msg.ack()
        log.error("job %s given up after %d deliveries (dead letter)", job_id, tries)

    def inputs(self, job: Job) -> tuple[bytes, bytes | None]:
        portrait = self.link.run(self._object(f"{job.id}/portrait.png"))
        if portrait is None:
            raise FileNotFoundError(f"the portrait of job {job.id} is gone")
        style = self.link.run(self._object(f"{job.id}/style.png")) if job.has_style_image else None
        return portrait, style

    def set_progress(self, job_id: str, progress: float) -> None:
        def advance(record: dict[str, Any]) -> bool:
            if record["state"] != JobState.running:
                return False
            record["progress"] = progress
            return True

        self.link.run(self._change(job_id, advance))

    def move(self, job_id: str, sources: JobState | Collection[JobState], target: JobState, **fields: Any) -> bool:
        return self.link.run(self._change(job_id, _moving(sources, target, **fields))) is not None

    def result_tmp(self, job_id: str) -> Path:
        return self.tmp_dir / f"{job_id}-{secrets.token_hex(6)}.jpg"

    def publish_result(self, job_id: str, tmp: Path, engine_seconds: float, mail: bool) -> bool:
        try:
            return self.link.run(self._publish(job_id, tmp.read_bytes(), engine_seconds, mail))
        finally:
            tmp.unlink(missing_ok=True)

    async def _publish(self, job_id: str, jpeg: bytes, engine_seconds: float, mail: bool) -> bool:
        found = await self._record(job_id)
        if found is None or found[0]["state"] not in FINISH.sources:
            await self._settle(job_id)
            return False
        if (key := await self._key(job_id)) is None:  # lost with the whole cluster: nothing can be kept
            raise FileNotFoundError(f"the key of job {job_id} is gone")
        await self._put_image(f"{job_id}/result.jpg", jpeg, key)

        finish = _moving(
            FINISH.sources, FINISH.target, error=None, finished=time.time(), progress=1.0, engine_seconds=engine_seconds
        )
        if await self._change(job_id, finish, found) is None:
            found = await self._record(job_id)
            if found is None or found[0]["state"] != JobState.done:  # cancelled or erased while it was painted
                with contextlib.suppress(*GONE):
                    await self.images.delete(f"{job_id}/result.jpg")
            # else a second delivery of the job (a lease that ran out, a re-sent create) finished first: its
            # painting, just overwritten with this one, stays
            await self._settle(job_id)
            return False
        if mail:
            await self._queue_mail(job_id, "portrait")
        await self._settle(job_id)
        return True

    async def _queue_mail(self, job_id: str, kind: str) -> None:
        """Queue a job's mail once (de-duplicated by id); its status reads pending until it is sent."""
        with contextlib.suppress(KeyWrongLastSequenceError):  # queued before (a second delivery of the job)
            await self.jobs.create(f"mail.{job_id}", json.dumps({"status": "pending", "attempts": 0}).encode())
        payload = json.dumps({"job_id": job_id, "kind": kind}).encode()
        await self.link.js.publish(MAIL_SUBJECT, payload, headers={"Nats-Msg-Id": f"mail-{job_id}"})

    async def _settle(self, job_id: str) -> None:
        """The job's message is done with: acknowledged, so no worker gets it again."""
        if msg := self._held.pop(job_id, None):
            await msg.ack()

    def fail(self, job_id: str, error: str, mail: bool = True) -> None:
        async def run() -> None:
            record = await self._change(
                job_id, _moving(FAIL.sources, FAIL.target, error=error, finished=time.time(), progress=0.0)
            )
            if mail and record is not None and record.get("email"):  # the apology, as after a dead letter
                await self._queue_mail(job_id, "failed")
            await self._settle(job_id)

        self.link.run(run())

    def requeue(self, job_id: str) -> None:
        async def run() -> None:
            msg = self._held.pop(job_id, None)  # first: whatever happens next, this process stops renewing it
            await self._change(job_id, _moving(REQUEUE.sources, REQUEUE.target, progress=0.0))
            if msg is not None:
                await msg.nak()  # to another worker at once

        try:
            self.link.run(run())
        except BackendUnavailable:  # no longer held, so its lease runs out and it is delivered again
            self.link.loop.call_soon_threadsafe(self._held.pop, job_id, None)
            raise

    def requeue_running(self) -> int:
        held = list(self._held)
        for job_id in held:
            self.requeue(job_id)
        return len(held)

    def report_capacity(self, seconds_per_job: dict[str, float], lanes: dict[str, int]) -> None:
        report = {"lanes": lanes, "seconds_per_job": seconds_per_job, "at": time.time()}
        self.link.run(self.workers.put(f"w.{self.origin}", json.dumps(report).encode()))

    # -- mail -----------------------------------------------------------------------------------------

    def requeue_lost_mail(self) -> int:
        return 0  # a worker that died before queueing a mail has not acked its job: the job comes back

    def due_mail(self, now: float) -> list[MailTask]:
        return self.link.run(self._due_mail())

    async def _due_mail(self) -> list[MailTask]:
        sub = await self._consumer("mail", MAIL_STREAM, MAIL_SUBJECT)
        tasks: list[MailTask] = []
        try:
            for msg in await self._fetch(sub, 10, 1.0):
                body = json.loads(msg.data)
                job_id = body["job_id"]
                record = await self._mail_record(job_id)
                if record.get("status") in ("sent", "uncertain", None):  # done with, or erased since
                    await msg.ack()
                    continue
                self._mail[job_id] = msg
                kind, uncertain = body.get("kind", "portrait"), record.get("uncertain", 0)
                # attempts made, as recorded by mail_failed: a mail handed back unsent was not attempted
                tasks.append(MailTask(job_id, record.get("attempts", 0), kind, uncertain))
        except BaseException:  # fetched but never handed over
            self._let_go([task.job_id for task in tasks])
            raise
        return tasks

    def mail_sent(self, job_id: str) -> None:
        async def run() -> None:
            await self.jobs.put(f"mail.{job_id}", json.dumps({"status": "sent", "sent_at": time.time()}).encode())
            if msg := self._mail.pop(job_id, None):
                await msg.ack()

        self.link.run(run())

    def mail_failed(self, job_id: str, error: str, next_attempt: float, give_up: bool, uncertain: bool = False) -> None:
        async def run() -> None:
            record = await self._mail_record(job_id)
            if record:  # never brings back a record erased meanwhile
                record = {
                    "status": ("uncertain" if uncertain else "failed") if give_up else "pending",
                    "attempts": record.get("attempts", 0) + 1,
                    "uncertain": record.get("uncertain", 0) + int(uncertain),  # kept across retries and mailers
                }
                await self.jobs.put(f"mail.{job_id}", json.dumps({**record, "last_error": error}).encode())
            msg = self._mail.pop(job_id, None)
            if msg is not None:
                await (msg.term() if give_up else msg.nak(delay=max(next_attempt - time.time(), 0.0)))

        self.link.run(run())

    def mail_released(self, job_ids: list[str]) -> None:
        self.link.loop.call_soon_threadsafe(self._let_go, job_ids)

    def _let_go(self, job_ids: list[str]) -> None:
        """On the connection's loop: these mails are no longer held or renewed, so their leases run out and they
        are delivered again."""
        for job_id in job_ids:
            self._mail.pop(job_id, None)

    # -- between processes ----------------------------------------------------------------------------

    def broadcast(self, event: dict[str, Any]) -> None:
        payload = json.dumps({**event, "origin": self.origin}).encode()
        asyncio.run_coroutine_threadsafe(self.link.nc.publish(EVENTS, payload), self.link.loop)

    def listen(self, handler: Callable[[dict[str, Any]], None]) -> None:
        async def heard(msg: Any) -> None:
            event = json.loads(msg.data)
            if event.pop("origin", None) != self.origin:
                self._listeners.submit(_quietly, handler, event)

        self.link.run(self.link.nc.subscribe(EVENTS, cb=heard))

    def close(self) -> None:
        self._lease.cancel()
        self._listeners.shutdown(wait=False)
        self.link.close()


def _quietly(handler: Callable[[dict[str, Any]], None], event: dict[str, Any]) -> None:
    try:
        handler(event)
    except Exception:
        log.exception("handling a relayed event failed")
