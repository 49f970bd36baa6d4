"""Requests the server could not take yet, kept on the kiosk's disk until it can: nothing is lost.

Each entry is a folder with the portrait and the request (including its idempotency key, so a resend
after a crash or a lost answer never makes a second job). Entries survive a kiosk restart. Requests the
server refused for good wait in ``<outbox>-rejected/`` with the reason, for the operator. Both are personal
data: ``purge`` erases them after the same retention the server promises the visitor.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from shared.protocol import JobRequest

log = logging.getLogger(__name__)


@dataclass
class OutboxEntry:
    folder: Path
    idempotency_key: str
    request: JobRequest
    created: float
    reason: str = ""  # why the server refused it (rejected entries only)

    @property
    def portrait(self) -> bytes:
        return (self.folder / "portrait.jpg").read_bytes()


class RequestOutbox:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rejected_folder = folder.parent / f"{folder.name}-rejected"
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, portrait_jpeg: bytes, request: JobRequest, idempotency_key: str) -> OutboxEntry:
        entry_dir = self.folder / f"{time.time():.6f}-{uuid.uuid4().hex[:8]}"
        staging = entry_dir.parent / f"{entry_dir.name}.part"
        staging.mkdir()
        (staging / "portrait.jpg").write_bytes(portrait_jpeg)
        meta = {"idempotency_key": idempotency_key, "request": request.model_dump(mode="json"), "created": time.time()}
        (staging / "request.json").write_text(json.dumps(meta))
        os.replace(staging, entry_dir)  # complete or absent, never half-written
        return self._read(entry_dir)

    def pending(self) -> list[OutboxEntry]:
        return self._entries(self.folder)

    def rejected(self) -> list[OutboxEntry]:
        return self._entries(self.rejected_folder)

    def remove(self, entry: OutboxEntry) -> None:
        shutil.rmtree(entry.folder, ignore_errors=True)

    def set_aside(self, entry: OutboxEntry, reason: str) -> None:
        """The server refused it for good: keep it, with the reason, for the operator instead of retrying."""
        self.rejected_folder.mkdir(parents=True, exist_ok=True)
        meta = json.loads((entry.folder / "request.json").read_text())
        meta["reason"] = reason[:500]
        (entry.folder / "request.json").write_text(json.dumps(meta))
        os.replace(entry.folder, self.rejected_folder / entry.folder.name)

    def purge(self, retention_hours: float, now: float | None = None) -> int:
        """Erase entries (waiting or rejected) older than the retention: the visitor was promised that."""
        limit = (time.time() if now is None else now) - retention_hours * 3600
        erased = 0
        for folder in (self.folder, self.rejected_folder):
            if not folder.is_dir():
                continue
            for entry_dir in [p for p in folder.iterdir() if p.is_dir()]:
                try:
                    created = self._read(entry_dir).created
                except (OSError, ValueError):
                    created = entry_dir.stat().st_mtime  # unreadable or half-written: its age is the folder's
                if created < limit:
                    shutil.rmtree(entry_dir, ignore_errors=True)
                    erased += 1
        if erased:
            log.info("outbox: erased %d entries older than %g hours", erased, retention_hours)
        return erased

    def _entries(self, folder: Path) -> list[OutboxEntry]:
        if not folder.is_dir():
            return []
        entries = []
        for entry_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.endswith(".part")):
            try:
                entries.append(self._read(entry_dir))
            except (OSError, ValueError):
                continue
        return entries

    @staticmethod
    def _read(entry_dir: Path) -> OutboxEntry:
        meta = json.loads((entry_dir / "request.json").read_text())
        return OutboxEntry(
            entry_dir,
            meta["idempotency_key"],
            JobRequest.model_validate(meta["request"]),
            meta["created"],
            meta.get("reason", ""),
        )
