"""The style server as the kiosk sees it: the ``shared`` protocol over httpx. Call from worker threads."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator

import httpx

from shared.protocol import (
    API_PREFIX,
    EVENT_FRAME_PATH,
    IDEMPOTENCY_HEADER,
    PREVIEWS_PATH,
    TOKEN_HEADER,
    FrameInfo,
    FrameSettings,
    JobCreated,
    JobEvent,
    JobRequest,
    JobStatus,
    PreviewRequest,
    StyleList,
    StylePreview,
)


class ServerUnavailable(Exception):
    """The server cannot take the request now (offline, restarting, busy): keep it and try later."""


class RequestRejected(Exception):
    """The server refused the request itself (4xx): trying again will not help."""


class UntrustedServer(ServerUnavailable):
    """The server's certificate is not the pinned one: the TLS handshake failed before anything was sent."""


def _checked(response: httpx.Response) -> httpx.Response:
    """The response if it is a success; else what the kiosk should make of it (a read response)."""
    if response.status_code in (429, 502, 503, 504) or response.status_code >= 500:
        raise ServerUnavailable(f"server answered {response.status_code}")
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise RequestRejected(str(detail))
    return response


def _unavailable(exc: httpx.TransportError, doing: str) -> ServerUnavailable:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(cause):
            return UntrustedServer("the server's certificate is not the pinned one: nothing was sent")
        cause = cause.__cause__ or cause.__context__
    return ServerUnavailable(f"{doing} ({type(exc).__name__})")


class ServerApi:
    """``verify``: the TLS trust for an https server (the kiosk passes a context that trusts only the pinned
    certificate); ``events_read_timeout``: a progress stream silent this long counts as broken."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = 15.0,
        verify: ssl.SSLContext | bool = True,
        events_read_timeout: float = 45.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.events_read_timeout = events_read_timeout
        self.client = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            verify=verify,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, url: str, **kwargs) -> httpx.Response:
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise _unavailable(exc, "cannot reach the server") from None
        return _checked(response)

    def styles(self) -> StyleList:
        return StyleList.model_validate(self._call("GET", f"{API_PREFIX}/styles").json())

    def thumbnail(self, url: str) -> bytes:
        return self._call("GET", url).content

    def submit(self, portrait_jpeg: bytes, request: JobRequest, idempotency_key: str) -> JobCreated:
        response = self._call(
            "POST",
            f"{API_PREFIX}/jobs",
            data=request.to_form(),
            files={"portrait": ("portrait.jpg", portrait_jpeg, "image/jpeg")},
            headers={IDEMPOTENCY_HEADER: idempotency_key},
        )
        return JobCreated.model_validate(response.json())

    def set_frame(self, settings: FrameSettings, files: dict[str, tuple[str, bytes, str]]) -> FrameInfo:
        """The event frame every portrait leaving the server gets from now on (``files``: overlay, logo)."""
        response = self._call("PUT", EVENT_FRAME_PATH, data={"settings": settings.model_dump_json()}, files=files)
        return FrameInfo.model_validate(response.json())

    def remove_frame(self) -> None:
        self._call("DELETE", EVENT_FRAME_PATH)

    def frame_preview(
        self, settings: FrameSettings, files: dict[str, tuple[str, bytes, str]], portrait: bytes
    ) -> bytes:
        """``portrait`` (JPEG) in the frame, as the server would draw it; the server keeps nothing."""
        files = {**files, "portrait": ("portrait.jpg", portrait, "image/jpeg")}
        data = {"settings": settings.model_dump_json()}
        return self._call("POST", f"{EVENT_FRAME_PATH}/preview", data=data, files=files).content

    def previews(self, photo_jpeg: bytes, request: PreviewRequest) -> Iterator[StylePreview]:
        """The visitor's face painted in each style, one tile at a time as the server paints them (a streamed
        answer: the palettes in one pass, the paintings in small ones)."""
        try:
            with self.client.stream(
                "POST",
                PREVIEWS_PATH,
                params=request.to_params(),
                content=photo_jpeg,
                headers={"Content-Type": "image/jpeg"},
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    _checked(response)
                for line in response.iter_lines():
                    if line:
                        yield StylePreview.model_validate_json(line)
        except httpx.TimeoutException:
            raise ServerUnavailable("the previews did not arrive in time") from None
        except httpx.TransportError as exc:
            raise _unavailable(exc, "lost the server") from None

    def events(self, job: JobCreated) -> Iterator[JobEvent]:
        """Server-sent events of a job until it ends. Raises ServerUnavailable if the stream breaks, or stays
        silent longer than ``events_read_timeout`` (the server's keep-alive comments arrive far more often, so
        silence means a half-open connection: a venue Wi-Fi that dropped us without a word)."""
        url = f"{API_PREFIX}/jobs/{job.id}/events"
        timeout = httpx.Timeout(self.client.timeout.connect, read=self.events_read_timeout)
        try:
            with self.client.stream("GET", url, headers={TOKEN_HEADER: job.token}, timeout=timeout) as response:
                if response.status_code != 200:
                    raise ServerUnavailable(f"events answered {response.status_code}")
                for line in response.iter_lines():  # ": keep-alive" comments only reset the read timeout
                    if line.startswith("data: "):
                        yield JobEvent.model_validate(json.loads(line[6:]))
        except httpx.TimeoutException:
            raise ServerUnavailable(f"no word from the server for {self.events_read_timeout:g} s") from None
        except httpx.TransportError as exc:
            raise _unavailable(exc, "lost the server") from None

    def result(self, job: JobCreated) -> bytes:
        return self._call("GET", f"{API_PREFIX}/jobs/{job.id}/result", headers={TOKEN_HEADER: job.token}).content

    def status(self, job: JobCreated) -> JobStatus:
        response = self._call("GET", f"{API_PREFIX}/jobs/{job.id}", headers={TOKEN_HEADER: job.token})
        return JobStatus.model_validate(response.json())

    def erase(self, job: JobCreated) -> None:
        """Cancel the job and erase all of it on the server: its painting, its download link, its photo."""
        self._call("DELETE", f"{API_PREFIX}/jobs/{job.id}", headers={TOKEN_HEADER: job.token})
