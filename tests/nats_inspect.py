"""Looking inside a test booth's NATS JetStream (object names, every stored KV value), as an operator could."""

from __future__ import annotations

import asyncio

import nats
from nats.js.errors import NoKeysError, NotFoundError

from shared.lanes import LANES
from style_server.service.nats_backend.names import (
    IMAGES,
    JOBS_KV,
    MAIL_STREAM,
    PICTURES_STREAM,
    PICTURES_SUBJECT,
    lane_stream,
    picture_name,
)


async def _contents(url: str) -> tuple[list[str], list[bytes]]:
    nc = await nats.connect(url.split(","))
    try:
        js = nc.jetstream()
        try:
            objects = [info.name for info in await (await js.object_store(IMAGES)).list(ignore_deletes=True)]
        except NotFoundError:  # an empty bucket
            objects = []
        pictures = await js.stream_info(PICTURES_STREAM, subjects_filter=f"{PICTURES_SUBJECT}.>")
        # an image too large for a message is in both: its chunks, and a message saying so
        objects = sorted({*objects, *(picture_name(subject) for subject in pictures.state.subjects or {})})
        kv = await js.key_value(JOBS_KV)
        values = []
        # the keys from the bucket stream's subjects, as the store lists them: kv.keys() is a watcher that can
        # stop early on a busy machine and leave keys out
        prefix = f"$KV.{JOBS_KV}."
        info = await js.stream_info(f"KV_{JOBS_KV}", subjects_filter=f"{prefix}>")
        keys = [subject.removeprefix(prefix) for subject in info.state.subjects or {}]
        for key in keys:
            try:
                history = await kv.history(key)
            except NoKeysError:  # purged meanwhile
                continue
            values.extend(key.encode() + b"=" + (entry.value or b"") for entry in history)
        return objects, values
    finally:
        await nc.close()


def nats_contents(url: str) -> tuple[list[str], list[bytes]]:
    """(names of the images kept, as messages or in the Object Store, every revision of every KV entry as
    ``key=value``)."""
    return asyncio.run(_contents(url))


async def _queued(url: str) -> int:
    nc = await nats.connect(url.split(","))
    try:
        js = nc.jetstream()
        streams = [MAIL_STREAM, *(lane_stream(lane) for lane in LANES)]
        return sum([(await js.stream_info(name)).state.messages for name in streams])
    finally:
        await nc.close()


def queued_messages(url: str) -> int:
    """Jobs and mails still in their work-queue streams: queued, or taken and not yet acknowledged."""
    return asyncio.run(_queued(url))
