"""The HTTP API (``/v1``): styles, jobs, live progress, results; health and metrics for operators."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import ipaddress
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import FastAPI, File, Form, Header, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from PIL import Image
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from shared.protocol import (
    API_PREFIX,
    IDEMPOTENCY_HEADER,
    TOKEN_HEADER,
    ErrorBody,
    Health,
    JobCreated,
    JobEvent,
    JobOptions,
    JobRequest,
    JobState,
    JobStatus,
    StyleInfo,
    StyleList,
)

from ..config import Settings, engine_from_settings, get_settings
from ..engine.errors import EngineError, describe
from ..engine.runtime import Engine, check_portrait_shape
from .deadlines import BodyDeadline
from .events import JobEvents, event_for
from .mailer import Outbox
from .metrics import Metrics
from .runner import Runner
from .security import RateLimiter, kiosk_for, read_image_upload
from .store import TERMINAL, Job, Store

log = logging.getLogger("style_server.api")
Token = Annotated[str | None, Header(alias=TOKEN_HEADER, description="The job's token (or ?token=).")]
TokenQuery = Annotated[str | None, Query(alias="token")]
ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 415, 422, 429, 503)}


class Service:
    """Everything one running server holds."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings, self.engine = settings, engine
        self.store = Store(settings.data_dir)
        self.metrics = Metrics()
        self.events = JobEvents(self.status_of)
        self.runner = Runner(settings, engine, self.store, self.metrics, self.events)
        self.outbox = Outbox(settings, self.store, engine.catalogue, self.metrics)
        self.limiter = RateLimiter(settings.rate_limit_per_minute)
        self.ready = False

    def status(self, job: Job) -> JobStatus:
        queued = job.state == JobState.queued
        return JobStatus(
            id=job.id,
            state=job.state,
            method=job.method,
            style=job.style,
            progress=job.progress,
            position=self.store.position(job) if queued else None,
            eta_seconds=self._eta(job),
            error=job.error,
            email_status=self.store.mail_status(job.id),
            created_at=job.created,
            finished_at=job.finished,
            started_at=job.started,
            engine_seconds=round(job.engine_seconds, 4) if job.engine_seconds is not None else None,
            result_url=f"{API_PREFIX}/jobs/{job.id}/result" if job.state == JobState.done else None,
        )

    def status_of(self, job_id: str) -> JobStatus | None:
        job = self.store.get(job_id)
        return self.status(job) if job is not None else None

    def _eta(self, job: Job) -> float | None:
        if job.state == JobState.queued:
            return round(self.runner.eta(job), 1)
        if job.state == JobState.running:
            return round(self.runner.average_seconds[job.method] * (1 - job.progress), 1)
        return None

    def job_for(self, job_id: str, token: str | None) -> Job:
        job = self.store.get(job_id)
        if job is None or not token or not _same(token, job.token):
            raise HTTPException(404, "no such job (or wrong token)")
        return job

    async def retention(self) -> None:
        while True:
            await asyncio.to_thread(self.expire_due)
            await asyncio.sleep(min(60.0, self.settings.retention_hours * 360))

    def expire_due(self) -> None:
        """One retention pass (blocking: run it in a thread): erase what is older than the promise, then empty
        the write-ahead log so no erased address survives in ``jobs.db-wal``."""
        expired = self.store.expired(time.time() - self.settings.retention_hours * 3600)
        for job_id in expired:
            if event := self.runner.cancels.get(job_id):
                event.set()
            self.store.erase(job_id, JobState.expired)
            self.events.ended(job_id)
            log.info("job %s erased after retention", job_id)
        self.store.checkpoint()
        if expired:
            self.events.refresh()

    def cancel_and_erase(self, job_id: str) -> None:
        """``DELETE /v1/jobs/{id}`` (blocking: run it in a thread)."""
        if event := self.runner.cancels.get(job_id):
            event.set()
        self.store.cancel(job_id)
        self.store.erase(job_id)
        self.store.checkpoint()
        self.events.ended(job_id)
        self.events.refresh()  # the queue behind it moved up

    async def warm_up(self) -> None:
        await asyncio.to_thread(self.engine.fast.warm_up)
        self.ready = True


