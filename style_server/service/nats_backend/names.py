"""The names the NATS backend gives its streams, buckets and keys, shared by its parts (and by tests that look
inside a cluster)."""

from __future__ import annotations

import hashlib

from nats.js.errors import BadObjectMetaError, NotFoundError, ObjectDeletedError
from nats.js.object_store import OBJ_STREAM_TEMPLATE

JOBS_KV, WORKERS_KV, IMAGES = "portrait-jobs", "portrait-workers", "portrait-images"
MAIL_STREAM, MAIL_SUBJECT, DEAD_STREAM, EVENTS = "PORTRAIT_MAIL", "portrait.mail", "PORTRAIT_DEAD", "portrait.events"
IMAGES_STREAM = OBJ_STREAM_TEMPLATE.format(bucket=IMAGES)
KEYS_STREAM, KEYS_SUBJECT = "PORTRAIT_KEYS", "portrait.keys"  # one message per job: the key of its personal data
PICTURES_STREAM, PICTURES_SUBJECT = "PORTRAIT_PICTURES", "portrait.pictures"  # an image that fits one message
GONE = (NotFoundError, ObjectDeletedError, BadObjectMetaError)  # an object that is not there (any more)
WORKER_TTL = 30.0  # a worker not heard of for this long no longer counts towards capacity
RATES_KV = "portrait-rates"  # per kiosk: the times of its accepted jobs in the last minute, seen by every API node
READY_TIMEOUT, READY_FOR = 2.0, 1.0  # a readiness check waits this long for NATS; its answer is kept this long


def picture_subject(name: str) -> str:
    """The subject of an image kept as one message: ``<job>/portrait.png`` is
    ``portrait.pictures.<job>.portrait_png``."""
    job_id, _, file = name.partition("/")
    return f"{PICTURES_SUBJECT}.{job_id}.{file.replace('.', '_')}"


def picture_name(subject: str) -> str:
    """The image name of a picture subject (``picture_subject`` reversed)."""
    job_id, file = subject.removeprefix(f"{PICTURES_SUBJECT}.").split(".")
    return f"{job_id}/{file.replace('_', '.')}"


def lane_stream(method: str) -> str:
    return f"PORTRAIT_{method.upper()}"


def lane_subject(method: str) -> str:
    return f"portrait.jobs.{method}"


def idempotency_index(kiosk: str, key: str) -> str:
    """A KV key for (kiosk, Idempotency-Key): any characters may be in either, KV keys allow few."""
    return "idem." + hashlib.sha256(f"{kiosk}\0{key}".encode()).hexdigest()[:40]


def download_index(code: str) -> str:
    """The KV key of a download code: its hash, so the code itself is never written in the clear."""
    return "dl." + hashlib.sha256(code.encode()).hexdigest()[:40]
