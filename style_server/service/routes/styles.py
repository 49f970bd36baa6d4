"""The style catalogue: ``GET /v1/styles`` and each style's thumbnail."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from shared.protocol import API_PREFIX, StyleInfo, StyleList

from ..security import kiosk_for
from . import ERRORS, Authorization, ServiceDep

router = APIRouter(prefix=f"{API_PREFIX}/styles")


@router.get("", response_model=StyleList, responses=ERRORS)
async def styles(s: ServiceDep, authorization: Authorization = None) -> StyleList:
    kiosk_for(authorization, s.settings.api_keys)
    cards = [
        StyleInfo(
            id=c.id,
            name=c.name,
            artist=c.artist,
            names=c.names,
            artists=c.artists,
            year=c.year,
            licence=c.licence,
            kind=c.kind,
            methods=c.methods,
            attribution=c.attribution,
            thumbnail_url=f"{API_PREFIX}/styles/{c.id}/thumbnail",
        )
        for c in s.engine.catalogue
    ]
    eta = {m: round(s.runner.new_job_eta(m), 1) for m in s.runner.average_seconds}  # queue ahead included
    return StyleList(styles=cards, eta_seconds=eta, retention_hours=s.settings.retention_hours)


@router.get("/{style_id}/thumbnail", response_class=FileResponse, responses=ERRORS)
async def thumbnail(style_id: str, s: ServiceDep) -> FileResponse:
    card = next((c for c in s.engine.catalogue if c.id == style_id), None)
    if card is None:
        raise HTTPException(404, f"unknown style {style_id!r}")
    return FileResponse(card.path(card.thumbnail), media_type="image/jpeg")
