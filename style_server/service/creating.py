"""Creating a job: validation, the idempotent replay, the rate limit and a full queue, decided here and only here.

The stores keep one atomic primitive (insert the job unless its kiosk's Idempotency-Key is taken, else hand back
the holder); whether a request with a known key is replayed or refused is decided once, in ``create_job``."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from PIL import Image

from shared.protocol import JobCreated, JobRequest, JobState

from ..engine.runtime import check_portrait_shape
from .jobtypes import Job
from .refusals import IdempotencyConflict, QueueFull
from .runner import painted_side
from .security import read_image, same_secret

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger("style_server.api")

BUSY_RETRY_AFTER = 10  # seconds a kiosk waits before it sends a job again to a full queue


@dataclass
class Submission:
    """A job as a kiosk sends it: the protocol's fields, its pictures as sent (unchecked), and its retry key."""

    kiosk: str
    request: JobRequest
    portrait: BinaryIO
    style_image: BinaryIO | None
    idempotency_key: str | None = None


@dataclass
class Created:
    """The answer to a submission: ``created`` is False for a replay (the same request sent again)."""

    answer: JobCreated
    created: bool


async def create_job(s: Service, sub: Submission) -> Created:
    """Queue ``sub`` as a new job, or answer a retry as the first time; raises ``Refused`` (or ``EngineError``)."""
    request_hash = holder = None  # only a request with a key can be replayed, so only then is it hashed
    if sub.idempotency_key is not None:
        request_hash = await asyncio.to_thread(_hash_request, sub)
        holder = await s.store.aio.by_idempotency_key(sub.kiosk, sub.idempotency_key)
    if holder is None:
        job, created = await _admit(s, sub, request_hash)
        if created:
            s.runner.notify(job.method)
            log.info("job %s queued (%s) for kiosk %s", job.id, job.method, sub.kiosk)
            return Created(await _answer(s, job), True)
        holder = job  # the same key raced in from a parallel retry, which won
    _check_replay(holder, request_hash)
    return Created(await _answer(s, holder), False)


async def _admit(s: Service, sub: Submission, request_hash: str | None) -> tuple[Job, bool]:
    """Check and store a job the server has not seen: (job, created), False if its key's holder came first."""
    settings, form = s.settings, sub.request
    place = await s.limiter.reserve(sub.kiosk)  # only accepted jobs keep their place
    try:
        depth = sum((await s.store.aio.depth()).values())
        if depth >= settings.server.queue_max:
            raise QueueFull("the booth is busy; try again shortly", retry_after=BUSY_RETRY_AFTER)
        limits = settings.server.max_upload_bytes, settings.server.max_input_pixels
        portrait_png = await asyncio.to_thread(read_image, sub.portrait, "portrait", *limits)
        style_png = None
        if sub.style_image is not None:
            style_png = await asyncio.to_thread(read_image, sub.style_image, "style_image", *limits)
        s.engine.check_request(form.style, style_png is not None, form.method)
        _check_shape(s, form, portrait_png)
        job, created = await s.store.aio.create(  # writes the images: seconds for a 40 MP portrait
            kiosk=sub.kiosk,
            idem_key=sub.idempotency_key,
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
        await s.limiter.release(sub.kiosk, place)
        raise
    if not created:  # a replay keeps no place
        await s.limiter.release(sub.kiosk, place)
    return job, created


def _check_replay(holder: Job, request_hash: str | None) -> None:
    """A request with an Idempotency-Key we have seen: the same request gets the same answer; anything else 409."""
    if holder.state in (JobState.cancelled, JobState.expired):
        raise IdempotencyConflict(
            f"the job sent with this Idempotency-Key was {holder.state.value} and erased; send it with a new key"
        )
    if holder.request_hash is not None and not same_secret(holder.request_hash, request_hash or ""):
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different request (another photo, style or field); "
            "send a new request with a new key"
        )


async def _answer(s: Service, job: Job) -> JobCreated:
    return JobCreated(id=job.id, token=job.token, status=await s.status(job))


def _hash_request(sub: Submission) -> str:
    """What an idempotent replay must repeat: the form fields and the uploaded bytes (blocking)."""
    digest = hashlib.sha256(sub.request.model_dump_json().encode())
    for file in (sub.portrait, sub.style_image):
        digest.update(b"\0file" if file is not None else b"\0none")
        if file is not None:
            file.seek(0)
            for chunk in iter(lambda f=file: f.read(1 << 20), b""):
                digest.update(chunk)
            file.seek(0)
    return digest.hexdigest()


def _check_shape(s: Service, form: JobRequest, portrait_png: bytes) -> None:
    """Refuse a portrait the networks cannot paint at the size this job will be painted at."""
    width, height = Image.open(io.BytesIO(portrait_png)).size  # reads the header only
    check_portrait_shape(width, height, painted_side(s.settings, form.method, form.options.size, max(width, height)))
