"""Live job events for the SSE streams: the runner publishes, every open stream has its own queue.

Publishers are the worker threads (progress, previews, a job claimed or ended) and the service's events threads
(a job cancelled or expired). A status is read from the store once per change, by the publisher, and pushed to every
stream watching that job through ``loop.call_soon_threadsafe``: no stream polls the database.

With a shared backend (NATS) the painters run in other processes: every publish is also relayed to the other
processes (``relay``), whose streams get it through ``apply``. A relayed change, preview, give-back or end carries
the job's status, read once by the publisher: the API node that forwards it reads nothing. Statuses carry their
download link as a path; each node puts its own public address in front as it pushes (a worker knows none). A
refresh (the queue moved up) carries each lane's head, the last of its messages handed to a painter: a node places
every queued job watched on it from that and the job's own place in the lane, both known, again without a read.

The latest preview of a running masterpiece is kept for a stream that opens late, and dropped as soon as the job
ends, fails, is cancelled or erased, or goes back to the queue: previews show faces.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

from shared.protocol import JobEvent, JobState, JobStatus

from .downloads import absolute_link
from .jobtypes import BackendUnavailable, place_in_lane

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
        public_url: str | None = None,
        reposition: Callable[[JobStatus, int], JobStatus] | None = None,
    ) -> None:
        self.describe = describe  # job id -> its current status (from the store), None once it is gone
        self.reposition = reposition  # a queued job's status at another place in the queue (its wait with it)
        self.relay = relay  # tells the other processes (a shared backend); None: this process is all there is
        self.public_url = public_url  # in front of the download links this node's streams are sent
        self.previews: dict[str, str] = {}  # job id -> its latest preview (base64 JPEG), while it runs
        self.on_ended: list[Callable[[str], None]] = []  # told of every job that ended, here or elsewhere (the wall)
        self._streams: dict[str, set[asyncio.Queue[JobEvent]]] = {}
        # watched queued jobs: their place in the lane (None: not known when read) and the last status sent
        self._places: dict[str, tuple[int | None, JobStatus]] = {}
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
                    self._places.pop(job_id, None)

    def watched(self, job_id: str) -> bool:
        return job_id in self._streams

    def placed(self, job_id: str, seq: int | None, status: JobStatus) -> None:
        """A queued job's status was read as a stream opened (or read again), and its message is ``seq`` in its
        lane: if it is watched here, a refresh that carries its lane's head places it without reading it again.
        From then on the status kept is the last one sent (a poll's read is not)."""
        with self._lock:
            if job_id in self._streams and self._places.get(job_id, (None,))[0] is None:
                self._places[job_id] = (seq, status)

    # -- publishers (any thread) ---------------------------------------------------------------------

    def apply(self, event: dict[str, Any]) -> None:
        """An event another process relayed: this process's streams get it (it is not relayed again). The status
        it carries is forwarded as it is; an event without one (an end made by the store, a dead letter, or one
        sent by a node of an older version) is read here."""
        kind = event.get("kind")
        if kind == "changed":
            for job_id, status in (event.get("statuses") or dict.fromkeys(event.get("ids", []))).items():
                if self.watched(job_id):  # every node hears every change: the others cost a lookup, no parse
                    self._forward(job_id, _carried(status))
        elif kind == "refresh":
            self._moved(event.get("heads"))
        elif kind == "preview":
            self._preview(event["id"], event["jpeg"], _carried(event.get("status")))
        elif kind == "given_back":
            self.forget(event["id"])
            self._forward(event["id"], _carried(event.get("status")))
        elif kind == "ended":
            self.forget(event["id"])
            if "status" in event:  # None: the job is gone (erased)
                self._forward(event["id"], _carried(event["status"]), read=False)
            else:  # ended by the store itself (a dead letter): read here
                self._forward(event["id"], None)
            self._tell_ended(event["id"])

    def _send(self, event: dict[str, Any]) -> None:
        if self.relay is not None:
            self.relay(event)

    def changed(self, *job_ids: str) -> None:
        """These jobs changed (state, progress, queue position): their streams get the new status, here and in the
        other processes (read once, here)."""
        statuses = {job_id: self._status_to_tell(job_id) for job_id in job_ids}
        self._send({"kind": "changed", "statuses": {i: _wire(status) for i, status in statuses.items()}})
        for job_id, status in statuses.items():
            self._forward(job_id, status)

    def _status_to_tell(self, job_id: str) -> JobStatus | None:
        """The job's status if anybody will hear it (another process, or a stream here); None: nobody, or gone."""
        if self.describe is None or (self.relay is None and not self.watched(job_id)):
            return None
        return self.describe(job_id)

    def _forward(self, job_id: str, status: JobStatus | None, read: bool = True) -> None:
        """The job's streams here get ``status`` (``read``: read now if the event carried none)."""
        if not self.watched(job_id):
            return
        if status is None and read and self.describe is not None:
            status = self.describe(job_id)
        if status is not None:
            self._keep_place(job_id, status)
            self._push(job_id, event_for(status))

    def _keep_place(self, job_id: str, status: JobStatus) -> None:
        with self._lock:
            if status.state != JobState.queued:
                self._places.pop(job_id, None)
            elif (place := self._places.get(job_id)) is not None:
                self._places[job_id] = (place[0], status)

    def _changed(self, *job_ids: str) -> None:
        for job_id in job_ids:
            self._forward(job_id, None)

    def refresh(self, heads: dict[str, int] | None = None) -> None:
        """Something that moves queue positions happened (a claim, a cancel): every watched job gets its status.
        ``heads``: per lane, the last message handed to a painter (NATS; see the module's description); without
        them every watched job is read again."""
        self._send({"kind": "refresh", "latest_only": True, **({"heads": heads} if heads else {})})
        self._moved(heads)  # here; the other processes merge a burst of them into one (coordination.py)

    def _moved(self, heads: dict[str, int] | None) -> None:
        if not heads or self.reposition is None:
            self._changed(*self._watched())
            return
        with self._lock:
            places = list(self._places.items())
        for job_id, (seq, status) in places:
            head = heads.get(status.method)
            if head is None:
                continue
            if seq is None or status.position is None:  # its place in the lane was not known: read it
                self._forward(job_id, None)
                continue
            position = place_in_lane(seq, head)
            if position < status.position:  # a queue only moves up: a head heard late is an old one
                self._forward(job_id, self.reposition(status, position), read=False)

    def _watched(self) -> list[str]:
        with self._lock:
            return list(self._streams)

    def preview(self, job_id: str, jpeg_base64: str) -> None:
        """A new masterpiece preview: kept for late streams while the job runs, pushed to the open ones, and
        relayed with the status read for it here (only while the job runs)."""
        if (status := self._preview(job_id, jpeg_base64)) is not None:
            self._send({"kind": "preview", "id": job_id, "jpeg": jpeg_base64, "status": _wire(status)})

    def _preview(self, job_id: str, jpeg_base64: str, status: JobStatus | None = None) -> JobStatus | None:
        """Keep and show the preview if the job runs; the status that says so, else None. Here the status is read
        under the lock (``status`` None): a preview that races a cancel is never kept after it. A relayed one
        carries its status, and its end comes after it on the same ordered line."""
        if self.describe is None:
            return None
        with self._preview_lock:  # against ended()
            status = status or self.describe(job_id)
            if status is None or status.state != JobState.running:
                return None
            self.previews[job_id] = jpeg_base64
        if self.watched(job_id):
            self._push(job_id, event_for(status, jpeg_base64))
        return status

    def forget(self, job_id: str) -> None:
        """Drop the job's preview (a face)."""
        with self._preview_lock:
            self.previews.pop(job_id, None)

    def given_back(self, job_id: str) -> None:
        """Its painter gave the job back to the queue: every node drops that painting's preview (a face), and its
        streams here and elsewhere hear its status now (waiting again, or already taken again from the start),
        read once, here."""
        self.forget(job_id)
        status = self._status_to_tell(job_id)
        self._send({"kind": "given_back", "id": job_id, "status": _wire(status)})
        self._forward(job_id, status, read=False)

    def ended(self, job_id: str) -> None:
        """The job is over (done, failed, cancelled, expired): drop its preview, tell its streams here and in the
        other processes, with its last status (read once, here; None once the job is erased). Should that read
        fail, the end goes without it and each node that watches the job reads it."""
        self.forget(job_id)
        try:
            status = self._status_to_tell(job_id)
        except BackendUnavailable:
            self._send({"kind": "ended", "id": job_id})
        else:
            self._send({"kind": "ended", "id": job_id, "status": _wire(status)})
            self._forward(job_id, status, read=False)
        self._tell_ended(job_id)

    def _tell_ended(self, job_id: str) -> None:
        for listener in self.on_ended:
            listener(job_id)

    def _push(self, job_id: str, event: JobEvent) -> None:
        if (path := event.status.download_url) is not None and path.startswith("/"):
            link = absolute_link(self.public_url, path)
            event = event.model_copy(update={"status": event.status.model_copy(update={"download_url": link})})
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


def _wire(status: JobStatus | None) -> dict[str, Any] | None:
    return status.model_dump(mode="json") if status is not None else None


def _carried(status: dict[str, Any] | None) -> JobStatus | None:
    return JobStatus.model_validate(status) if status is not None else None
