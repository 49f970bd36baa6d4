"""Durable job state: SQLite in WAL mode for rows, plain files for images. Survives kill -9.

Portraits, results and e-mail addresses are personal data: they live only here and are erased by
``Store.erase`` (on cancel, or when retention runs out), after which ``Store.checkpoint`` empties the
write-ahead log; ``secure_delete`` overwrites the erased rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, Unpack

from shared.protocol import JobOptions, JobState

from .jobtypes import (
    CANCEL,
    CLAIM,
    EXPIRE,
    FAIL,
    FINISH,
    GIVE_UP,
    LANES,
    REQUEUE,
    Job,
    LaneCapacity,
    MailTask,
    NewJob,
    check,
)
from .rates import LocalRates

log = logging.getLogger("style_server.store")
T = TypeVar("T")
STORE_THREADS = 8  # SQLite writes one at a time; reads and image files (a 40 MP upload: seconds) in parallel

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, token TEXT NOT NULL, kiosk TEXT NOT NULL, idem_key TEXT,
    state TEXT NOT NULL, method TEXT NOT NULL, style TEXT, has_style_image INTEGER NOT NULL,
    options TEXT NOT NULL, email TEXT, language TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0, error TEXT,
    created REAL NOT NULL, started REAL, finished REAL, engine_seconds REAL, request_hash TEXT, download_code TEXT,
    wall INTEGER NOT NULL DEFAULT 0, deliveries INTEGER NOT NULL DEFAULT 0,
    UNIQUE (kiosk, idem_key)
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (state, method, created);
CREATE TABLE IF NOT EXISTS outbox (
    job_id TEXT PRIMARY KEY, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL, last_error TEXT, sent_at REAL,
    kind TEXT NOT NULL DEFAULT 'portrait', uncertain INTEGER NOT NULL DEFAULT 0
);
"""


def _job(row: sqlite3.Row) -> Job:
    return Job.from_dict(dict(row))


