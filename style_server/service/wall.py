"""The gallery wall (``/wall``): the latest finished portraits of visitors who agreed to be shown, for a second
screen at the event.

Only jobs whose request carried ``wall`` (a consent of its own on the kiosk, never implied by the mail's) are
shown, and only while they are done and inside the retention promise. The page hears every change as server-sent
events: a job that ends here or in another process (done, failed, cancelled, erased, expired: ``JobEvents``'
``on_ended``) is looked at again and every open stream is told to add or remove it. Each stream also reads the
list again at every keep-alive, so an event lost between processes costs seconds, never a portrait left up.

Nothing the wall serves names anybody: a portrait is known by an opaque id (a hash of its job's secret token, the
same on every API node), never by its job id, and no address, name or style goes with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel

from shared.net import is_loopback
from shared.protocol import JobState

from ..config import Settings
from .backend import JobBackend
from .events import JobEvents
from .jobtypes import BackendUnavailable, Job
from .security import same_secret

log = logging.getLogger("style_server.wall")

WALL_PATH = "/wall"
QUEUE_SIZE = 256


class WallPortrait(BaseModel):
    """One portrait on the wall: an opaque id and where its picture is (the page adds its token)."""

    id: str
    url: str

    @classmethod
    def of(cls, job: Job) -> WallPortrait:
        portrait_id = wall_id(job.token)
        return cls(id=portrait_id, url=f"{WALL_PATH}/portraits/{portrait_id}.jpg")


class WallSnapshot(BaseModel):
    """The first event of a stream: what the wall shows now (newest first) and how."""

    portraits: list[WallPortrait]
    size: int
    cycle_seconds: float


def wall_id(job_token: str) -> str:
    """A portrait's id on the wall: derived from its job's 192-bit secret token, so every API node finds the
    same one, and no one learns the job (or its token) from it."""
    return hashlib.sha256(f"wall:{job_token}".encode()).hexdigest()[:32]


def wall_refusal(settings: Settings, token: str | None) -> tuple[int, str] | None:
    """Why a request for the wall that carries ``token`` is refused: (HTTP status, reason); None: it may see it."""
    if settings.security.wall_token is None:
        if is_loopback(settings.server.host):
            return None
        return 403, (
            "the gallery wall is off: a server that listens beyond this machine shows it only with a token; set "
            "PORTRAIT_WALL_TOKEN and open /wall?token=<token>"
        )
    if not token or not same_secret(token, settings.security.wall_token.get_secret_value()):
        return 401, "the gallery wall needs its token: open /wall?token=<PORTRAIT_WALL_TOKEN>"
    return None


class Wall:
    """The wall's portraits as the backend has them, and the live streams of the pages that show them."""

    def __init__(self, settings: Settings, store: JobBackend, events: JobEvents) -> None:
        self.settings, self.store = settings, store
        self._streams: set[asyncio.Queue[tuple[str, WallPortrait]]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._told: dict[str, str] = {}  # job id -> wall id of every portrait a stream may show
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="wall")  # in order, never in a painter's thread
        events.on_ended.append(self.ended)

    # -- what is on the wall (the event loop) ---------------------------------------------------------

    def _since(self) -> float:
        return time.time() - self.settings.retention.retention_hours * 3600

    def _shown(self, job: Job | None) -> bool:
        return job is not None and job.wall and job.state == JobState.done and job.created >= self._since()

    async def portraits(self) -> list[WallPortrait]:
        """The latest portraits for the wall, newest first."""
        latest = await self.store.aio.wall_jobs(self.settings.server.wall_size, self._since())
        jobs = [job for job in latest if self._shown(job)]
        with self._lock:
            self._told.update((job.id, wall_id(job.token)) for job in jobs)
        return [WallPortrait.of(job) for job in jobs]

    async def job_for(self, portrait_id: str) -> Job | None:
        """The job behind a wall id, if it is on the wall now; None otherwise."""
        job_id = self._told_job(portrait_id)
        if job_id is None:  # no stream of this API node was told of it (the page's stream is another node's)
            await self.portraits()
            job_id = self._told_job(portrait_id)
        job = await self.store.aio.get(job_id) if job_id is not None else None
        return job if self._shown(job) else None

    def _told_job(self, portrait_id: str) -> str | None:
        with self._lock:
            return next((job for job, told in self._told.items() if told == portrait_id), None)

    # -- changes (any thread; read with the blocking store on the wall's own thread) --------------------

    def ended(self, job_id: str) -> None:
        """A job ended: if a wall is open, it hears whether the portrait goes up or comes down."""
        if self._streams:
            with contextlib.suppress(RuntimeError):  # shut down: no wall listens any more
                self._worker.submit(self._look_again, job_id)

    def _look_again(self, job_id: str) -> None:
        try:
            job = self.store.get(job_id)
        except BackendUnavailable as exc:  # the streams' next read of the list catches up
            log.warning("the wall could not look at job %s: %s", job_id, exc)
            return
        if job is not None and self._shown(job):
            portrait = WallPortrait.of(job)
            with self._lock:
                self._told[job_id] = portrait.id
            self._push(("add", portrait))
            return
        with self._lock:
            gone = self._told.pop(job_id, None)
        if gone is not None:
            self._push(("remove", WallPortrait(id=gone, url="")))

    def _push(self, event: tuple[str, WallPortrait]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is listening
                loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: tuple[str, WallPortrait]) -> None:
        for queue in list(self._streams):
            if queue.full():  # a page that does not read: it catches up at its next read of the list
                queue.get_nowait()
            queue.put_nowait(event)

    # -- a page's stream (event loop) -----------------------------------------------------------------

    async def stream(self) -> AsyncIterator[str]:
        """Server-sent events: ``snapshot`` (the wall now), then ``add`` and ``remove`` as portraits come and
        go. At every keep-alive the list is read again and the difference sent."""
        self._loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, WallPortrait]] = asyncio.Queue(QUEUE_SIZE)
        self._streams.add(queue)  # before reading the list: nothing that happens next is missed
        try:
            portraits = await self.portraits()
            s = self.settings
            snapshot = WallSnapshot(
                portraits=portraits, size=s.server.wall_size, cycle_seconds=s.server.wall_cycle_seconds
            )
            yield _sse("snapshot", snapshot)
            shown = {portrait.id for portrait in portraits}
            while True:
                try:
                    kind, portrait = await asyncio.wait_for(queue.get(), timeout=s.server.sse_keepalive_seconds)
                except TimeoutError:
                    for event in await self._recheck(shown):
                        yield event
                    yield ": keep-alive\n\n"
                    continue
                if (kind == "add") != (portrait.id in shown):  # news to this page
                    (shown.add if kind == "add" else shown.discard)(portrait.id)
                    yield _sse(kind, portrait)
        finally:
            self._streams.discard(queue)

    async def _recheck(self, shown: set[str]) -> list[str]:
        """The events that bring a stream that showed ``shown`` up to date (``shown`` is updated)."""
        try:
            portraits = await self.portraits()
        except BackendUnavailable as exc:
            log.warning("the wall could not read its portraits: %s", exc)
            return []
        now = {portrait.id for portrait in portraits}
        events = [_sse("remove", WallPortrait(id=gone, url="")) for gone in sorted(shown - now)]
        events += [_sse("add", p) for p in reversed(portraits) if p.id not in shown]  # the newest last, on top
        shown.clear()
        shown.update(now)
        return events


def _sse(kind: str, data: BaseModel) -> str:
    """One event; a ``remove`` carries the id alone."""
    body = data.model_dump_json(include={"id"} if kind == "remove" else None)
    return f"event: {kind}\ndata: {body}\n\n"
