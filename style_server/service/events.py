"""Live job events for the SSE streams: the runner publishes, every open stream has its own queue.

Publishers are the worker threads (progress, previews, the end of a job) and the event loop (a job claimed,
cancelled or expired). A status is read from the store once per change, by the publisher, and pushed to every
stream watching that job through ``loop.call_soon_threadsafe``: no stream polls the database.

With a shared backend (NATS) the painters run in other processes: every publish is also relayed to the other
processes (``relay``), whose streams get it through ``apply``.

The latest preview of a running masterpiece is kept for a stream that opens late, and dropped as soon as the job
ends, fails, is cancelled or erased: previews show faces.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

from shared.protocol import JobEvent, JobState, JobStatus

QUEUE_SIZE = 64
EVENT_OF_STATE = {JobState.done: "done", JobState.failed: "failed", JobState.cancelled: "cancelled"}


def event_for(status: JobStatus, preview: str | None = None) -> JobEvent:
    """The event a status change is sent as (the same types kiosks have always seen)."""
    if preview is not None:
        return JobEvent(type="preview", status=status, preview_jpeg_base64=preview)
    if status.state == JobState.queued:
        return JobEvent(type="status", status=status)
    return JobEvent(type=EVENT_OF_STATE.get(status.state, "progress"), status=status)


class JobEvents:
    """In-process publish/subscribe of job events, safe to publish from any thread."""

    def __init__(
        self,
        describe: Callable[[str], JobStatus | None] | None = None,
        relay: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.describe = describe  # job id -> its current status (from the store), None once it is gone
        self.relay = relay  # tells the other processes (a shared backend); None: this process is all there is
        self.previews: dict[str, str] = {}  # job id -> its latest preview (base64 JPEG), while it runs
        self.on_ended: list[Callable[[str], None]] = []  # told of every job that ended, here or elsewhere (the wall)
        self._streams: dict[str, set[asyncio.Queue[JobEvent]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._preview_lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the streams run on (called once the server runs)."""
        self._loop = loop

    # -- streams (event loop only) -------------------------------------------------------------------

    def subscribe(self, job_id: str) -> asyncio.Queue[JobEvent]:
        queue: asyncio.Queue[JobEvent] = asyncio.Queue(QUEUE_SIZE)
        with self._lock:
            self._streams.setdefault(job_id, set()).add(queue)
        return queue

    def unsubscribe(self, job_id: str, queue: asyncio.Queue[JobEvent]) -> None:
        with self._lock:
            queues = self._streams.get(job_id)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._streams[job_id]

    def watched(self, job_id: str) -> bool:
        return job_id in self._streams

    # -- publishers (any thread) ---------------------------------------------------------------------

    def apply(self, event: dict[str, Any]) -> None:
        """An event another process relayed: this process's streams get it (it is not relayed again)."""
        kind = event.get("kind")
        if kind == "changed":
            self._changed(*event["ids"])
        elif kind == "refresh":
            self._changed(*self._watched())
        elif kind == "preview":
            self._preview(event["id"], event["jpeg"])
        elif kind == "ended":
            self.forget(event["id"])
            self._changed(event["id"])
            self._tell_ended(event["id"])

    def _send(self, event: dict[str, Any]) -> None:
        if self.relay is not None:
            self.relay(event)

    def changed(self, *job_ids: str) -> None:
        """These jobs changed (state, progress, queue position): their streams get the new status."""
        self._send({"kind": "changed", "ids": list(job_ids)})
        self._changed(*job_ids)

    def _changed(self, *job_ids: str) -> None:
        for job_id in job_ids:
            if self.watched(job_id) and self.describe and (status := self.describe(job_id)) is not None:
                self._push(job_id, event_for(status))

    def refresh(self) -> None:
        """Something that moves queue positions happened (a claim, a cancel): every watched job gets its status."""
        self._send({"kind": "refresh", "latest_only": True})  # a burst of them is read once (coordination.py)
        self._changed(*self._watched())

    def _watched(self) -> list[str]:
        with self._lock:
            return list(self._streams)

    def preview(self, job_id: str, jpeg_base64: str) -> None:
        """A new masterpiece preview: kept for late streams while the job runs, pushed to the open ones."""
        self._send({"kind": "preview", "id": job_id, "jpeg": jpeg_base64})
        self._preview(job_id, jpeg_base64)

    def _preview(self, job_id: str, jpeg_base64: str) -> None:
        if self.describe is None:
            return
        with self._preview_lock:  # against ended(): a preview that races a cancel is never kept after it
            status = self.describe(job_id)
            if status is None or status.state != JobState.running:
                return
            self.previews[job_id] = jpeg_base64
        if self.watched(job_id):
            self._push(job_id, event_for(status, jpeg_base64))

    def forget(self, job_id: str) -> None:
        """Drop the job's preview (a face)."""
        with self._preview_lock:
            self.previews.pop(job_id, None)

    def ended(self, job_id: str) -> None:
        """The job is over (done, failed, cancelled, expired): drop its preview, tell its streams."""
        self._send({"kind": "ended", "id": job_id})
        self.forget(job_id)
        self._changed(job_id)
        self._tell_ended(job_id)

    def _tell_ended(self, job_id: str) -> None:
        for listener in self.on_ended:
            listener(job_id)

    def _push(self, job_id: str, event: JobEvent) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._deliver(job_id, event)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is listening
                loop.call_soon_threadsafe(self._deliver, job_id, event)

    def _deliver(self, job_id: str, event: JobEvent) -> None:
        with self._lock:
            queues = list(self._streams.get(job_id, ()))
        for queue in queues:
            if queue.full():  # a stream that does not read: it misses old events, never the latest
                queue.get_nowait()
            queue.put_nowait(event)
