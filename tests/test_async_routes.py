"""Routes await the store (issue 23): a request never holds one of the event loop's shared threads for a store
call, on either backend. The real app runs under a real uvicorn on 127.0.0.1, in this process, on a loop whose
shared pool notes every call a request makes to it. Only the decoding of an upload (CPU work) may go there."""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx
import pytest
import uvicorn

from portrait_booth.scaleout import NatsServer
from shared.protocol import EVENT_FRAME_PATH
from style_server.config import Settings
from style_server.service.app import create_app
from tests.harness import API_KEY, DEMO_PHOTO, QUICK, free_port, wait_until

REQUEST: contextvars.ContextVar[str | None] = contextvars.ContextVar("request", default=None)
DECODING = {"read_image", "_hash_request"}  # an upload's CPU work: the shared pool is there for it
DRAWING = {"make_frame", "info", "_decode"}  # an event frame's CPU work (checking, encoding, decoding it)


class SharedPool(ThreadPoolExecutor):
    """The loop's shared pool (``asyncio.to_thread``), noting what each request hands it."""

    def __init__(self) -> None:
        super().__init__(4)
        self.calls: list[tuple[str, str]] = []

    def submit(self, fn, /, *args, **kwargs):
        if (request := REQUEST.get()) is not None:
            call = fn.args[0] if isinstance(fn, partial) and fn.args else fn  # to_thread wraps it in Context.run
            self.calls.append((request, getattr(call, "__name__", repr(call))))
        return super().submit(fn, *args, **kwargs)


def tagged(app):
    """The app, with each HTTP request's method and route known to the pool (through a context variable)."""

    async def asgi(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        token = REQUEST.set(f"{scope['method']} {scope['path']}")
        try:
            await app(scope, receive, send)
        finally:
            REQUEST.reset(token)

    return asgi


@pytest.fixture(params=["sqlite", "nats"])
def served(request, tmp_path: Path, engine) -> Iterator[tuple[httpx.Client, SharedPool]]:
    nats = NatsServer(tmp_path / "nats").start() if request.param == "nats" else None
    backend = {"backend": request.param, **({"nats_url": nats.url} if nats else {})}
    settings = Settings(data_dir=tmp_path / "data", api_keys={"kiosk-a": API_KEY}, **QUICK, **backend)
    port, pool = free_port(), SharedPool()
    server = uvicorn.Server(
        uvicorn.Config(tagged(create_app(settings, engine)), host="127.0.0.1", port=port, log_level="warning")
    )

    def serve() -> None:
        loop = asyncio.new_event_loop()
        loop.set_default_executor(pool)
        loop.run_until_complete(server.serve())
        loop.close()

    thread = threading.Thread(target=serve, name="uvicorn", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30) as client:
            wait_until(lambda: _ready(client), lambda: "the server never became ready", timeout=120)
            yield client, pool
    finally:
        server.should_exit = True
        thread.join(30)
        if nats is not None:
            nats.stop()


def _ready(client: httpx.Client) -> bool:
    try:
        return client.get("/readyz").status_code == 200
    except httpx.TransportError:
        return False


def test_no_request_holds_a_shared_thread_for_the_store(served):
    client, pool = served
    posted = client.post(
        "/v1/jobs",
        files={"portrait": ("me.jpg", DEMO_PHOTO, "image/jpeg")},
        data={"style": "palette-04"},
        headers={"Idempotency-Key": "visit-1"},
    )
    assert posted.status_code == 201, posted.text
    job = posted.json()
    token = {"X-Job-Token": job["token"]}
    assert client.get(f"/v1/jobs/{job['id']}", headers=token).json()["id"] == job["id"]
    with client.stream("GET", f"/v1/jobs/{job['id']}/events", headers=token) as events:
        assert next(events.iter_lines()).startswith("event: ")
    assert client.get("/v1/styles").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/v1/download/" + "x" * 32).status_code == 404
    frame = {"settings": json.dumps({"text": "Gala"})}
    assert client.put(EVENT_FRAME_PATH, data=frame).status_code == 200  # drawn on the pool: CPU work
    assert client.get(EVENT_FRAME_PATH).json()["settings"]["text"] == "Gala"
    assert client.delete(EVENT_FRAME_PATH).status_code == 204
    assert client.delete(f"/v1/jobs/{job['id']}", headers=token).status_code == 204
    assert client.get(f"/v1/jobs/{job['id']}", headers=token).json()["state"] == "cancelled"

    beside_cpu_work = [(request, call) for request, call in pool.calls if call not in DECODING | DRAWING]
    assert beside_cpu_work == []
    assert {call for _, call in pool.calls} == DECODING | DRAWING  # the pool was watched: that work was seen
