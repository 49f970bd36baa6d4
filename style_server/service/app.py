"""The HTTP app (``/v1``): the running ``Service``, its background tasks, error handlers and the routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from shared.protocol import describe

from ..config import DEMO_KEY, Settings, engine_from_settings, get_settings
from ..engine.errors import EngineError
from ..engine.runtime import Engine
from .deadlines import BodyDeadline
from .jobtypes import LANES, BackendUnavailable
from .lanes import SERVER_LANES
from .refusals import Refused
from .routes import REFUSAL_STATUS, downloads, events, frame, health, jobs, previews, styles, wall
from .service import Service

log = logging.getLogger("style_server.api")


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service(settings, engine or engine_from_settings(settings))
        app.state.service = service
        service.events.bind(asyncio.get_running_loop())
        if settings.security.api_keys.get("demo-kiosk") == DEMO_KEY:
            log.warning("the demo API key is active; set PORTRAIT_API_KEYS before opening the booth to the public")
        if settings.storage.backend == "nats":  # a stateless API node: workers and mailers are processes of their own
            service.ready = True
            tasks = [asyncio.create_task(service.retention())]
        else:
            tasks = start_painting(service, LANES, mail=True, retention=True)
        yield
        await stop_painting(service, tasks)

    app = FastAPI(title="Portrait Booth style server", version="1", lifespan=lifespan)
    _register_errors(app)
    for module in (health, styles, jobs, previews, events, downloads, wall, frame):
        app.include_router(module.router)
    app.add_middleware(BodyDeadline, seconds=settings.server.body_timeout)
    return app


def start_painting(service: Service, lanes: Iterable[str], mail: bool, retention: bool) -> list[asyncio.Task]:
    """The work of a process that paints: the lanes it takes jobs of, the mail outbox, the retention pass."""
    runner = service.runner
    requeued = service.store.requeue_running()
    if requeued:
        log.info("%d interrupted jobs are back in the queue", requeued)
    if lost := service.store.requeue_lost_mail():
        log.info("%d finished jobs had no mail queued; queued now", lost)
    lanes = list(lanes)
    work = [service.warm_up(masterpieces=any(SERVER_LANES[m].needs_loss_network for m in lanes))]
    work.extend(runner.lane(method) for method in lanes for _ in range(runner.lanes()[method]))
    if mail:
        work.append(service.outbox.run())
    if retention:
        work.append(service.retention())
    return [asyncio.create_task(t) for t in work]


async def stop_painting(service: Service, tasks: list[asyncio.Task]) -> None:
    """Graceful stop: running masterpieces stop and go back to the queue, what was painted is published (the
    painters' threads outlive their cancelled lanes: ``Runner.published`` waits for them), then the backend closes."""
    service.runner.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.to_thread(service.runner.published)
    await asyncio.to_thread(service.store.requeue_running)
    await asyncio.to_thread(service.close)


def _register_errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": describe(exc, skip=1, whole="request")}, status_code=422)

    @app.exception_handler(BackendUnavailable)
    async def backend_unavailable(_: Request, exc: BackendUnavailable) -> JSONResponse:
        log.warning("job backend unavailable: %s", exc)
        detail = "the booth's job queue is not reachable for a moment; try again shortly"
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "2"})

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return JSONResponse({"detail": exc.detail}, status_code=REFUSAL_STATUS[type(exc)], headers=headers)

    @app.exception_handler(EngineError)
    async def engine_error(_: Request, exc: EngineError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.middleware("http")
    async def body_cap(request: Request, call_next):
        length = request.headers.get("content-length")
        cap = 2 * request.app.state.service.settings.server.max_upload_bytes + 100_000
        if length and length.isdigit() and int(length) > cap:
            return JSONResponse({"detail": f"request body is larger than {cap // 1_000_000} MB"}, status_code=413)
        return await call_next(request)