def _same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service(settings, engine or engine_from_settings(settings))
        app.state.service = service
        service.events.bind(asyncio.get_running_loop())
        requeued = service.store.requeue_running()
        if requeued:
            log.info("%d interrupted jobs are back in the queue", requeued)
        if lost := service.store.requeue_lost_mail():
            log.info("%d finished jobs had no mail queued; queued now", lost)
        if settings.api_keys.get("demo-kiosk") == "demo-key":
            log.warning("the demo API key is active; set PORTRAIT_API_KEYS before opening the booth to the public")
        tasks = [
            asyncio.create_task(t)
            for t in (
                service.warm_up(),
                service.runner.fast_lane(),
                service.outbox.run(),
                service.retention(),
                *(service.runner.gatys_lane() for _ in range(settings.gatys_concurrency)),
            )
        ]
        yield
        service.runner.stop()
        await asyncio.sleep(0.2)  # let a stopped masterpiece record its return to the queue
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        service.store.requeue_running()
        service.store.close()

    app = FastAPI(title="Portrait Booth style server", version="1", lifespan=lifespan)
    _register_errors(app)
    _register_routes(app, settings)
    app.add_middleware(BodyDeadline, seconds=settings.body_timeout)
    return app


def _register_errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": describe(exc, skip=1, whole="request")}, status_code=422)

    @app.exception_handler(EngineError)
    async def engine_error(_: Request, exc: EngineError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.middleware("http")
    async def body_cap(request: Request, call_next):
        length = request.headers.get("content-length")
        cap = 2 * request.app.state.service.settings.max_upload_bytes + 100_000
        if length and length.isdigit() and int(length) > cap:
            return JSONResponse({"detail": f"request body is larger than {cap // 1_000_000} MB"}, status_code=413)
        return await call_next(request)


def _register_routes(app: FastAPI, settings: Settings) -> None:
    def service(request: Request) -> Service:
        return request.app.state.service

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, responses={503: {"model": Health}})
    async def readyz(request: Request):
        if service(request).ready:
            return Health(status="ready")
        return JSONResponse(Health(status="not ready", detail="loading networks").model_dump(), status_code=503)

    @app.get("/metrics", response_class=Response, responses=ERRORS)
    async def metrics(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
        s = service(request)
        _metrics_reader(settings, request, authorization)
        s.runner._update_depth()
        return Response(generate_latest(s.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get(f"{API_PREFIX}/styles", response_model=StyleList, responses=ERRORS)
    async def styles(request: Request, authorization: Annotated[str | None, Header()] = None) -> StyleList:
        s = service(request)
        kiosk_for(authorization, settings.api_keys)
        cards = [
            StyleInfo(
                id=c.id,
                name=c.name,
                artist=c.artist,
                year=c.year,
                licence=c.licence,
                kind=c.kind,
                methods=c.methods,
                attribution=c.attribution,
                thumbnail_url=f"{API_PREFIX}/styles/{c.id}/thumbnail",
            )
            for c in s.engine.catalogue
        ]
        eta = {m: round(v, 1) for m, v in s.runner.average_seconds.items()}
        return StyleList(styles=cards, eta_seconds=eta, retention_hours=settings.retention_hours)

    @app.get(f"{API_PREFIX}/styles/{{style_id}}/thumbnail", response_class=FileResponse, responses=ERRORS)
    async def thumbnail(style_id: str, request: Request) -> FileResponse:
        card = next((c for c in service(request).engine.catalogue if c.id == style_id), None)
        if card is None:
            raise HTTPException(404, f"unknown style {style_id!r}")
        return FileResponse(card.path(card.thumbnail), media_type="image/jpeg")

    @app.post(f"{API_PREFIX}/jobs", response_model=JobCreated, status_code=201, responses=ERRORS)
    async def create_job(
        request: Request,
        response: Response,
        portrait: Annotated[UploadFile, File(description="The visitor's photo: JPEG, PNG or WebP.")],
        style: Annotated[str | None, Form()] = None,
        method: Annotated[str, Form()] = "fast",  # an empty field is refused, not defaulted: _refuse_empty
        email: Annotated[str | None, Form()] = None,
        consent: Annotated[bool, Form()] = False,
        language: Annotated[str, Form()] = "en",
        options: Annotated[str, Form(description="JobOptions as JSON")] = "{}",
        style_image: Annotated[UploadFile | None, File(description="A painting to use as the style.")] = None,
        authorization: Annotated[str | None, Header()] = None,
        idempotency_key: Annotated[
            str | None, Header(alias=IDEMPOTENCY_HEADER, min_length=1, max_length=200, pattern=r"^[!-~]+$")
        ] = None,
    ) -> JobCreated:
        s = service(request)
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

    @app.get(f"{API_PREFIX}/jobs/{{job_id}}", response_model=JobStatus, responses=ERRORS)
    async def job_status(
        job_id: str, request: Request, x_job_token: Token = None, token: TokenQuery = None
    ) -> JobStatus:
        s = service(request)
        return s.status(s.job_for(job_id, x_job_token or token))

    @app.get(f"{API_PREFIX}/jobs/{{job_id}}/result", response_class=FileResponse, responses=ERRORS)
    async def job_result(
        job_id: str, request: Request, x_job_token: Token = None, token: TokenQuery = None
    ) -> FileResponse:
        s = service(request)
        job = s.job_for(job_id, x_job_token or token)
        result = s.store.folder(job.id) / "result.jpg"
        if job.state != JobState.done or not result.is_file():
            raise HTTPException(409, f"the portrait is not ready (state: {job.state})")
        return FileResponse(result, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.delete(f"{API_PREFIX}/jobs/{{job_id}}", status_code=204, responses=ERRORS)
    async def job_cancel(
        job_id: str, request: Request, x_job_token: Token = None, token: TokenQuery = None
    ) -> Response:
        s = service(request)
        job = s.job_for(job_id, x_job_token or token)
        await asyncio.to_thread(s.cancel_and_erase, job.id)
        log.info("job %s cancelled and erased", job.id)
        return Response(status_code=204)

    @app.get(f"{API_PREFIX}/jobs/{{job_id}}/events", responses=ERRORS)
    async def job_events(
        job_id: str, request: Request, x_job_token: Token = None, token: TokenQuery = None
    ) -> StreamingResponse:
        s = service(request)
        s.job_for(job_id, x_job_token or token)
        return StreamingResponse(
            _events(s, job_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


async def _events(s: Service, job_id: str) -> AsyncIterator[str]:
    """One job's event stream: its current status first, then what the runner pushes, until the job ends.

    Idle streams get a keep-alive comment every ``sse_keepalive_seconds``: a kiosk that went away half-open is
    noticed at the next write, and a kiosk's read timeout tells it the server is gone.
    """
    queue = s.events.subscribe(job_id)  # before reading the status: nothing that happens next is missed
    try:
        status = await asyncio.to_thread(s.status_of, job_id)
        if status is None:
            return
        preview = s.events.previews.get(job_id)
        pending = [event_for(status, preview)] if preview else []
        pending.append(event_for(status))
        last: tuple | None = None
        while True:
            for event in pending:
                st = event.status
                if event.type != "preview":
                    key = (st.state, round(st.progress, 3), st.position, st.email_status)
                    order = (_STATE_ORDER.get(st.state, 2), st.progress)
                    if last is not None and (key == last[0] or order < last[1]):
                        continue  # nothing new, or older than what this stream has already sent
                    last = (key, order)
                yield _sse(event)
                if st.state in TERMINAL and event.type != "preview":
                    return
            try:
                pending = [await asyncio.wait_for(queue.get(), timeout=s.settings.sse_keepalive_seconds)]
            except TimeoutError:
                pending = []
                yield ": keep-alive\n\n"
    finally:
        s.events.unsubscribe(job_id, queue)


_STATE_ORDER = {JobState.queued: 0, JobState.running: 1}


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
    if job.request_hash is not None and not _same(job.request_hash, request_hash):
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


def _metrics_reader(settings: Settings, request: Request, authorization: str | None) -> None:
    """/metrics: with PORTRAIT_METRICS_TOKEN set, that bearer token; without one, loopback clients only."""
    if settings.metrics_token is not None:
        scheme, _, token = (authorization or "").partition(" ")
        expected = settings.metrics_token.get_secret_value()
        if scheme.lower() != "bearer" or not token or not _same(token, expected):
            raise HTTPException(401, "metrics need the metrics token (Authorization: Bearer <token>)")
        return
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise HTTPException(403, "metrics are served to this machine only; set PORTRAIT_METRICS_TOKEN to read them")


def _sse(event: JobEvent) -> str:
    return f"event: {event.type}\ndata: {event.model_dump_json()}\n\n"


def _parse_form(style, method, email, consent, language, options) -> JobRequest:
    try:
        parsed_options = JobOptions.model_validate_json(options or "{}")
        return JobRequest(
            style=style or None, method=method, email=email, consent=consent, language=language, options=parsed_options
        )
    except ValidationError as exc:
        raise HTTPException(422, describe(exc, whole="options")) from None
