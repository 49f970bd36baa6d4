"""Download links for visitors' phones (the kiosk shows one as a QR code).

Each job gets a random code (192 bits, ``Store.create``) that opens its painting and nothing else: only while the
job is done and inside the retention promise; erasing the job (cancel, erase, retention) erases the code.
"""

from __future__ import annotations

import re
import time

from shared.protocol import API_PREFIX, JobState

from ..config import Settings
from .backend import AsyncJobBackend
from .jobtypes import Job

CODE = re.compile(r"[A-Za-z0-9_-]{32}")  # secrets.token_urlsafe(24)


def download_path(job: Job) -> str | None:
    """Where the painting is downloaded, below any server's address: only once the painting is done."""
    if job.state != JobState.done or not job.download_code:
        return None
    return f"{API_PREFIX}/download/{job.download_code}"


def absolute_link(public_url: str | None, path: str | None) -> str | None:
    """The absolute link for the QR code: only with ``PORTRAIT_PUBLIC_URL`` set (phones reach the booth there)."""
    return f"{public_url.rstrip('/')}{path}" if public_url is not None and path is not None else None


def download_url(settings: Settings, job: Job) -> str | None:
    return absolute_link(settings.server.public_url, download_path(job))


async def downloadable(settings: Settings, store: AsyncJobBackend, code: str) -> bytes | None:
    """The painting a code opens, or None: unknown or erased code, job not done, or past retention."""
    if not CODE.fullmatch(code):
        return None
    job = await store.by_download_code(code)
    if job is None or job.state != JobState.done:
        return None
    if time.time() - job.created >= settings.retention.retention_hours * 3600:  # due for erasure: already gone for us
        return None
    return await store.result(job.id)
