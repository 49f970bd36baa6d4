"""Live progress: ``GET /v1/jobs/{id}/events`` as server-sent events, pushed by the runner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from shared.protocol import API_PREFIX, JobEvent, JobState

from ..events import event_for
from ..jobtypes import TERMINAL
from ..service import Service
from . import ERRORS, ServiceDep, TokenJob

router = APIRouter()


@router.get(f"{API_PREFIX}/jobs/{{job_id}}/events", responses=ERRORS)
async def job_events(job: TokenJob, s: ServiceDep) -> StreamingResponse:
    return StreamingResponse(
        _events(s, job.id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(s: Service, job_id: str) -> AsyncIterator[str]:
    """One job's event stream: its current status first, then what the runner pushes, until the job ends.

    Idle streams get a keep-alive comment every ``sse_keepalive_seconds``: a kiosk that went away half-open is
    noticed at the next write, and a kiosk's read timeout tells it the server is gone.
    """
    queue = s.events.subscribe(job_id)  # before reading the status: nothing that happens next is missed
    try:
        status = await s.status_of(job_id)
        if status is None:
            return
        preview = s.events.previews.get(job_id)
        pending = [event_for(status, preview)] if preview else []
        pending.append(event_for(status))
        last: tuple | None = None
        while True:
            for event in pending:
                st = event.status
                if event.type != "preview":
                    key = (st.state, round(st.progress, 3), st.position, st.email_status)
                    # a queue only moves up: a place further back is older news (told on another thread)
                    order = (_STATE_ORDER.get(st.state, 2), st.progress, -(st.position or 0))
                    if last is not None and (key == last[0] or order < last[1]):
                        continue  # nothing new, or older than what this stream has already sent
                    last = (key, order)
                yield _sse(event)
                if st.state in TERMINAL and event.type != "preview":
                    return
            try:
                pending = [await asyncio.wait_for(queue.get(), timeout=s.settings.server.sse_keepalive_seconds)]
            except TimeoutError:
                pending = []
                yield ": keep-alive\n\n"
    finally:
        s.events.unsubscribe(job_id, queue)


_STATE_ORDER = {JobState.queued: 0, JobState.running: 1}


def _sse(event: JobEvent) -> str:
    return f"event: {event.type}\ndata: {event.model_dump_json()}\n\n"
