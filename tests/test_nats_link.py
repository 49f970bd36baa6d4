"""The NATS link's own event-loop thread, as a busy machine schedules it, and the calls other loops make on it."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from portrait_booth.scaleout import NatsServer
from style_server.service.jobtypes import BackendUnavailable
from style_server.service.nats_backend import link
from style_server.service.nats_backend.link import all_at_once


class LateThread(threading.Thread):
    """A thread the scheduler runs half a second after it was started."""

    def run(self) -> None:
        time.sleep(0.5)
        super().run()


def test_a_loop_thread_that_starts_late_still_connects(tmp_path, monkeypatch):
    """A mailer once failed to start in CI with "the connection is closed": its loop was not running yet."""
    nats = NatsServer(tmp_path / "nats").start()
    monkeypatch.setattr(link, "threading", SimpleNamespace(Thread=LateThread, Event=threading.Event))
    connection = None
    try:
        connection = link.NatsLink([nats.url], "late")
        assert connection.nc.is_connected
    finally:
        if connection is not None:
            connection.close()
        nats.stop()


def test_a_call_from_another_loop_finishes_without_its_caller_and_fails_clearly(tmp_path):
    """``NatsLink.call``: a write is never cut in half by its caller going away (a shutdown), a call past its
    time is stopped on the connection's loop, and a closed link refuses calls; each failure is BackendUnavailable."""
    nats = NatsServer(tmp_path / "nats").start()
    connection = link.NatsLink([nats.url], "calls")
    written, stopped = threading.Event(), threading.Event()

    async def write() -> str:  # runs on the connection's loop
        await asyncio.sleep(0.3)
        written.set()
        return "written"

    async def hang() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            stopped.set()
            raise

    async def run() -> None:
        assert await connection.call(write()) == "written"
        written.clear()
        caller = asyncio.ensure_future(connection.call(write()))
        await asyncio.sleep(0.05)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert await asyncio.to_thread(written.wait, 10)  # the write went on without its caller
        with pytest.raises(BackendUnavailable, match="TimeoutError"):
            await connection.call(hang(), timeout=0.2)
        assert await asyncio.to_thread(stopped.wait, 10)  # and a call past its time was stopped there

    try:
        asyncio.run(run())
        connection.close()
        with pytest.raises(BackendUnavailable, match="closed"):
            asyncio.run(connection.call(write()))
    finally:
        connection.close()
        nats.stop()


def test_calls_made_at_once_all_run_to_their_end_before_a_failure_is_raised():
    """A job's independent writes go out at once (``all_at_once``): one that fails must not leave another cut off
    half way, nor its own failure unseen."""
    finished = []

    async def write(name: str, seconds: float, fails: bool = False) -> str:
        await asyncio.sleep(seconds)
        if fails:
            raise ConnectionError(name)
        finished.append(name)
        return name

    async def scenario() -> None:
        assert await all_at_once(write("key", 0.02), write("portrait", 0.01)) == ["key", "portrait"]
        with pytest.raises(ConnectionError, match="portrait"):
            await all_at_once(write("portrait", 0.0, fails=True), write("index", 0.05))
        assert finished == ["portrait", "key", "index"]  # the slow write ended although the other had failed

    asyncio.run(scenario())