class Store:
    """The embedded backend (``backend.JobBackend``): one process, SQLite rows and image files."""

    waits_for_work = False  # the runner is woken when a job is queued (same process)

    def __init__(self, data_dir: Path, max_deliveries: int = 3) -> None:
        self.data_dir = data_dir
        self.max_deliveries = max_deliveries  # claims of one job before a restart gives it up
        self.jobs_dir = data_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = data_dir / "tmp"  # results being written; leftovers of a crash are personal data: cleared
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir()
        self._db = sqlite3.connect(data_dir / "jobs.db", check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self.rates = LocalRates()  # one server serves every kiosk: its count is the only one
        self.aio = AsyncStore(self)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA secure_delete=ON")  # erased addresses are overwritten, not just unlinked
            self._db.executescript(SCHEMA)
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}
            if "request_hash" not in columns:  # a database written before replays were checked
                self._db.execute("ALTER TABLE jobs ADD COLUMN request_hash TEXT")
            if "download_code" not in columns:  # a database written before download links
                self._db.execute("ALTER TABLE jobs ADD COLUMN download_code TEXT")
            if "wall" not in columns:  # a database written before the gallery wall
                self._db.execute("ALTER TABLE jobs ADD COLUMN wall INTEGER NOT NULL DEFAULT 0")
            if "deliveries" not in columns:  # a database written before claims were counted
                self._db.execute("ALTER TABLE jobs ADD COLUMN deliveries INTEGER NOT NULL DEFAULT 0")
            self._db.execute("CREATE UNIQUE INDEX IF NOT EXISTS jobs_download ON jobs (download_code)")
            outbox = {r[1] for r in self._db.execute("PRAGMA table_info(outbox)")}
            if "kind" not in outbox:  # a database written before apologies and uncertain mails
                self._db.execute("ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'portrait'")
                self._db.execute("ALTER TABLE outbox ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0")

    def _exec(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing, under the store's lock: committed when the block ends, rolled back if it raises."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        self.aio.close()
        with self._lock:
            self._db.close()

    # -- jobs -----------------------------------------------------------------------------------------

    def folder(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

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
        """Insert a job with its images unless its kiosk's idempotency key is taken: then (the key's holder,
        False), else (the new job, True). Whether that is a replay or a conflict is the caller's decision
        (``creating.create_job``). Never recurses, and a create that fails for any reason leaves no folder behind.
        """
        job_id, token = secrets.token_hex(12), secrets.token_urlsafe(24)
        folder = self.folder(job_id)
        try:
            folder.mkdir(parents=True)
            _write(folder / "portrait.png", portrait_png)
            if style_png is not None:
                _write(folder / "style.png", style_png)
            self._exec(
                "INSERT INTO jobs (id, token, kiosk, idem_key, state, method, style, has_style_image, options,"
                " email, language, created, request_hash, download_code, wall) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    job_id,
                    token,
                    kiosk,
                    idem_key,
                    JobState.queued,
                    method,
                    style,
                    style_png is not None,
                    options.model_dump_json(),
                    email,
                    language,
                    time.time(),
                    request_hash,
                    secrets.token_urlsafe(24),  # 192 random bits
                    wall,
                ),
            )
        except sqlite3.IntegrityError:  # the key is taken (a parallel retry won the race): hand back its holder
            shutil.rmtree(folder, ignore_errors=True)
            existing = self.by_idempotency_key(kiosk, idem_key) if idem_key is not None else None
            if existing is None:
                raise
            return existing, False
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return self.get(job_id), True

    def by_download_code(self, code: str) -> Job | None:
        rows = self._exec("SELECT * FROM jobs WHERE download_code=?", (code,))
        return _job(rows[0]) if rows else None

    def by_idempotency_key(self, kiosk: str, key: str) -> Job | None:
        rows = self._exec("SELECT * FROM jobs WHERE kiosk=? AND idem_key=?", (kiosk, key))
        return _job(rows[0]) if rows else None

    def reserve_place(self, kiosk: str, limit: int, now: float) -> float:
        return self.rates.reserve_place(kiosk, limit, now)

    def release_place(self, kiosk: str, place: float) -> None:
        self.rates.release_place(kiosk, place)

    def readiness(self) -> str | None:
        return None  # the database is this process's own file: whoever answers can write it

    def get(self, job_id: str) -> Job | None:
        rows = self._exec("SELECT * FROM jobs WHERE id=?", (job_id,))
        return _job(rows[0]) if rows else None

    def queued(self, method: str, limit: int) -> list[Job]:
        rows = self._exec(
            "SELECT * FROM jobs WHERE state=? AND method=? ORDER BY created LIMIT ?", (JobState.queued, method, limit)
        )
        return [_job(r) for r in rows]

    def take(self, method: str, limit: int, window: float) -> list[Job]:
        jobs = self.queued(method, limit)
        if jobs and len(jobs) < limit and window:
            time.sleep(window)  # let other kiosks join the batch
            jobs = self.queued(method, limit)
        return [job for job in jobs if self.claim(job.id)]  # a claim is atomic

    def inputs(self, job: Job) -> tuple[bytes, bytes | None]:
        folder = self.folder(job.id)
        style = (folder / "style.png").read_bytes() if job.has_style_image else None
        return (folder / "portrait.png").read_bytes(), style

    def result(self, job_id: str) -> bytes | None:
        try:
            return (self.folder(job_id) / "result.jpg").read_bytes()
        except FileNotFoundError:
            return None

    def claim(self, job_id: str) -> bool:
        """Atomic: the job runs here now, and one more painting of it has started."""
        with self._transaction() as db:
            claimed = _move(db, job_id, CLAIM.sources, CLAIM.target, started=time.time(), progress=0) == 1
            if claimed:
                db.execute("UPDATE jobs SET deliveries=deliveries+1 WHERE id=?", (job_id,))
            return claimed

    def move(self, job_id: str, sources: JobState | Collection[JobState], target: JobState, **fields: Any) -> bool:
        with self._lock:
            return _move(self._db, job_id, sources, target, **fields) == 1

    def set_progress(self, job_id: str, progress: float) -> None:
        self._exec("UPDATE jobs SET progress=? WHERE id=? AND state=?", (progress, job_id, JobState.running))

    def fail(self, job_id: str, error: str, mail: bool = True) -> None:
        """A running job failed (a painted one is finished by ``publish_result``). In the same transaction
        (``mail``, and the job has an address) its apology is queued: once, as the outbox has one row per job.
        A job no longer running (cancelled, erased) is left alone and gets no mail."""
        with self._transaction() as db:
            failed = _move(db, job_id, FAIL.sources, FAIL.target, error=error, finished=time.time(), progress=0)
            if failed and mail:
                _queue_apology(db, job_id)

    def result_tmp(self, job_id: str) -> Path:
        """Where a finished painting is written before ``publish_result`` decides whether it may be published."""
        return self.tmp_dir / f"{job_id}-{secrets.token_hex(6)}.jpg"

    def publish_result(self, job_id: str, tmp: Path, engine_seconds: float, mail: bool) -> bool:
        """Publish a painting all or nothing: under the store's lock and in one transaction, if the job is still
        running, move ``tmp`` to ``jobs/<id>/result.jpg``, mark the job done and (``mail``) queue its mail.

        A job cancelled or erased while it was painted (``erase`` changes the state first, under the same lock)
        is not running any more: ``tmp`` is deleted and the answer is False. Never creates the job's folder.
        """
        try:
            with self._transaction() as db:
                done = _move(
                    db,
                    job_id,
                    FINISH.sources,
                    FINISH.target,
                    error=None,
                    finished=time.time(),
                    progress=1.0,
                    engine_seconds=engine_seconds,
                )
                if done:
                    tmp.rename(self.folder(job_id) / "result.jpg")  # the folder must be there: never made here
                    if mail:
                        db.execute(
                            "INSERT OR IGNORE INTO outbox (job_id, status, next_attempt) VALUES (?, 'pending', ?)",
                            (job_id, time.time()),
                        )
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if not done:
            tmp.unlink(missing_ok=True)
        return bool(done)

    def requeue_lost_mail(self) -> int:
        """At start-up: queue the mail of done jobs that have an address but no outbox row (a database written
        by a version that finished a job and queued its mail in two steps, and crashed between them)."""
        with self._lock:
            return self._db.execute(
                "INSERT INTO outbox (job_id, status, next_attempt) SELECT id, 'pending', ? FROM jobs"
                " WHERE state=? AND email IS NOT NULL AND id NOT IN (SELECT job_id FROM outbox)",
                (time.time(), JobState.done),
            ).rowcount

    def requeue(self, job_id: str) -> None:
        """Its painter gives it back (an outage, a stop): that painting is not one that never finished, so it is
        not counted towards giving the job up (as on NATS)."""
        with self._transaction() as db:
            if _move(db, job_id, REQUEUE.sources, REQUEUE.target, progress=0):
                db.execute("UPDATE jobs SET deliveries=MAX(deliveries-1, 0) WHERE id=?", (job_id,))

    def requeue_running(self) -> int:
        """After a crash or shutdown: anything that was running starts again from the queue, except a job whose
        painting has started ``max_deliveries`` times already: it may be what stopped this process each time, so
        it is given up (the dead letter of the NATS store) and its visitor gets an apology."""
        rows = self._exec(
            "SELECT id, deliveries FROM jobs WHERE state=? AND deliveries>=?", (JobState.running, self.max_deliveries)
        )
        for job_id, deliveries in rows:
            self._give_up(job_id, deliveries)
        with self._lock:
            return _move(self._db, None, REQUEUE.sources, REQUEUE.target, progress=0)

    def _give_up(self, job_id: str, deliveries: int) -> None:
        error = f"the painting failed {deliveries} times (the painter stopped each time); the job was given up"
        with self._transaction() as db:
            if _move(db, job_id, GIVE_UP.sources, GIVE_UP.target, error=error, finished=time.time(), progress=0):
                _queue_apology(db, job_id)
        for name in ("portrait.png", "style.png"):  # nobody will paint it: the photos go now, not at retention
            (self.folder(job_id) / name).unlink(missing_ok=True)
        log.error("job %s given up after %d paintings that never finished", job_id, deliveries)

    def position(self, job: Job) -> int:
        rows = self._exec(
            "SELECT COUNT(*) FROM jobs WHERE state=? AND method=? AND created<?",
            (JobState.queued, job.method, job.created),
        )
        return int(rows[0][0])

    def depth(self) -> dict[str, int]:
        rows = self._exec(
            "SELECT method, COUNT(*) FROM jobs WHERE state IN (?,?) GROUP BY method",
            (JobState.queued, JobState.running),
        )
        return {**dict.fromkeys(LANES, 0), **{r[0]: r[1] for r in rows}}

    def cancel(self, job_id: str) -> None:
        with self._lock:
            _move(self._db, job_id, CANCEL.sources, CANCEL.target, finished=time.time())

    def erase(self, job_id: str, expire: bool = False) -> None:
        """Delete every piece of personal data of a job; the row keeps only what statistics need.

        The row changes first, in one transaction under the lock, so a painting still in flight can no longer
        be published (``publish_result``); then the folder goes. Run ``checkpoint`` after a round of erasures.
        """
        with self._transaction() as db:
            if expire:
                _move(db, job_id, EXPIRE.sources, EXPIRE.target)
            db.execute(
                "UPDATE jobs SET email=NULL, request_hash=NULL, download_code=NULL, wall=0 WHERE id=?", (job_id,)
            )
            db.execute("DELETE FROM outbox WHERE job_id=? AND status!='sent'", (job_id,))
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def cancel_and_erase(self, job_id: str) -> None:
        self.cancel(job_id)
        self.erase(job_id)
        self.checkpoint()

    def expire(self, before: float) -> list[str]:
        expired = self.expired(before)
        for job_id in expired:
            self.erase(job_id, expire=True)
        self.checkpoint()
        return expired

    def checkpoint(self) -> None:
        """Move the write-ahead log into jobs.db and empty it: erased addresses stay in ``jobs.db-wal`` until
        then (in jobs.db, ``secure_delete`` has overwritten them)."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def wall_jobs(self, limit: int, since: float) -> list[Job]:
        rows = self._exec(
            "SELECT * FROM jobs WHERE state=? AND wall=1 AND created>=? ORDER BY finished DESC LIMIT ?",
            (JobState.done, since, limit),
        )
        return [_job(r) for r in rows]

    def expired(self, before: float) -> list[str]:
        marks = ",".join("?" * len(EXPIRE.sources))
        rows = self._exec(f"SELECT id FROM jobs WHERE created<? AND state IN ({marks})", (before, *EXPIRE.sources))
        return [r[0] for r in rows]

    # -- outbox ---------------------------------------------------------------------------------------

    def due_mail(self, now: float, limit: int = 10) -> list[MailTask]:
        rows = self._exec(
            "SELECT job_id, attempts, kind, uncertain FROM outbox WHERE status='pending' AND next_attempt<=?"
            " ORDER BY next_attempt LIMIT ?",
            (now, limit),
        )
        return [MailTask(row["job_id"], row["attempts"], row["kind"], row["uncertain"]) for row in rows]

    def mail_sent(self, job_id: str) -> None:
        self._exec("UPDATE outbox SET status='sent', sent_at=?, last_error=NULL WHERE job_id=?", (time.time(), job_id))

    def mail_failed(self, job_id: str, error: str, next_attempt: float, give_up: bool, uncertain: bool = False) -> None:
        status = ("uncertain" if uncertain else "failed") if give_up else "pending"
        self._exec(
            "UPDATE outbox SET attempts=attempts+1, uncertain=uncertain+?, last_error=?, next_attempt=?, status=?"
            " WHERE job_id=?",
            (int(uncertain), error, next_attempt, status, job_id),
        )

    def mail_released(self, job_ids: list[str]) -> None:
        pass  # their rows are still pending and due

    def mail_status(self, job_id: str) -> str:
        rows = self._exec("SELECT status FROM outbox WHERE job_id=?", (job_id,))
        return rows[0][0] if rows else "none"

    def mail_attempts(self, job_id: str) -> int:
        rows = self._exec("SELECT attempts FROM outbox WHERE job_id=?", (job_id,))
        return int(rows[0][0]) if rows else 0

    # -- one process: nothing to share ----------------------------------------------------------------

    def capacity(self) -> dict[str, LaneCapacity] | None:
        return None  # the runner of this process measures its own

    def report_capacity(self, seconds_per_job: dict[str, float], lanes: dict[str, int]) -> None:
        pass

    def broadcast(self, event: dict[str, Any]) -> None:
        pass

    def listen(self, handler: Callable[[dict[str, Any]], None]) -> None:
        pass


def _move(
    db: sqlite3.Connection,
    job_id: str | None,
    sources: JobState | Collection[JobState],
    target: JobState,
    **fields: Any,
) -> int:
    """Compare and set, on the caller's connection and under its lock: the job ``job_id`` (every job if None) moves
    to ``target`` with ``fields`` written if it is in one of ``sources``; how many moved. Raises
    ``IllegalTransition`` (nothing written) if the lifecycle has no such transition."""
    sources = check(sources, target)
    columns = ", ".join(f"{column}=?" for column in ("state", *fields))  # names from this module, never a request
    where = f"state IN ({','.join('?' * len(sources))})" + (" AND id=?" if job_id is not None else "")
    args = (target, *fields.values(), *sources, *((job_id,) if job_id is not None else ()))
    return db.execute(f"UPDATE jobs SET {columns} WHERE {where}", args).rowcount


def _queue_apology(db: sqlite3.Connection, job_id: str) -> None:
    """In the caller's transaction: the apology of a job that failed, once (the outbox has one row per job), if
    its visitor gave an address."""
    db.execute(
        "INSERT OR IGNORE INTO outbox (job_id, status, next_attempt, kind) SELECT id, 'pending', ?, 'failed'"
        " FROM jobs WHERE id=? AND email IS NOT NULL",
        (time.time(), job_id),
    )


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)


class AsyncStore:
    """``AsyncJobBackend`` for the SQLite store: each call runs on the store's own threads, never on the event
    loop's shared pool, which stays free for decoding uploads (and a slow disk holds up store calls alone)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="sqlite-store")

    async def _run(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(call, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True)  # calls under way finish before the database closes

    async def create(self, **job: Unpack[NewJob]) -> tuple[Job, bool]:
        return await self._run(self.store.create, **job)

    async def get(self, job_id: str) -> Job | None:
        return await self._run(self.store.get, job_id)

    async def by_idempotency_key(self, kiosk: str, key: str) -> Job | None:
        return await self._run(self.store.by_idempotency_key, kiosk, key)

    async def by_download_code(self, code: str) -> Job | None:
        return await self._run(self.store.by_download_code, code)

    # the rate limit, readiness and capacity are in memory here: nothing to hand to a thread

    async def reserve_place(self, kiosk: str, limit: int, now: float) -> float:
        return self.store.reserve_place(kiosk, limit, now)

    async def release_place(self, kiosk: str, place: float) -> None:
        self.store.release_place(kiosk, place)

    async def readiness(self) -> str | None:
        return self.store.readiness()

    async def position(self, job: Job) -> int:
        return await self._run(self.store.position, job)

    async def depth(self) -> dict[str, int]:
        return await self._run(self.store.depth)

    async def mail_status(self, job_id: str) -> str:
        return await self._run(self.store.mail_status, job_id)

    async def result(self, job_id: str) -> bytes | None:
        return await self._run(self.store.result, job_id)

    async def cancel_and_erase(self, job_id: str) -> None:
        await self._run(self.store.cancel_and_erase, job_id)

    async def expire(self, before: float) -> list[str]:
        return await self._run(self.store.expire, before)

    async def wall_jobs(self, limit: int, since: float) -> list[Job]:
        return await self._run(self.store.wall_jobs, limit, since)

    async def capacity(self) -> dict[str, LaneCapacity] | None:
        return self.store.capacity()

    async def due_mail(self, now: float) -> list[MailTask]:
        return await self._run(self.store.due_mail, now)

    async def mail_sent(self, job_id: str) -> None:
        await self._run(self.store.mail_sent, job_id)

    async def mail_failed(
        self, job_id: str, error: str, next_attempt: float, give_up: bool, uncertain: bool = False
    ) -> None:
        await self._run(self.store.mail_failed, job_id, error, next_attempt, give_up, uncertain)
