"""A NATS connection on its own event-loop thread: blocking callers wait on it (``run``), coroutines on another
loop await it without a thread (``call``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections.abc import Awaitable, Coroutine
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, TypeVar

import nats
import nats.errors

from ..jobtypes import BackendUnavailable

log = logging.getLogger("style_server.nats")
T = TypeVar("T")
DRAIN_SECONDS = 5


class NatsLink:
    """A NATS connection on its own event-loop thread, for blocking callers and for other event loops."""

    def __init__(
        self, servers: list[str], name: str, ca_file: Path | None = None, connect_timeout: float = 10.0
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._loop_error)
        self.closing = False
        self._leaving = False  # set as this process closes the connection itself: no outage to report
        self._last_error = ""
        running = threading.Event()
        self.loop.call_soon(running.set)
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"nats-{name}", daemon=True)
        self._thread.start()
        if not running.wait(connect_timeout):  # until it runs, `run` would take the idle loop for a closed one
            raise BackendUnavailable("NATS: the connection's event loop did not start")
        self.nc = self.run(
            nats.connect(
                servers=servers,
                tls=ssl.create_default_context(cafile=str(ca_file)) if ca_file else None,
                name=name,
                connect_timeout=connect_timeout,
                max_reconnect_attempts=-1,  # a cluster node going away is a reconnect to another, never an end
                reconnect_time_wait=0.25,
                drain_timeout=DRAIN_SECONDS,  # a drain that hangs is reported (error_cb) and the connection closed
                error_cb=self._error,
                disconnected_cb=self._disconnected,
                reconnected_cb=self._reconnected,
            ),
            timeout=connect_timeout + 5,
        )
        self.js = self.nc.jetstream(timeout=10)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the connection's loop and wait; NATS failures become ``BackendUnavailable``."""
        future = self._submit(coro)
        try:
            return future.result(timeout)
        except (nats.errors.Error, FutureTimeout, TimeoutError, FutureCancelled) as exc:  # cancelled: by close
            future.cancel()
            raise _unavailable(exc) from exc

    async def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """``run`` for a coroutine on another event loop: awaited there, no thread held. A caller cancelled
        meanwhile (a shutdown, a pass stopped) leaves the call to finish, as a thread would: a write is never cut in
        half by a client going away."""
        future = self._submit(coro)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)
        except (nats.errors.Error, TimeoutError) as exc:
            future.cancel()
            if _caller_cancelled():  # it failed as its caller was cancelled (3.11's wait_for then gives the failure)
                raise asyncio.CancelledError from exc  # a loop shutting down would log a failure as unhandled
            raise _unavailable(exc) from exc
        except asyncio.CancelledError:
            if _caller_cancelled():
                raise
            raise BackendUnavailable("NATS: the connection closed during the call") from None  # by close

    def _submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        if self.closing or not self.loop.is_running():  # this process stops: nothing will answer
            coro.close()
            raise BackendUnavailable("NATS: the connection is closed")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def _error(self, exc: Exception) -> None:
        if str(exc) != self._last_error:  # an outage is one line, not one per reconnect attempt (4 a second)
            self._last_error = str(exc)
            log.warning("NATS: %s", exc)

    async def _disconnected(self) -> None:
        if not self._leaving:
            log.warning("NATS connection lost; reconnecting")

    async def _reconnected(self) -> None:
        self._last_error = ""
        log.info("NATS connection back")

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Tasks that ``close`` cancels or leaves unfinished on purpose (the client's drain, a call that came in as
        it closed) are no error; anything else goes to asyncio's usual handler."""
        cancelled = isinstance(context.get("exception"), asyncio.CancelledError)
        left_pending = self.closing and str(context.get("message", "")).startswith("Task was destroyed")
        if cancelled or left_pending:
            return
        loop.default_exception_handler(context)

    def close(self) -> None:
        if self.closing:  # closed before (a shutdown path that runs twice)
            return
        self._leaving = True
        with contextlib.suppress(Exception):
            self.run(self.nc.drain(), timeout=DRAIN_SECONDS + 5)
        self.closing = True  # from here on, callers get BackendUnavailable instead of a task left half-run
        with contextlib.suppress(Exception):  # the client's own tasks end here, not half-run when the loop closes
            asyncio.run_coroutine_threadsafe(_cancel_the_rest(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


def _caller_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _unavailable(exc: BaseException) -> BackendUnavailable:
    return BackendUnavailable(f"NATS: {type(exc).__name__} {exc}".strip())


async def _cancel_the_rest() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def all_at_once(*calls: Awaitable[Any]) -> list[Any]:
    """Independent calls at once (pipelined on the connection): each runs to its end, then the first failure is
    raised (any other logged), or their results returned in order."""
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    for other in failures[1:]:
        log.warning("a call made beside another that failed failed too (%s: %s)", type(other).__name__, other)
    if failures:
        raise failures[0]
    return outcomes
