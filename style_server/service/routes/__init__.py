"""The HTTP routes by resource, and the dependencies they share (the running ``Service``, a job by its token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request

from shared.protocol import TOKEN_HEADER, ErrorBody

from ..jobtypes import Job
from ..refusals import (
    IdempotencyConflict,
    QueueFull,
    RateLimited,
    Refused,
    UploadInvalid,
    UploadNotAnImage,
    UploadTooLarge,
)
from ..security import kiosk_for
from ..service import Service

ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 415, 422, 429, 503)}
REFUSAL_STATUS: dict[type[Refused], int] = {
    UploadTooLarge: 413,
    UploadNotAnImage: 415,
    UploadInvalid: 422,
    IdempotencyConflict: 409,
    RateLimited: 429,
    QueueFull: 503,
}
Authorization = Annotated[str | None, Header()]


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


async def authorized_kiosk(s: ServiceDep, authorization: Authorization = None) -> str:
    """The kiosk whose bearer key the request carries; 401 otherwise."""
    return kiosk_for(authorization, s.settings.security.api_keys)


Kiosk = Annotated[str, Depends(authorized_kiosk)]


async def job_by_token(
    job_id: str,
    s: ServiceDep,
    x_job_token: Annotated[str | None, Header(alias=TOKEN_HEADER, description="The job's token (or ?token=).")] = None,
    token: Annotated[str | None, Query(alias="token")] = None,
) -> Job:
    """The job named in the path, if the request carries its token (header, or ``?token=``); else 404."""
    return await s.job_for(job_id, x_job_token or token)


TokenJob = Annotated[Job, Depends(job_by_token)]
