"""Who may call, how often, and what they may upload."""

from __future__ import annotations

import io
import logging
import secrets
import time
from typing import BinaryIO, Protocol

from fastapi import HTTPException
from PIL import Image

from ..engine.errors import ImageError
from ..engine.imageio import load_image
from .jobtypes import BackendUnavailable
from .refusals import RateLimited, UploadInvalid, UploadNotAnImage, UploadTooLarge

log = logging.getLogger("style_server.api")

MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}


def same_secret(a: str, b: str) -> bool:
    """Compare secrets (keys, tokens, hashes) in constant time."""
    return secrets.compare_digest(a.encode(), b.encode())


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    scheme, _, token = (authorization or "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def kiosk_for(authorization: str | None, api_keys: dict[str, str]) -> str:
    """The kiosk name behind a ``Bearer`` key; 401 otherwise (constant-time comparison)."""
    if key := bearer_token(authorization):
        for kiosk, expected in api_keys.items():
            if same_secret(key, expected):
                return kiosk
    raise HTTPException(
        401, "missing or wrong API key (send Authorization: Bearer <key>)", headers={"WWW-Authenticate": "Bearer"}
    )


class Places(Protocol):
    """Where the places are counted: the job backend (``AsyncJobBackend.reserve_place``), shared by API nodes."""

    async def reserve_place(self, kiosk: str, limit: int, now: float) -> float: ...
    async def release_place(self, kiosk: str, place: float) -> None: ...


class RateLimiter:
    """At most ``per_minute`` new jobs per kiosk in any 60-second window, counted in the backend so that a kiosk
    gets that many however many API nodes it reaches. Only accepted jobs count: a request reserves a place (so
    parallel requests cannot overrun the limit) and gives it back if it is refused."""

    def __init__(self, per_minute: int, places: Places, what: str = "jobs") -> None:
        self.per_minute, self.places, self.what = per_minute, places, what

    def _key(self, kiosk: str) -> str:
        """Each kind of request has its own count: a kiosk's previews never use up its jobs' places."""
        return kiosk if self.what == "jobs" else f"{kiosk}/{self.what}"

    async def reserve(self, kiosk: str) -> float:
        """Take a place in the kiosk's window or raise ``RateLimited``; returns the place, for ``release``."""
        now = time.time()  # wall-clock: API nodes on several hosts share the count
        wait = await self.places.reserve_place(self._key(kiosk), self.per_minute, now)
        if wait:
            retry = int(wait) + 1
            detail = f"too many {self.what} from this kiosk; try again in {retry} s"
            raise RateLimited(detail, retry_after=retry)
        return now

    async def release(self, kiosk: str, place: float) -> None:
        """The request was refused (or was a replay): its place does not count. Never raises: it runs while
        another error is on its way to the kiosk."""
        try:
            await self.places.release_place(self._key(kiosk), place)
        except BackendUnavailable as exc:  # the place runs out with its minute
            log.warning("a refused request of kiosk %s still counts towards its rate limit: %s", kiosk, exc)


def sniff(data: bytes) -> str | None:
    for magic, kind in MAGIC.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def read_image(file: BinaryIO, field: str, max_bytes: int, max_pixels: int) -> bytes:
    """Read, check and re-encode an uploaded picture as PNG: metadata (EXIF, GPS) does not survive. Blocking:
    decoding and re-encoding a 40 MP photo takes seconds, so run it in a worker thread, never the event loop."""
    data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadTooLarge(f"{field} is larger than {max_bytes // 1_000_000} MB")
    if not data:
        raise UploadInvalid(f"{field} is empty (0 bytes)")
    if sniff(data) is None:
        raise UploadNotAnImage(f"{field} must be a JPEG, PNG or WebP image")
    return reencode_png(data, field, max_pixels)


def decode_upload(data: bytes, field: str, max_pixels: int) -> Image.Image:
    """An uploaded picture decoded (checked, upright, RGB), or the refusal that says why not. Blocking."""
    try:
        return load_image(data, max_pixels)
    except ImageError as exc:
        refused = UploadTooLarge if "too large" in str(exc) else UploadInvalid
        raise refused(f"{field}: {str(exc).removeprefix('upload: ')}") from None


def reencode_png(data: bytes, field: str, max_pixels: int) -> bytes:
    """Decode (checked, upright, RGB) and encode again as PNG: metadata (EXIF, GPS) does not survive. Blocking."""
    image = decode_upload(data, field, max_pixels)
    buf = io.BytesIO()
    image.save(buf, "PNG")  # upright, RGB, no metadata
    return buf.getvalue()
