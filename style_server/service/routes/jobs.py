"""Jobs: create (multipart portrait + form), status, result, cancel-and-erase."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, HTTPException, Request, Response, UploadFile
from fastapi.responses import FileResponse
from PIL import Image
from pydantic import ValidationError

from shared.protocol import API_PREFIX, IDEMPOTENCY_HEADER, JobCreated, JobOptions, JobRequest, JobState, JobStatus

from ...config import Settings
from ...engine.errors import describe
from ...engine.runtime import check_portrait_shape
from ..security import kiosk_for, read_image_upload
from ..service import Service, same_secret
from ..store import Job
from . import ERRORS, Authorization, ServiceDep, TokenJob

log = logging.getLogger("style_server.api")
router = APIRouter(prefix=f"{API_PREFIX}/jobs")


@router.post("", response_model=JobCreated, status_code=201, responses=ERRORS)
async def create_job(
    request: Request,
    response: Response,
    s: ServiceDep,
    portrait: Annotated[UploadFile, File(description="The visitor's photo: JPEG, PNG or WebP.")],
    style: Annotated[str | None, Form()] = None,
    method: Annotated[str, Form()] = "fast",  # an empty field is refused, not defaulted: _refuse_empty
    email: Annotated[str | None, Form()] = None,
    consent: Annotated[bool, Form()] = False,
    language: Annotated[str, Form()] = "en",
    options: Annotated[str, Form(description="JobOptions as JSON")] = "{}",
    style_image: Annotated[UploadFile | None, File(description="A painting to use as the style.")] = None,
    authorization: Authorization = None,
    idempotency_key: Annotated[
        str | None, Header(alias=IDEMPOTENCY_HEADER, min_length=1, max_length=200, pattern=r"^[!-~]+$")
    ] = None,
) -> JobCreated:
    settings = s.settings
    kiosk = kiosk_for(authorization, settings.api_keys)
    _refuse_empty(await request.form())
    form = _parse_form(style, method, email or None, consent, language, options)
    if form.email and not form.consent:
        raise HTTPException(422, "the visitor must consent before we can e-mail the portrait")
    has_style_image = style_image is not None and bool(style_image.filename)
    request_hash = await asyncio.to_thread(
        _hash_request, form, [portrait.file, style_image.file if has_style_image else None]
    )
    if idempotency_key is not None and (job := s.store.by_idempotency_key(kiosk, idempotency_key)):
        return _replay(s, job, request_hash, response)  # a retry: same answer, no second job
    place = s.limiter.reserve(kiosk)  # only accepted jobs keep their place
    try:
        depth = sum(s.store.depth().values())
        if depth >= settings.queue_max:
            raise HTTPException(503, "the booth is busy; try again shortly", headers={"Retry-After": "10"})
        portrait_png = await read_image_upload(
            portrait, "portrait", settings.max_upload_bytes, settings.max_input_pixels
        )
        style_png = None
        if has_style_image:
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
        )
    except BaseException:
        s.limiter.release(kiosk, place)
        raise
    if not created:  # the same key raced in from a parallel retry, which won
        s.limiter.release(kiosk, place)
        return _replay(s, job, request_hash, response)
    s.runner.notify(job.method)
    log.info("job %s queued (%s) for kiosk %s", job.id, job.method, kiosk)
    return JobCreated(id=job.id, token=job.token, status=s.status(job))


@router.get("/{job_id}", response_model=JobStatus, responses=ERRORS)
async def job_status(job: TokenJob, s: ServiceDep) -> JobStatus:
    return s.status(job)


@router.get("/{job_id}/result", response_class=FileResponse, responses=ERRORS)
async def job_result(job: TokenJob, s: ServiceDep) -> FileResponse:
    result = s.store.folder(job.id) / "result.jpg"
    if job.state != JobState.done or not result.is_file():
        raise HTTPException(409, f"the portrait is not ready (state: {job.state})")
    return FileResponse(result, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.delete("/{job_id}", status_code=204, responses=ERRORS)
async def job_cancel(job: TokenJob, s: ServiceDep) -> Response:
    await asyncio.to_thread(s.cancel_and_erase, job.id)
    log.info("job %s cancelled and erased", job.id)
    return Response(status_code=204)


def _refuse_empty(form) -> None:
    """An empty form field is a mistake, not a wish for the default (FastAPI would quietly use the default)."""
    for name in ("method", "language", "consent", "options"):
        if name in form and form[name] == "":
            raise HTTPException(422, f"{name}: the field is empty; give a value, or leave it out for the default")


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
    default = settings.fast_size if form.method == "fast" else settings.gatys_size
    check_portrait_shape(width, height, form.options.size or min(default, max(width, height)))


def _parse_form(style, method, email, consent, language, options) -> JobRequest:
    try:
        parsed_options = JobOptions.model_validate_json(options or "{}")
        return JobRequest(
            style=style or None, method=method, email=email, consent=consent, language=language, options=parsed_options
        )
    except ValidationError as exc:
        raise HTTPException(422, describe(exc, whole="options")) from None
