"""Jobs: create (multipart portrait + form), status, result, cancel-and-erase."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from PIL import Image
from starlette.datastructures import FormData, UploadFile

from shared.protocol import API_PREFIX, IDEMPOTENCY_HEADER, JobCreated, JobFormError, JobRequest, JobState, JobStatus

from ...config import Settings
from ...engine.runtime import check_portrait_shape
from ..frame_store import framed
from ..jobtypes import Job
from ..runner import painted_side
from ..security import read_image_upload, same_secret
from ..service import Service
from . import ERRORS, Kiosk, ServiceDep, TokenJob

log = logging.getLogger("style_server.api")
router = APIRouter(prefix=f"{API_PREFIX}/jobs")


@dataclass
class JobUpload:
    """A job form as received: its fields (the protocol's ``JobRequest``) and its files."""

    request: JobRequest
    portrait: UploadFile
    style_image: UploadFile | None


async def job_upload(request: Request) -> AsyncIterator[JobUpload]:
    """The multipart body of ``POST /v1/jobs``, read by the protocol's ``JobRequest.from_form`` (422 if wrong)."""
    form = await request.form()
    try:
        yield _job_upload(form)
    finally:
        await form.close()


def _job_upload(form: FormData) -> JobUpload:
    try:
        fields = JobRequest.from_form(form)
    except JobFormError as exc:
        raise HTTPException(422, str(exc)) from None
    portrait, style_image = form.get("portrait"), form.get("style_image")
    if not isinstance(portrait, UploadFile):
        raise HTTPException(422, "portrait: the photo is missing (send it as a file)")
    if isinstance(style_image, str) and style_image:
        raise HTTPException(422, "style_image: must be a file, not a text field")
    has_style_image = isinstance(style_image, UploadFile) and bool(style_image.filename)
    return JobUpload(fields, portrait, style_image if has_style_image else None)


@router.post(
    "",
    response_model=JobCreated,
    status_code=201,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": JobRequest.form_schema()}}}
    },
)
async def create_job(
    response: Response,
    s: ServiceDep,
    kiosk: Kiosk,
    upload: Annotated[JobUpload, Depends(job_upload)],
    idempotency_key: Annotated[
        str | None, Header(alias=IDEMPOTENCY_HEADER, min_length=1, max_length=200, pattern=r"^[!-~]+$")
    ] = None,
) -> JobCreated:
    settings, form, portrait, style_image = s.settings, upload.request, upload.portrait, upload.style_image
    request_hash = None  # only a request with a key can be replayed, so only then is it hashed
    if idempotency_key is not None:
        files = [portrait.file, style_image.file if style_image is not None else None]
        request_hash = await asyncio.to_thread(_hash_request, form, files)
    if idempotency_key is not None and (
        job := await asyncio.to_thread(s.store.by_idempotency_key, kiosk, idempotency_key)
    ):
        return _replay(s, job, request_hash, response)  # a retry: same answer, no second job
    place = await s.limiter.reserve(kiosk)  # only accepted jobs keep their place
    try:
        depth = sum((await asyncio.to_thread(s.store.depth)).values())
        if depth >= settings.queue_max:
            raise HTTPException(503, "the booth is busy; try again shortly", headers={"Retry-After": "10"})
        portrait_png = await read_image_upload(
            portrait, "portrait", settings.max_upload_bytes, settings.max_input_pixels
        )
        style_png = None
        if style_image is not None:
            style_png = await read_image_upload(
                style_image, "style_image", settings.max_upload_bytes, settings.max_input_pixels
            )
        s.engine.check_request(form.style, style_png is not None, form.method)
        _check_shape(settings, form, portrait_png)
        job, created = await asyncio.to_thread(  # writes the images: seconds for a 40 MP portrait
            s.store.create,
            kiosk=kiosk,
            idem_key=idempotency_key,
            method=form.method,
            style=form.style,
            options=form.options,
            email=str(form.email) if form.email else None,
            language=form.language,
            portrait_png=portrait_png,
            style_png=style_png,
            request_hash=request_hash,
            wall=form.wall,
        )
    except BaseException:
        await s.limiter.release(kiosk, place)
        raise
    if not created:  # the same key raced in from a parallel retry, which won
        await s.limiter.release(kiosk, place)
        return _replay(s, job, request_hash, response)
    s.runner.notify(job.method)
    log.info("job %s queued (%s) for kiosk %s", job.id, job.method, kiosk)
    return JobCreated(id=job.id, token=job.token, status=await asyncio.to_thread(s.status, job))


@router.get("/{job_id}", response_model=JobStatus, responses=ERRORS)
async def job_status(job: TokenJob, s: ServiceDep) -> JobStatus:
    return await asyncio.to_thread(s.status, job)


@router.get("/{job_id}/result", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}, **ERRORS})
async def job_result(job: TokenJob, s: ServiceDep) -> Response:
    jpeg = await asyncio.to_thread(s.store.result, job.id) if job.state == JobState.done else None
    if jpeg is None:
        raise HTTPException(409, f"the portrait is not ready (state: {job.state})")
    jpeg = await asyncio.to_thread(framed, s.frames, jpeg)  # the kiosk shows and prints it as it is mailed
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.delete("/{job_id}", status_code=204, responses=ERRORS)
async def job_cancel(job: TokenJob, s: ServiceDep) -> Response:
    await asyncio.to_thread(s.cancel_and_erase, job.id)
    log.info("job %s cancelled and erased", job.id)
    return Response(status_code=204)


def _hash_request(form: JobRequest, files: list) -> str:
    """What an idempotent replay must repeat: the form fields and the uploaded bytes (runs in a thread)."""
    digest = hashlib.sha256(form.model_dump_json().encode())
    for file in files:
        digest.update(b"\0file" if file is not None else b"\0none")
        if file is not None:
            file.seek(0)
            for chunk in iter(lambda f=file: f.read(1 << 20), b""):
                digest.update(chunk)
            file.seek(0)
    return digest.hexdigest()


def _replay(s: Service, job: Job, request_hash: str, response: Response) -> JobCreated:
    """A request with an Idempotency-Key we have seen: the same request gets the same answer; anything else 409."""
    if job.state in (JobState.cancelled, JobState.expired):
        raise HTTPException(
            409, f"the job sent with this Idempotency-Key was {job.state.value} and erased; send it with a new key"
        )
    if job.request_hash is not None and not same_secret(job.request_hash, request_hash):
        raise HTTPException(
            409,
            "this Idempotency-Key was already used for a different request (another photo, style or field); "
            "send a new request with a new key",
        )
    response.status_code = 200
    return JobCreated(id=job.id, token=job.token, status=s.status(job))


def _check_shape(settings: Settings, form: JobRequest, portrait_png: bytes) -> None:
    """Refuse a portrait the networks cannot paint at the size this job will be painted at."""
    width, height = Image.open(io.BytesIO(portrait_png)).size  # reads the header only
    check_portrait_shape(width, height, painted_side(settings, form.method, form.options.size, max(width, height)))
