"""``GET /v1/download/{code}``: the painting on the visitor's phone, through the link of the kiosk's QR code.

No API key: the unguessable code is the credential, and it opens one painting only.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from shared.protocol import API_PREFIX, ErrorBody

from ..downloads import downloadable
from ..frame_store import framed
from . import ServiceDep

router = APIRouter(prefix=f"{API_PREFIX}/download")
GONE = "no such download: the link is wrong, or the painting has been erased"


@router.get(
    "/{code}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": ErrorBody}},
)
async def download(code: str, s: ServiceDep) -> Response:
    jpeg = await downloadable(s.settings, s.store.aio, code)
    if jpeg is None:
        raise HTTPException(404, GONE)
    return Response(
        await framed(s.frames, jpeg),
        media_type="image/jpeg",
        headers={
            "Content-Disposition": 'inline; filename="portrait.jpg"',
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex",
        },
    )
