"""The style catalogue: ``GET /v1/styles`` and each style's thumbnail."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from shared.protocol import API_PREFIX, StyleInfo, StyleList

from ...engine.catalogue import StyleCard
from . import ERRORS, Kiosk, ServiceDep

router = APIRouter(prefix=f"{API_PREFIX}/styles")


@router.get("", response_model=StyleList, responses=ERRORS)
async def styles(s: ServiceDep, _: Kiosk) -> StyleList:
    eta = await s.runner.new_job_etas()  # the queue ahead included
    cards = [style_info(card) for card in s.engine.catalogue]
    return StyleList(styles=cards, eta_seconds=eta, retention_hours=s.settings.retention.retention_hours)


def style_info(card: StyleCard) -> StyleInfo:
    """A catalogue card as the kiosks see it: every StyleInfo field taken from the card by name, and its URL."""
    fields = {name: getattr(card, name) for name in StyleInfo.model_fields if name != "thumbnail_url"}
    return StyleInfo(**fields, thumbnail_url=f"{API_PREFIX}/styles/{card.id}/thumbnail")


@router.get("/{style_id}/thumbnail", response_class=FileResponse, responses=ERRORS)
async def thumbnail(style_id: str, s: ServiceDep) -> FileResponse:
    card = next((c for c in s.engine.catalogue if c.id == style_id), None)
    if card is None:
        raise HTTPException(404, f"unknown style {style_id!r}")
    return FileResponse(card.path(card.thumbnail), media_type="image/jpeg")
