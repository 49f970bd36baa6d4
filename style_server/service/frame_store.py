"""Where the event frame is kept, so that every process that lets a portrait go (API nodes, mail workers) lays
the same frame over it.

- One host (``PORTRAIT_BACKEND=sqlite``): ``<data_dir>/event/frame.bin``, replaced atomically.
- NATS: the Object Store bucket ``portrait-event`` (no TTL: it is the event's setting, not personal data), one
  object ``frame``; every node reads the same one.

Both keep the frame as ``EventFrame.stored`` in one piece, so a reader sees the old frame or the new one, never
half of each; a reader decodes it again only when it changed (file: its size and time; NATS: its digest).
Every caller is on an event loop (routes, the mail outbox): NATS is awaited on the connection's loop, a file is
read and written on a thread, and only a changed frame is decoded (on a thread: it is a PNG).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..engine.imageio import write_atomic
from .framing import EventFrame, framed_jpeg

if TYPE_CHECKING:
    from ..config import Settings
    from .backend import JobBackend
    from .nats_backend import NatsLink

log = logging.getLogger("style_server.frame")
BUCKET, OBJECT = "portrait-event", "frame"
T = TypeVar("T")


class FrameStore(Protocol):
    """The event frame, as every process sees it (awaited on the caller's event loop)."""

    async def current(self) -> EventFrame | None: ...
    async def put(self, frame: EventFrame) -> None: ...
    async def delete(self) -> None: ...


class _Decoded:
    """The last frame read, by a version key: decoding a frame PNG for every mail would be wasted work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: Any = None
        self._frame: EventFrame | None = None

    def cached(self, key: Any) -> tuple[bool, EventFrame | None]:
        """Whether the frame of ``key`` is the one decoded last, and that frame."""
        with self._lock:
            return key == self._key, self._frame

    async def get(self, key: Any, read: Callable[[], Awaitable[bytes | None]]) -> EventFrame | None:
        """The frame of ``key``: the one decoded last, or ``read`` and decoded (on a thread) when it changed."""
        hit, frame = self.cached(key)
        if hit:
            return frame
        frame = await asyncio.to_thread(self._decode, await read())
        with self._lock:
            self._frame, self._key = frame, key
        return frame

    @staticmethod
    def _decode(data: bytes | None) -> EventFrame | None:
        if not data:
            return None
        try:
            return EventFrame.from_bytes(data)
        except (ValueError, KeyError, OSError) as exc:  # portraits still leave, unframed, rather than not at all
            log.error("the stored event frame cannot be read (%s); portraits go out without it", exc)
            return None


class FileFrameStore:
    """One host: a file in the data folder, read and written on a thread of its own (one: in order)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "frame.bin"
        self._decoded = _Decoded()
        self._io = ThreadPoolExecutor(1, thread_name_prefix="frame-file")

    async def _on_own_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn)

    async def current(self) -> EventFrame | None:
        try:
            stat = self.path.stat()  # on the loop: a stat of a local file, and most reads end here
        except FileNotFoundError:
            return await self._decoded.get(None, _nothing)
        return await self._decoded.get((stat.st_mtime_ns, stat.st_size, stat.st_ino), self._read)

    async def _read(self) -> bytes | None:
        def read() -> bytes | None:
            try:
                return self.path.read_bytes()
            except FileNotFoundError:
                return None

        return await self._on_own_thread(read)

    async def put(self, frame: EventFrame) -> None:
        def write(handle) -> None:
            handle.write(frame.stored)
            handle.flush()
            os.fsync(handle.fileno())

        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self._on_own_thread(lambda: write_atomic(self.path, write))

    async def delete(self) -> None:
        await self._on_own_thread(lambda: self.path.unlink(missing_ok=True))


async def _nothing() -> None:
    return None


class NatsFrameStore:
    """Scale-out: one object in a JetStream Object Store bucket, shared by every node."""

    def __init__(self, link: NatsLink, replicas: int) -> None:
        self.link, self.replicas = link, replicas
        self._bucket: Any = None
        self._decoded = _Decoded()

    async def _store(self) -> Any:
        if self._bucket is None:
            from nats.js import api
            from nats.js.errors import BucketNotFoundError, NotFoundError

            js = self.link.js
            try:
                self._bucket = await js.object_store(BUCKET)
            except (BucketNotFoundError, NotFoundError):
                try:
                    self._bucket = await js.create_object_store(
                        bucket=BUCKET, storage=api.StorageType.FILE, replicas=self.replicas
                    )
                except Exception:  # another node made it meanwhile
                    self._bucket = await js.object_store(BUCKET)
        return self._bucket

    async def _digest(self) -> str | None:
        from .nats_backend import GONE

        store = await self._store()
        try:
            info = await store.get_info(OBJECT)
        except GONE:
            return None
        return None if info.deleted else info.digest

    async def _data(self) -> bytes | None:
        from .nats_backend import GONE

        try:
            return (await (await self._store()).get(OBJECT)).data
        except GONE:
            return None

    async def current(self) -> EventFrame | None:
        digest = await self.link.call(self._digest())
        return await self._decoded.get(digest, lambda: self.link.call(self._data()) if digest else _nothing())

    async def put(self, frame: EventFrame) -> None:
        data = frame.stored

        async def put() -> None:
            await (await self._store()).put(OBJECT, data)

        await self.link.call(put())

    async def delete(self) -> None:
        from .nats_backend import GONE

        async def delete() -> None:
            with contextlib.suppress(*GONE):
                await (await self._store()).delete(OBJECT)

        await self.link.call(delete())


def open_frame_store(settings: Settings, backend: JobBackend) -> FrameStore:
    """The frame store beside the settings' job backend: a NATS node shares the backend's connection."""
    if settings.storage.backend == "nats":
        return NatsFrameStore(backend.link, settings.storage.nats_replicas)  # type: ignore[attr-defined]
    return FileFrameStore(settings.storage.data_dir / "event")


async def framed(store: FrameStore, jpeg: bytes) -> bytes:
    """A kept painting as it leaves the server: in the event's frame, if one is set (drawn on a thread)."""
    frame = await store.current()
    return jpeg if frame is None else await asyncio.to_thread(framed_jpeg, jpeg, frame)
