"""The HTTP API (``/v1``): styles, jobs, live progress, results; health and metrics for operators."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import FastAPI, File, Form, Header, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
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
from ..engine.runtime import Engine
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
        self.runner = Runner(settings, engine, self.store, self.metrics)
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
            for job_id in self.store.expired(time.time() - self.settings.retention_hours * 3600):
                if event := self.runner.cancels.get(job_id):
                    event.set()
                self.store.erase(job_id, JobState.expired)
                log.info("job %s erased after retention", job_id)
            await asyncio.sleep(min(60.0, self.settings.retention_hours * 360))

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
        requeued = service.store.requeue_running()
        if requeued:
            log.info("%d interrupted jobs are back in the queue", requeued)
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

    @app.get("/metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        s = service(request)
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
        return StyleList(styles=cards, eta_seconds={m: round(v, 1) for m, v in s.runner.average_seconds.items()})

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
        method: Annotated[str, Form()] = "fast",
        email: Annotated[str | None, Form()] = None,
        consent: Annotated[bool, Form()] = False,
        language: Annotated[str, Form()] = "en",
        options: Annotated[str, Form(description="JobOptions as JSON")] = "{}",
        style_image: Annotated[UploadFile | None, File(description="A painting to use as the style.")] = None,
        authorization: Annotated[str | None, Header()] = None,
        idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, max_length=200)] = None,
    ) -> JobCreated:
        s = service(request)
        kiosk = kiosk_for(authorization, settings.api_keys)
        form = _parse_form(style, method, email or None, consent, language, options)
        if form.email and not form.consent:
            raise HTTPException(422, "the visitor must consent before we can e-mail the portrait")
        if idempotency_key and (job := s.store.by_idempotency_key(kiosk, idempotency_key)):
            response.status_code = 200  # a retry of a job we already have: same answer, no second job
            return JobCreated(id=job.id, token=job.token, status=s.status(job))
        s.limiter.check(kiosk)
        depth = sum(s.store.depth().values())
        if depth >= settings.queue_max:
            raise HTTPException(503, "the booth is busy; try again shortly", headers={"Retry-After": "10"})
        portrait_png = await read_image_upload(
            portrait, "portrait", settings.max_upload_bytes, settings.max_input_pixels
        )
        style_png = None
        if style_image is not None and style_image.filename:
            style_png = await read_image_upload(
                style_image, "style_image", settings.max_upload_bytes, settings.max_input_pixels
            )
        s.engine.check_request(form.style, style_png is not None, form.method)
        job, created = s.store.create(
            kiosk=kiosk,
            idem_key=idempotency_key,
            method=form.method,
            style=form.style,
            options=form.options,
            email=str(form.email) if form.email else None,
            language=form.language,
            portrait_png=portrait_png,
            style_png=style_png,
        )
        if not created:
            response.status_code = 200
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
        if event := s.runner.cancels.get(job.id):
            event.set()
        s.store.cancel(job.id)
        s.store.erase(job.id)
        log.info("job %s cancelled and erased", job.id)
        return Response(status_code=204)

    @app.get(f"{API_PREFIX}/jobs/{{job_id}}/events", responses=ERRORS)
    async def job_events(
        job_id: str, request: Request, x_job_token: Token = None, token: TokenQuery = None
    ) -> StreamingResponse:
        s = service(request)
        s.job_for(job_id, x_job_token or token)
        return StreamingResponse(
            _events(s, job_id, request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


async def _events(s: Service, job_id: str, request: Request) -> AsyncIterator[str]:
    last_key, last_preview = None, 0
    while not await request.is_disconnected():
        job = s.store.get(job_id)
        if job is None:
            return
        status = s.status(job)
        preview = s.runner.previews.get(job_id)
        if preview and preview[0] != last_preview:
            last_preview = preview[0]
            yield _sse(JobEvent(type="preview", status=status, preview_jpeg_base64=preview[1]))
        key = (status.state, round(status.progress, 3), status.position, status.email_status)
        if key != last_key:
            last_key = key
            kind = {"done": "done", "failed": "failed", "cancelled": "cancelled"}.get(status.state, "progress")
            yield _sse(JobEvent(type=kind if status.state != JobState.queued else "status", status=status))
        if job.state in TERMINAL:
            s.runner.previews.pop(job_id, None)
            return
        await asyncio.sleep(0.25)


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
