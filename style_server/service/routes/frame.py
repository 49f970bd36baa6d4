"""The event frame (kiosk key): ``PUT``, ``GET`` and ``DELETE /v1/event/frame``, and ``POST .../preview`` that
shows a frame on a picture without keeping it. A refused frame changes nothing: the one before stays."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from shared.protocol import EVENT_FRAME_PATH, FRAME_MAX_BYTES, FrameInfo, FrameSettings, describe

from ..framing import EventFrame, FrameRefused, framed_jpeg, make_frame
from ..security import reencode_png
from . import ERRORS, Kiosk, ServiceDep

log = logging.getLogger("style_server.api")
router = APIRouter(prefix=EVENT_FRAME_PATH, tags=["event frame"])
FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": FrameSettings.form_schema()}}}}
PREVIEW_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    **FrameSettings.form_schema(),
                    "required": ["portrait"],
                    "properties": {
                        **FrameSettings.form_schema()["properties"],
                        "portrait": {"type": "string", "contentMediaType": "application/octet-stream"},
                    },
                }
            }
        },
    }
}
NO_FRAME = "no event frame is set: portraits leave as painted"


@dataclass
class FrameUpload:
    settings: FrameSettings
    overlay: bytes | None
    logo: bytes | None
    portrait: bytes | None


async def frame_upload(request: Request) -> AsyncIterator[FrameUpload]:
    """The multipart body: ``settings`` (JSON) and the files, each read up to its limit (413 beyond it)."""
    form = await request.form(max_files=4, max_fields=4)
    try:
        yield FrameUpload(
            _settings(form),
            await _file(form, "overlay"),
            await _file(form, "logo"),
            await _file(form, "portrait"),
        )
    finally:
        await form.close()


FrameForm = Annotated[FrameUpload, Depends(frame_upload)]


def _settings(form: FormData) -> FrameSettings:
    raw = form.get("settings") or "{}"
    if not isinstance(raw, str):
        raise HTTPException(422, "settings: must be a text field (FrameSettings as JSON), not a file")
    try:
        return FrameSettings.model_validate_json(raw)
    except ValidationError as exc:
        raise HTTPException(422, f"settings: {describe(exc)}") from None


async def _file(form: FormData, name: str) -> bytes | None:
    part = form.get(name)
    if part is None or part == "":
        return None
    if not isinstance(part, UploadFile):
        raise HTTPException(422, f"{name}: must be a file, not a text field")
    data = await part.read(FRAME_MAX_BYTES + 1)
    if len(data) > FRAME_MAX_BYTES:
        raise HTTPException(413, f"the {_what(name)} file is larger than {FRAME_MAX_BYTES // 1_000_000} MB")
    return data or None


def _what(name: str) -> str:
    return {"overlay": "frame", "logo": "logo"}.get(name, name)


async def _checked(upload: FrameUpload) -> EventFrame:
    try:
        return await asyncio.to_thread(make_frame, upload.settings, upload.overlay, upload.logo, time.time())
    except FrameRefused as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.put("", response_model=FrameInfo, responses=ERRORS, openapi_extra=FORM)
async def set_frame(s: ServiceDep, kiosk: Kiosk, upload: FrameForm) -> FrameInfo:
    """Every portrait that leaves the server from now on is laid in this frame (checked first: a refused frame
    leaves the one before in place)."""
    frame = await _checked(upload)
    await s.frames.put(frame)
    info = await asyncio.to_thread(frame.info)  # encoded once by put: a digest of what is kept
    log.info("kiosk %s set the event frame (%s)", kiosk, info.digest[:12])
    return info


@router.get("", response_model=FrameInfo, responses=ERRORS)
async def get_frame(s: ServiceDep, kiosk: Kiosk) -> FrameInfo:
    frame = await s.frames.current()
    if frame is None:
        raise HTTPException(404, NO_FRAME)
    return await asyncio.to_thread(frame.info)


@router.delete("", status_code=204, responses=ERRORS)
async def delete_frame(s: ServiceDep, kiosk: Kiosk) -> Response:
    await s.frames.delete()
    log.info("kiosk %s removed the event frame", kiosk)
    return Response(status_code=204)


@router.post(
    "/preview",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **ERRORS},
    openapi_extra=PREVIEW_FORM,
)
async def preview_frame(s: ServiceDep, kiosk: Kiosk, upload: FrameForm) -> Response:
    """``portrait`` in the frame the form describes, as it would leave the server; nothing is kept."""
    if upload.portrait is None:
        raise HTTPException(422, "portrait: the picture to show the frame on is missing (send it as a file)")
    frame = await _checked(upload)
    png = await asyncio.to_thread(reencode_png, upload.portrait, "portrait", s.settings.server.max_input_pixels)
    jpeg = await asyncio.to_thread(framed_jpeg, png, frame)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
