"""Deadlines for slow clients: a connection that trickles its headers, or its upload, is cut.

uvicorn closes idle kept-alive connections (``timeout_keep_alive``) but gives a client all the time in the
world to finish a request. Two deadlines close that gap:

* ``header_protocol(seconds)``: an HTTP protocol (uvicorn's h11 one) that closes the connection when the
  request line and headers have not all arrived within ``seconds`` of the connection opening, or of the
  first byte of a following request on a kept-alive connection (slowloris).
* ``BodyDeadline``: ASGI middleware that answers 408 and closes when a request body has not all arrived
  within its deadline of the request starting (a one-byte-per-second upload).
"""

from __future__ import annotations

import asyncio

from fastapi.responses import JSONResponse
from uvicorn.protocols.http.h11_impl import H11Protocol


def header_protocol(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline for the request line and headers."""

    class HeaderDeadlineProtocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._header_timer is None and self._awaiting_headers():
                self._arm()  # the first bytes of the next request on a kept-alive connection
            super().data_received(data)
            if not self._awaiting_headers():
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _awaiting_headers(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(seconds, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self._awaiting_headers() and not self.transport.is_closing():
                self.logger.info("closed a connection that took over %g s to send its headers", seconds)
                self.transport.close()

    return HeaderDeadlineProtocol


class BodyDeadline:
    """The whole request body must arrive within ``seconds`` of the request starting, or the answer is 408.

    The 408 goes out from here, and the app then sees the client as gone (``http.disconnect``): this works
    whatever middleware or body parser sits between, and whatever the app tries to answer afterwards is dropped.
    """

    def __init__(self, app, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        body_done = timed_out = started = False

        async def timed_receive():
            nonlocal body_done, timed_out
            if body_done or timed_out:  # after the body only a disconnect can come: no deadline (SSE streams)
                return await receive() if not timed_out else {"type": "http.disconnect"}
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                timed_out = True
                if not started:
                    detail = f"the request body did not arrive within {self.seconds:g} s"
                    await JSONResponse({"detail": detail}, 408, {"Connection": "close"})(scope, receive, send)
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message) -> None:
            nonlocal started
            if timed_out:  # the 408 is out: what the app answers to a vanished client goes nowhere
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, timed_receive, guarded_send)
