"""Job records and images on NATS: one JSON record per job in the KV bucket, its personal fields sealed with the
job's own key (kept apart in ``PORTRAIT_KEYS``), changed only with a revision check; images sealed, each as one
message in ``PORTRAIT_PICTURES`` (one write, one direct read), or in the Object Store's chunks when it is larger
than a message may be."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Callable, Collection
from typing import Any

from nats.js.errors import DigestMismatchError, KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.object_store import OBJ_CHUNKS_PRE_TEMPLATE, OBJ_DIGEST_TYPE

from shared.protocol import JobState

from ..jobtypes import Job, check
from ..sealing import opened_record, seal, stored_record, unseal
from .link import NatsLink, all_at_once
from .names import GONE, IMAGES, IMAGES_STREAM, KEYS_STREAM, KEYS_SUBJECT, PICTURES_STREAM, picture_subject

MESSAGE_HEADROOM = 4096  # a message's headers and framing, within the server's max_payload
IMAGE_HEADER = "Portrait-Image"
IN_CHUNKS = {IMAGE_HEADER: "in-chunks"}  # the message of an image too large for one: read it from the chunks


def moving(sources: JobState | Collection[JobState], target: JobState, **fields: Any) -> Callable[[dict], bool]:
    """A change for ``JobRecords.change``: a record in one of ``sources`` moves to ``target`` with ``fields``; any
    other is left as it is (it moved on). Raises ``IllegalTransition`` at once if the lifecycle has no such move."""
    sources = check(sources, target)

    def move(record: dict[str, Any]) -> bool:
        if record["state"] not in sources:
            return False
        record.update(state=target, **fields)
        return True

    return move


class JobRecords:
    """The job records (``jobs``: the KV bucket), the keys that open their personal fields, and the images
    (``images``: the Object Store bucket). Coroutines: they run on the link's loop."""

    def __init__(self, link: NatsLink, jobs: Any, images: Any) -> None:
        self.link, self.jobs, self.images = link, jobs, images

    async def record(self, job_id: str) -> tuple[dict[str, Any], int] | None:
        """The job's record with its personal fields opened, and its revision (write it with ``put``)."""
        if (found := await self._stored(job_id)) is None:
            return None
        stored, revision = found
        key = await self.key(job_id) if stored.get("sealed") else None
        return opened_record(stored, key), revision

    async def record_and_key(self, job_id: str) -> tuple[tuple[dict[str, Any], int] | None, bytes | None]:
        """``record`` and the job's key, read at once (a finish seals the painting with the key too)."""
        found, key = await all_at_once(self._stored(job_id), self.key(job_id))
        if found is None:
            return None, key
        stored, revision = found
        return (opened_record(stored, key if stored.get("sealed") else None), revision), key

    async def _stored(self, job_id: str) -> tuple[dict[str, Any], int] | None:
        try:
            entry = await self.jobs.get(f"job.{job_id}")
        except KeyNotFoundError:
            return None
        return (json.loads(entry.value), entry.revision) if entry.value is not None else None

    async def put(self, record: dict[str, Any], last: int) -> int:
        """Write a job's record (revision checked) with its personal fields sealed."""
        return await self.jobs.update(f"job.{record['id']}", stored_record(record), last=last)

    async def job(self, job_id: str) -> Job | None:
        found = await self.record(job_id)
        return Job.from_dict(found[0]) if found else None

    async def indexed(self, key: str) -> Job | None:
        """The job an index entry (idempotency key, download code) points to."""
        try:
            entry = await self.jobs.get(key)
        except KeyNotFoundError:
            return None
        return await self.job(entry.value.decode()) if entry.value else None

    async def change(
        self, job_id: str, change: Callable[[dict[str, Any]], bool], found: tuple[dict[str, Any], int] | None = None
    ) -> dict[str, Any] | None:
        """Apply ``change`` to the job's record with a revision check (retried if another node wrote first);
        ``change`` returns False to leave it. The record as written, or None if unchanged. ``found``: the record
        and revision just read, to save reading it again."""
        for attempt in range(20):
            if attempt or found is None:
                found = await self.record(job_id)
            if found is None:
                return None
            record, revision = found
            if not change(record):
                return None
            try:
                await self.put(record, revision)
                return record
            except KeyWrongLastSequenceError:
                continue
        raise RuntimeError(f"job {job_id}: too many concurrent changes")

    async def key(self, job_id: str) -> bytes | None:
        """The key of the job's personal data; None once erased (or lost with the whole cluster)."""
        try:
            return (await self.link.js.get_msg(KEYS_STREAM, subject=f"{KEYS_SUBJECT}.{job_id}")).data
        except NotFoundError:
            return None

    async def drop_key(self, job_id: str) -> None:
        """Crypto-shredding: a deleted message is overwritten on disk (a purge would leave its bytes)."""
        with contextlib.suppress(NotFoundError):
            msg = await self.link.js.get_msg(KEYS_STREAM, subject=f"{KEYS_SUBJECT}.{job_id}")
            await self.link.js.delete_msg(KEYS_STREAM, msg.seq)

    async def put_image(self, name: str, data: bytes, key: bytes) -> None:
        sealed = seal(key, data, name)
        if len(sealed) <= self.link.nc.max_payload - MESSAGE_HEADROOM:
            await self.link.js.publish(picture_subject(name), sealed, stream=PICTURES_STREAM)
            return
        # larger than a message: in chunks, then a message saying so, which replaces a smaller copy written before
        # (a repainted result) in one step
        await self.images.put(name, sealed)
        await self.link.js.publish(picture_subject(name), b"", headers=IN_CHUNKS, stream=PICTURES_STREAM)

    async def delete_images(self, job_id: str, *names: str) -> None:
        for name in names:
            await self.link.js.purge_stream(PICTURES_STREAM, subject=picture_subject(f"{job_id}/{name}"))
            with contextlib.suppress(*GONE):
                await self.images.delete(f"{job_id}/{name}")

    async def image(self, name: str) -> bytes | None:
        """An image: its message, else its chunks (one too large for a message, or written before images were
        messages). Its message and its job's key are independent reads: made at once."""
        msg, key = await all_at_once(self._message(picture_subject(name)), self.key(name.split("/")[0]))
        if msg is not None and (msg.headers or {}).get(IMAGE_HEADER) != IN_CHUNKS[IMAGE_HEADER]:
            data = msg.data
        else:
            data = await self._chunked(name)
        if data is None:
            return None
        return unseal(key, bytes(data), name) if key is not None else None  # no key: erased

    async def _message(self, subject: str) -> Any:
        """A direct get, answered by any replica; one that has not yet heard of a message just written says it
        is not there, so a miss asks the stream's leader."""
        for direct in (True, False):
            try:
                return await self.link.js.get_msg(PICTURES_STREAM, subject=subject, direct=direct)
            except NotFoundError:
                continue
        return None

    async def _chunked(self, name: str) -> bytes | None:
        """An image from the Object Store, read chunk by chunk with stream message gets: the library's get sets up
        and removes an ordered consumer for every read, which made it about twice as slow (bench/RESULTS.md)."""
        try:
            info = await self.images.get_info(name)
            subject, data, seq = OBJ_CHUNKS_PRE_TEMPLATE.format(bucket=IMAGES, obj=info.nuid), bytearray(), 0
            for _ in range(info.chunks or 0):
                chunk = await self.link.js.get_msg(IMAGES_STREAM, seq + 1, subject, next=True)
                seq = chunk.seq
                data += chunk.data or b""
        except GONE:  # never written, deleted, or deleted while it was read
            return None
        expected = base64.urlsafe_b64decode(info.digest[len(OBJ_DIGEST_TYPE) :])  # as the library checks it
        if hashlib.sha256(data).digest() != expected:
            raise DigestMismatchError
        return bytes(data)

    async def bucket_keys(self, bucket: str, prefix: str) -> list[str]:
        """The keys of a KV bucket that start with ``prefix``, from the bucket stream's subjects. Not keys(): its
        watcher is a consumer that lingers 5 min on the server, and capacity is read every 2 s by every process
        (32 workers reached the server's 1000 consumers)."""
        subjects = f"$KV.{bucket}."
        try:
            info = await self.link.js.stream_info(f"KV_{bucket}", subjects_filter=f"{subjects}{prefix}>")
        except NotFoundError:
            return []
        return [subject.removeprefix(subjects) for subject in info.state.subjects or {}]
