"""``Service``: everything one running server holds (store, runner, events, mail, limits), shared by the routes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from fastapi import HTTPException

from shared.lanes import MASTERPIECE
from shared.protocol import API_PREFIX, JobState, JobStatus

from ..config import Settings
from ..engine.runtime import Engine
from .backend import JobBackend, open_backend
from .creating import Created, Submission, create_job
from .downloads import download_path, download_url
from .events import JobEvents
from .frame_store import open_frame_store
from .jobtypes import TERMINAL, Job
from .mailer import MailOutbox
from .metrics import Metrics
from .runner import Runner
from .security import RateLimiter, same_secret
from .wall import Wall

log = logging.getLogger("style_server.api")


class Service:
    """Everything one running server holds."""

    def __init__(
        self, settings: Settings, engine: Engine, store: JobBackend | None = None, streams: bool = True
    ) -> None:
        self.settings, self.engine = settings, engine
        # False for a worker process: no SSE streams of its own, so other processes' events (a status read for
        # each, and previews, which show faces) are none of its business; cancels still reach its painters
        self.streams = streams
        self.store = store or open_backend(settings, "api")
        self.metrics = Metrics()
        self.events = JobEvents(
            partial(self.status_of_blocking, link_path=True),
            relay=self.store.broadcast,
            public_url=settings.server.public_url,
            reposition=self._repositioned,
        )
        # events the event loop makes (a cancel, a retention pass): two lines, so a cancel never waits for a pass
        self._telling = ThreadPoolExecutor(2, thread_name_prefix="events")
        self.store.listen(self._heard)
        self.runner = Runner(settings, engine, self.store, self.metrics, self.events)
        self.wall = Wall(settings, self.store, self.events)
        self.frames = open_frame_store(settings, self.store)  # the event frame, as every node sees it
        self.outbox = MailOutbox(settings, self.store, engine.catalogue, self.metrics, self.frames)
        self.limiter = RateLimiter(settings.security.rate_limit_per_minute, self.store.aio)
        self.preview_limiter = RateLimiter(settings.security.rate_limit_per_minute, self.store.aio, what="previews")
        self.ready = False

    async def create_job(self, submission: Submission) -> Created:
        """Queue a kiosk's job, or answer its retry as the first time; raises ``Refused`` or ``EngineError``."""
        return await create_job(self, submission)

    async def status(self, job: Job) -> JobStatus:
        """What a kiosk is told of its job (the event loop's read of it). A mail is queued only as a job ends (the
        lifecycle table): before that there is none to read."""
        position = await self.store.aio.position(job) if job.state == JobState.queued else None
        mail = await self.store.aio.mail_status(job.id) if job.state in TERMINAL else "none"
        if job.state in (JobState.queued, JobState.running):
            await self.runner.refresh_capacity()  # the ETA's seconds per job, as the workers last measured them
        return self._status(job, position, mail, link_path=False)

    def status_blocking(self, job: Job, link_path: bool = False) -> JobStatus:
        """``status`` read in a thread (the events' publishers). ``link_path``: the download link below the
        server's address, as events carry it between processes (each API node puts its own in front)."""
        position = self.store.position(job) if job.state == JobState.queued else None
        mail = self.store.mail_status(job.id) if job.state in TERMINAL else "none"
        return self._status(job, position, mail, link_path)

    def _status(self, job: Job, position: int | None, mail: str, link_path: bool) -> JobStatus:
        status = JobStatus(
            id=job.id,
            state=job.state,
            method=job.method,
            style=job.style,
            progress=job.progress,
            position=position,
            eta_seconds=self._eta(job, position),
            error=job.error,
            email_status=mail,
            created_at=job.created,
            finished_at=job.finished,
            started_at=job.started,
            engine_seconds=round(job.engine_seconds, 4) if job.engine_seconds is not None else None,
            result_url=f"{API_PREFIX}/jobs/{job.id}/result" if job.state == JobState.done else None,
            download_url=download_path(job) if link_path else download_url(self.settings, job),
        )
        if job.state == JobState.queued:
            self.events.placed(job.id, job.seq, status)
        return status

    def _repositioned(self, status: JobStatus, position: int) -> JobStatus:
        """A queued job's status at its new place in the queue (``JobEvents``' refresh), no read needed."""
        eta = round(self.runner.wait(status.method, position), 1)
        return status.model_copy(update={"position": position, "eta_seconds": eta})

    async def status_of(self, job_id: str) -> JobStatus | None:
        job = await self.store.aio.get(job_id)
        return await self.status(job) if job is not None else None

    def status_of_blocking(self, job_id: str, link_path: bool = False) -> JobStatus | None:
        """``status_of`` read in a thread (the events' publishers)."""
        job = self.store.get(job_id)
        return self.status_blocking(job, link_path) if job is not None else None

    def _eta(self, job: Job, position: int | None) -> float | None:
        if position is not None:  # queued
            return round(self.runner.wait(job.method, position), 1)
        if job.state == JobState.running:
            return round(self.runner.capacity(job.method)[0] * (1 - job.progress), 1)
        return None

    async def job_for(self, job_id: str, token: str | None) -> Job:
        job = await self.store.aio.get(job_id)
        if job is None or not token or not same_secret(token, job.token):
            raise HTTPException(404, "no such job (or wrong token)")
        return job

    async def retention(self) -> None:
        while True:
            try:
                await self.expire_due()
            except Exception:  # the backend away for a while: the next pass erases what this one could not
                log.exception("retention pass failed; trying again at the next")
            await asyncio.sleep(min(60.0, self.settings.retention.retention_hours * 360))

    async def expire_due(self) -> None:
        """One retention pass: erase what is older than the promise. Run to its end once begun (shielded): an
        erased job whose painters and streams were never told would keep its preview, a face."""
        await asyncio.shield(self._expire_and_tell())

    async def _expire_and_tell(self) -> None:
        expired = await self.store.aio.expire(time.time() - self.settings.retention.retention_hours * 3600)
        for job_id in expired:
            log.info("job %s erased after retention", job_id)
        if expired:
            await self._tell(self._stopped, *expired)

    async def cancel_and_erase(self, job_id: str) -> None:
        """``DELETE /v1/jobs/{id}``, run to its end once begun (as ``expire_due``)."""
        await asyncio.shield(self._cancel_erase_and_tell(job_id))

    async def _cancel_erase_and_tell(self, job_id: str) -> None:
        self.runner.cancel(job_id)  # a masterpiece painting here stops now
        await self.store.aio.cancel_and_erase(job_id)
        await self._tell(self._stopped, job_id)

    async def _tell(self, tell: Callable[..., None], *job_ids: str) -> None:
        """Events of the event loop's making, told on the events' own thread: telling reads each watched job's
        status with the blocking store, as every publisher does."""
        await asyncio.get_running_loop().run_in_executor(self._telling, tell, *job_ids)

    def _stopped(self, *job_ids: str) -> None:
        """Jobs were cancelled or erased: whoever paints them stops, their streams hear they ended, and every
        stream hears the queue behind them moved up."""
        for job_id in job_ids:
            self.store.broadcast({"kind": "cancel", "id": job_id})
            self.events.ended(job_id)
        self.events.refresh()

    def close(self) -> None:
        """Blocking: events being told are told, then the backend closes."""
        self._telling.shutdown(wait=True)
        self.store.close()

    def _heard(self, event: dict) -> None:
        """Another process's news (shared backend only): a cancel for our painters, events for our streams."""
        if event.get("kind") == "cancel":
            self.runner.cancel(event["id"])
        elif self.streams:
            self.events.apply(event)

    async def warm_up(self, masterpieces: bool = True) -> None:
        """Ready to paint; a process that paints masterpieces also times the loss network for its first ETA (a
        fast-only worker never loads it)."""
        await asyncio.to_thread(self.engine.fast.warm_up)
        if masterpieces:
            await asyncio.to_thread(self._first_masterpiece_guess)
        self.ready = True

    def _first_masterpiece_guess(self) -> None:
        """Until this host has painted a masterpiece, the wait it announces (the kiosk's "about N min") comes from
        this host's own speed: one optimiser step timed and scaled to the server's masterpiece, not a constant."""
        from ..engine.params import make_params

        s, runner = self.settings, self.runner
        iterations = self.engine.masterpiece_iterations()
        params = make_params(size=s.engine.gatys_size, iterations=iterations, face_protect=True)
        seconds = self.engine.masterpiece_seconds(params)
        if runner.measured[MASTERPIECE.method] == 0:
            runner.average_seconds[MASTERPIECE.method] = seconds
