"""The gallery's previews: ``POST /v1/previews``, the kept photo in, its face in every style out, tile by tile."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from shared.protocol import (
    PREVIEW_MAX_BYTES,
    PREVIEW_MEDIA_TYPES,
    PREVIEWS_MEDIA_TYPE,
    PREVIEWS_PATH,
    PreviewRequest,
    StylePreview,
)

from ..previews import decode_photo, preview_lines, read_photo, stream
from . import ERRORS, Kiosk, ServiceDep

log = logging.getLogger("style_server.api")
router = APIRouter()

BODY = {
    "required": True,
    "description": f"The kept photo itself, at most {PREVIEW_MAX_BYTES // 1_000_000} MB. It is painted in memory "
    "and forgotten when the answer is sent: never stored, queued or logged.",
    "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in PREVIEW_MEDIA_TYPES},
}
ANSWER = {
    "description": f"One `StylePreview` as JSON a line ({PREVIEWS_MEDIA_TYPE}), each sent as soon as its forward "
    "pass is done: the palettes in one pass, the paintings in small ones. A style whose pass failed is left out.",
    "content": {PREVIEWS_MEDIA_TYPE: {"schema": StylePreview.model_json_schema()}},
}


@router.post(
    PREVIEWS_PATH,
    response_class=StreamingResponse,
    responses={200: ANSWER, **ERRORS},
    openapi_extra={"requestBody": BODY},
)
async def previews(
    request: Request, s: ServiceDep, kiosk: Kiosk, query: Annotated[PreviewRequest, Query()]
) -> StreamingResponse:
    painter = s.engine.gallery
    cards = painter.cards(query.styles)  # an unknown style: 422 before anything is read or counted
    place = await s.preview_limiter.reserve(kiosk)
    try:
        photo = await asyncio.to_thread(decode_photo, await read_photo(request))
    except BaseException:
        await s.preview_limiter.release(kiosk, place)  # only previews painted count
        raise
    lines = preview_lines(painter, photo, cards, query.side)
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return StreamingResponse(stream(lines), media_type=PREVIEWS_MEDIA_TYPE, headers=headers)
