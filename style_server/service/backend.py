"""The one interface between the service (routes, runner, mail outbox) and where jobs live.

Two implementations, chosen by ``PORTRAIT_BACKEND``:

- ``sqlite`` (``store.Store``, the default): one process holds everything; SQLite in WAL mode plus files.
- ``nats`` (``nats_backend.NatsStore``): stateless API nodes, GPU workers and mail workers share a NATS JetStream
  cluster: work-queue streams per lane and for mail, the Key-Value store for job state, a stream (or, for a large
  one, the Object Store) for images.

Routes, runner and outbox only ever call the methods of ``JobBackend``; they never know which one runs. It has two
faces. ``JobBackend`` itself is blocking: the painters' threads call it. Its ``aio`` (``AsyncJobBackend``) is what
the event loop awaits (routes, the mail outbox, retention): NATS answers there natively, on its connection's own
loop, and SQLite on a pool of threads of its own, so a store call never holds one of the loop's shared threads
(the ones that decode uploads and draw the event's frame; the frame's own store is awaited too). The
records they pass and the job lifecycle are in ``jobtypes``, below both stores; this module (the interface and the
factory) is above them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Unpack

from shared.protocol import JobState

from .jobtypes import Job, LaneCapacity, MailTask, NewJob

if TYPE_CHECKING:
    from ..config import Settings


class AsyncJobBackend(Protocol):
    """The event loop's face of a ``JobBackend``: the calls of the API side and of the mail outbox, awaited. Each
    does what the blocking method of the same name does (documented there)."""

    async def create(self, **job: Unpack[NewJob]) -> tuple[Job, bool]: ...
    async def get(self, job_id: str) -> Job | None: ...
    async def by_idempotency_key(self, kiosk: str, key: str) -> Job | None: ...
    async def by_download_code(self, code: str) -> Job | None: ...
    async def reserve_place(self, kiosk: str, limit: int, now: float) -> float: ...
    async def release_place(self, kiosk: str, place: float) -> None: ...
    async def readiness(self) -> str | None: ...
    async def position(self, job: Job) -> int: ...
    async def depth(self) -> dict[str, int]: ...
    async def mail_status(self, job_id: str) -> str: ...
    async def result(self, job_id: str) -> bytes | None: ...
    async def cancel_and_erase(self, job_id: str) -> None: ...
    async def expire(self, before: float) -> list[str]: ...
    async def wall_jobs(self, limit: int, since: float) -> list[Job]: ...
    async def capacity(self) -> dict[str, LaneCapacity] | None: ...
    async def due_mail(self, now: float) -> list[MailTask]: ...
    async def mail_sent(self, job_id: str) -> None: ...
    async def mail_failed(
        self, job_id: str, error: str, next_attempt: float, give_up: bool, uncertain: bool = False
    ) -> None: ...


class JobBackend(Protocol):
    """Job state, the lanes' queues, images, the mail queue and the events between processes."""

    # whether ``take`` itself waits for work (a NATS pull); else the runner waits for a wake-up
    waits_for_work: bool
    aio: AsyncJobBackend  # the same backend, for the event loop

    # -- the API side ---------------------------------------------------------------------------------
    def create(self, **job: Unpack[NewJob]) -> tuple[Job, bool]:
        """Queue a job with its images, atomically unless its kiosk's idempotency key is taken: (job, True), or
        (the key's holder, False). Replay or conflict is decided by the caller, ``creating.create_job``, alone."""

    def get(self, job_id: str) -> Job | None: ...
    def by_idempotency_key(self, kiosk: str, key: str) -> Job | None: ...
    def by_download_code(self, code: str) -> Job | None: ...
    def reserve_place(self, kiosk: str, limit: int, now: float) -> float:
        """Count a job of ``kiosk`` at ``now`` if fewer than ``limit`` count in the last minute, and return 0;
        else count nothing and return the seconds until a place frees. Every API node sees the same count."""

    def release_place(self, kiosk: str, place: float) -> None:
        """The job counted at ``place`` was refused (or was a replay): it no longer counts."""

    def readiness(self) -> str | None:
        """Why this node cannot accept a job now (the backend cannot be written), or None."""

    def position(self, job: Job) -> int:
        """Jobs of the same lane waiting before this queued one."""

    def depth(self) -> dict[str, int]:
        """Jobs queued or running, per lane (the 503 back-pressure and the ETA of a new job)."""

    def mail_status(self, job_id: str) -> str: ...
    def result(self, job_id: str) -> bytes | None:
        """The finished painting (JPEG), or None."""

    def cancel_and_erase(self, job_id: str) -> None:
        """Cancel the job (if it has not ended) and erase every piece of its personal data."""

    def expire(self, before: float) -> list[str]:
        """Erase every job created before ``before`` (retention); the ids erased."""

    def wall_jobs(self, limit: int, since: float) -> list[Job]:
        """The latest ``limit`` done jobs created after ``since`` whose visitors agreed to the wall, newest
        first."""

    def capacity(self) -> dict[str, LaneCapacity] | None:
        """The workers' measured throughput per lane, where workers run in other processes; else None."""

    # -- the workers ----------------------------------------------------------------------------------
    def take(self, method: str, limit: int, window: float) -> list[Job]:
        """Claim up to ``limit`` queued jobs of a lane (now running); waits ``window`` s for a batch to fill."""

    def inputs(self, job: Job) -> tuple[bytes, bytes | None]:
        """The job's portrait and its own style image (PNG)."""

    def set_progress(self, job_id: str, progress: float) -> None: ...
    def move(self, job_id: str, sources: JobState | Collection[JobState], target: JobState, **fields: Any) -> bool:
        """Compare and set: a job in one of ``sources`` goes to ``target`` (with ``fields`` written); False if it
        is in another state (it moved on). ``IllegalTransition``, and nothing written, if ``jobtypes.TRANSITIONS``
        has no way from a source to ``target``."""

    def result_tmp(self, job_id: str) -> Path:
        """A private temporary file to write a painting to before ``publish_result``."""

    def publish_result(self, job_id: str, tmp: Path, engine_seconds: float, mail: bool) -> bool:
        """All or nothing, if the job still runs: the painting kept, the job done, its mail queued. Else False
        and nothing kept. ``tmp`` is gone afterwards either way."""

    def fail(self, job_id: str, error: str, mail: bool = True) -> None:
        """A running job failed: marked failed and (``mail``, and it has an address) its apology queued, once."""

    def requeue(self, job_id: str) -> None:
        """A running job goes back to the queue (a graceful shutdown)."""

    def requeue_running(self) -> int:
        """Every job this process was running goes back to the queue; how many."""

    def report_capacity(self, seconds_per_job: dict[str, float], lanes: dict[str, int]) -> None:
        """A worker says what it measured (read by the API nodes' ``capacity``)."""

    # -- mail -----------------------------------------------------------------------------------------
    def requeue_lost_mail(self) -> int:
        """Queue the mail of finished jobs that have none queued (after a crash); how many."""

    def due_mail(self, now: float) -> list[MailTask]: ...
    def mail_sent(self, job_id: str) -> None:
        """Recorded before anything else: a mail is sent at most once per job (one Message-ID)."""

    def mail_failed(self, job_id: str, error: str, next_attempt: float, give_up: bool, uncertain: bool = False) -> None:
        """An attempt failed: due again at ``next_attempt``, or never (``give_up``: status failed, or uncertain
        if ``uncertain``). ``uncertain``: it may have been delivered; counted in ``MailTask.uncertain``."""

    def mail_released(self, job_ids: list[str]) -> None:
        """Mails from ``due_mail`` handed back unsent (the store could not be reached mid-pass): due again soon.
        Never blocks: it is called when the store may be unreachable."""

    # -- between processes ----------------------------------------------------------------------------
    def broadcast(self, event: dict[str, Any]) -> None:
        """Tell every other process (job events for SSE streams, cancels for workers); a no-op in one process."""

    def listen(self, handler: Callable[[dict[str, Any]], None]) -> None:
        """Call ``handler`` (in worker threads, maybe two at once: it must be thread-safe) with every other
        process's ``broadcast``."""

    def close(self) -> None: ...


def open_backend(settings: Settings, name: str) -> JobBackend:
    """The backend the settings choose; ``name`` tells the other processes who this one is (logs, capacity)."""
    if settings.storage.backend == "nats":
        from .nats_backend import NatsStore

        return NatsStore(settings, name)
    from .store import Store

    return Store(settings.storage.data_dir, settings.storage.max_deliveries)
