"""The gallery wall: ``GET /wall`` (the page), ``/wall/events`` (its live stream), ``/wall/portraits/{id}.jpg``.

Each needs the wall token (``?token=``, ``PORTRAIT_WALL_TOKEN``), except on a server that listens on loopback only
and has none set. Left out of the API schema: they are a page for a browser, not part of ``/v1``.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from ..frame_store import framed
from ..service import Service
from ..wall import WALL_PATH, wall_refusal
from ..wall_page import PAGE
from . import ServiceDep

router = APIRouter(prefix=WALL_PATH, include_in_schema=False)
PORTRAIT_ID = re.compile(r"[0-9a-f]{32}")
PRIVATE = {  # nothing of the wall is kept by a browser or a proxy, indexed, or told where it came from
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
}
PAGE_POLICY = (
    "default-src 'none'; img-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


async def wall_viewer(s: ServiceDep, token: Annotated[str | None, Query()] = None) -> Service:
    """The service, if the request may see the wall (its token, or a loopback-only server without one)."""
    if refusal := wall_refusal(s.settings, token):
        raise HTTPException(*refusal)
    return s


WallViewer = Annotated[Service, Depends(wall_viewer)]


@router.get("", response_class=HTMLResponse)
async def wall_page(_: WallViewer) -> HTMLResponse:
    return HTMLResponse(PAGE, headers={**PRIVATE, "Content-Security-Policy": PAGE_POLICY})


@router.get("/events")
async def wall_events(s: WallViewer) -> StreamingResponse:
    return StreamingResponse(
        s.wall.stream(), media_type="text/event-stream", headers={**PRIVATE, "X-Accel-Buffering": "no"}
    )


@router.get("/portraits/{portrait_id}.jpg", response_class=Response)
async def wall_portrait(portrait_id: str, s: WallViewer) -> Response:
    job = await s.wall.job_for(portrait_id) if PORTRAIT_ID.fullmatch(portrait_id) else None
    jpeg = await s.store.aio.result(job.id) if job is not None else None
    if jpeg is None:
        raise HTTPException(404, "not on the wall (any more)")
    # as it is mailed: in the event's frame
    return Response(await framed(s.frames, jpeg), media_type="image/jpeg", headers=PRIVATE)
