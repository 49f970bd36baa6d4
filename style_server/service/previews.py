"""The gallery's previews on the web side: the kept photo read into memory, checked, and painted in every style
asked for, pass by pass, as lines of JSON.

The photo is personal data that nobody asked to keep: it never touches a file (the body is read into memory, not
through a multipart parser that spools large parts to a temporary file), the database, the job queue or the log,
and nothing refers to it once the answer is sent.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import time
from collections.abc import AsyncIterator, Iterator

from fastapi import Request
from PIL import Image

from shared.protocol import (
    MIN_PORTRAIT_SIDE,
    PREVIEW_MAX_BYTES,
    PREVIEW_MAX_PIXELS,
    PREVIEW_MEDIA_TYPES,
    StylePreview,
)

from ..engine.catalogue import StyleCard
from ..engine.gallery import GalleryPainter
from .refusals import UploadInvalid, UploadNotAnImage, UploadTooLarge
from .security import decode_upload, sniff

log = logging.getLogger("style_server.api")
TILE_QUALITY = 85  # JPEG quality of a tile: some 20 kB at 256 px (26 kB as base64)


async def read_photo(request: Request) -> bytes:
    """The request's body (the photo) into memory, refused with 413 as soon as it passes ``PREVIEW_MAX_BYTES``."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type not in PREVIEW_MEDIA_TYPES:
        raise UploadNotAnImage(
            f"send the kept photo itself as the body, as {', '.join(PREVIEW_MEDIA_TYPES)} (not {media_type!r})"
        )
    too_large = UploadTooLarge(f"the photo is larger than {PREVIEW_MAX_BYTES // 1_000_000} MB; send the kept photo")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > PREVIEW_MAX_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > PREVIEW_MAX_BYTES:
            raise too_large
    if not body:
        raise UploadInvalid("the photo is empty (0 bytes)")
    return bytes(body)


def decode_photo(data: bytes) -> Image.Image:
    """The photo, decoded (upright, RGB) and checked. Blocking: run it in a worker thread."""
    if sniff(data) is None:
        raise UploadNotAnImage("the photo must be a JPEG, PNG or WebP image")
    photo = decode_upload(data, "photo", PREVIEW_MAX_PIXELS)
    if min(photo.size) < MIN_PORTRAIT_SIDE:
        raise UploadInvalid(
            f"the photo is {photo.width}x{photo.height}: at least {MIN_PORTRAIT_SIDE} px on each side, please"
        )
    return photo


def preview_lines(painter: GalleryPainter, photo: Image.Image, cards: list[StyleCard], side: int) -> Iterator[bytes]:
    """One chunk of NDJSON per forward pass: a ``StylePreview`` line per style. A pass that fails is logged and
    left out (those tiles keep their thumbnails on the kiosk); the others are still painted. Blocking: each step
    runs in a worker thread."""
    started, sent = time.perf_counter(), 0
    plan = painter.plan(photo, cards, side)
    del photo  # the tile is all the painting needs
    for indices in plan.passes:
        try:
            tiles = plan.paint(indices)
        except Exception:
            log.exception("a pass of %d gallery previews failed", len(indices))
            continue
        yield b"".join(tile_line(style_id, tile) for style_id, tile in tiles)
        sent += len(tiles)
    log.info("gallery previews: %d of %d styles in %.2f s", sent, len(cards), time.perf_counter() - started)


def tile_line(style_id: str, tile: Image.Image) -> bytes:
    buf = io.BytesIO()
    tile.save(buf, "JPEG", quality=TILE_QUALITY)
    preview = StylePreview(style=style_id, jpeg_base64=base64.b64encode(buf.getvalue()).decode())
    return preview.model_dump_json().encode() + b"\n"


async def stream(lines: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The lines off the event loop, each sent as soon as it is painted; a kiosk that hangs up stops the painting
    after the pass under way."""
    try:
        while (chunk := await asyncio.to_thread(next, lines, None)) is not None:
            yield chunk
    finally:
        lines.close()  # type: ignore[attr-defined]  # a generator: its photo and tiles go with it
