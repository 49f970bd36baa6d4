"""Jobs: create (multipart portrait + form), status, result, cancel-and-erase."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from starlette.datastructures import FormData, UploadFile

from shared.protocol import API_PREFIX, IDEMPOTENCY_HEADER, JobCreated, JobFormError, JobRequest, JobState, JobStatus

from ..creating import Submission
from ..frame_store import framed
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
    style_image = upload.style_image.file if upload.style_image is not None else None
    submission = Submission(kiosk, upload.request, upload.portrait.file, style_image, idempotency_key)
    outcome = await s.create_job(submission)  # a refusal becomes its status code in the app's error handler
    if not outcome.created:
        response.status_code = 200  # a replay: the same answer, no second job
    return outcome.answer


@router.get("/{job_id}", response_model=JobStatus, responses=ERRORS)
async def job_status(job: TokenJob, s: ServiceDep) -> JobStatus:
    return await s.status(job)


@router.get("/{job_id}/result", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}, **ERRORS})
async def job_result(job: TokenJob, s: ServiceDep) -> Response:
    jpeg = await s.store.aio.result(job.id) if job.state == JobState.done else None
    if jpeg is None:
        raise HTTPException(409, f"the portrait is not ready (state: {job.state})")
    jpeg = await framed(s.frames, jpeg)  # the kiosk shows and prints it as it is mailed
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.delete("/{job_id}", status_code=204, responses=ERRORS)
async def job_cancel(job: TokenJob, s: ServiceDep) -> Response:
    await s.cancel_and_erase(job.id)
    log.info("job %s cancelled and erased", job.id)
    return Response(status_code=204)
