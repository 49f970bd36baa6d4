"""Operators' endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.net import is_loopback
from shared.protocol import Health

from ...config import Settings
from ..security import bearer_token, same_secret
from . import ERRORS, Authorization, ServiceDep

router = APIRouter()


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(s: ServiceDep):
    """Whether this node can accept a job now: its networks loaded (where it paints) and its backend writable
    (on NATS: every stream a job goes to answers and has a leader, so the cluster has a quorum)."""
    reason = "loading networks" if not s.ready else await s.store.aio.readiness()
    if reason is None:
        return Health(status="ready")
    return JSONResponse(Health(status="not ready", detail=reason).model_dump(), status_code=503)


@router.get("/metrics", response_class=Response, responses=ERRORS)
async def metrics(request: Request, s: ServiceDep, authorization: Authorization = None) -> Response:
    _metrics_reader(s.settings, request, authorization)
    await s.runner.update_gauges()
    return Response(generate_latest(s.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _metrics_reader(settings: Settings, request: Request, authorization: str | None) -> None:
    """/metrics: with PORTRAIT_METRICS_TOKEN set, that bearer token; without one, loopback clients only."""
    if settings.security.metrics_token is not None:
        token = bearer_token(authorization)
        if token is None or not same_secret(token, settings.security.metrics_token.get_secret_value()):
            raise HTTPException(401, "metrics need the metrics token (Authorization: Bearer <token>)")
        return
    if not is_loopback(request.client.host if request.client else ""):
        raise HTTPException(403, "metrics are served to this machine only; set PORTRAIT_METRICS_TOKEN to read them")
