"""The NATS link's own event-loop thread, as a busy machine schedules it, and the calls other loops make on it."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from types import SimpleNamespace

import nats.errors as nats_errors
import pytest

from portrait_booth.scaleout import NatsServer
from style_server.config import Settings
from style_server.service.jobtypes import BackendUnavailable
from style_server.service.nats_backend import NatsStore, link
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


def test_a_store_that_has_pulled_work_closes_without_waiting_out_the_drain(tmp_path, caplog):
    """The client's drain waits for each subscription's queue to be marked done, which a pull fetch never does:
    every worker and mailer that had fetched once sat out the drain's timeout (and a container stop's grace)."""
    nats = NatsServer(tmp_path / "nats").start()
    settings = Settings(backend="nats", nats_url=nats.url, data_dir=tmp_path / "data")
    caplog.set_level(logging.INFO, logger="style_server.nats")
    try:
        worker, mailer = NatsStore(settings, "worker"), NatsStore(settings, "mailer")
        assert worker.take("fast", 1, 0.1) == [] and mailer.due_mail(time.time()) == []  # both have fetched
        for store in (worker, mailer):
            store.close()
            assert store.link.nc.is_closed
    finally:
        nats.stop()
    said = [record.getMessage() for record in caplog.records]
    assert not [line for line in said if "draining connection timed out" in line], said
    assert not [line for line in said if "connection lost" in line], said  # leaving is not an outage


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


def test_a_call_that_fails_as_its_caller_is_cancelled_ends_cancelled(tmp_path):
    """A mailer stopping cancels its pass as the link closes under the pass's fetch: the fetch's failure must not
    replace the cancel, or the loop's shutdown logs it as an unhandled error. Cancelled at each step of the
    failure's way back to the caller, the caller ends cancelled, or (once the failure has reached it) failed."""
    nats = NatsServer(tmp_path / "nats").start()
    connection = link.NatsLink([nats.url], "cancelled")

    failing = threading.Event()

    async def closed() -> None:  # runs on the connection's loop
        await asyncio.sleep(0.05)
        failing.set()
        raise nats_errors.ConnectionClosedError

    async def cancelled_after(turns: int) -> type[BaseException]:
        failing.clear()
        caller = asyncio.ensure_future(connection.call(closed()))
        await asyncio.sleep(0)
        assert failing.wait(30)  # this loop held up while the call fails on the connection's loop
        time.sleep(0.05)  # and its failure reaches the call's future there
        for _ in range(turns):
            await asyncio.sleep(0)
        already_over = caller.done()
        caller.cancel()
        try:
            await caller
        except BaseException as exc:
            assert isinstance(exc, BackendUnavailable if already_over else asyncio.CancelledError), (turns, exc)
            return type(exc)
        raise AssertionError("the call cannot succeed")

    async def run() -> list[type[BaseException]]:
        return [await cancelled_after(turns) for turns in range(8)]

    try:
        ends = asyncio.run(run())
        assert asyncio.CancelledError in ends and BackendUnavailable in ends  # both sides of the race were run
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
