"""Requests the server could not take yet, kept on the kiosk's disk until it can: nothing is lost.

Each entry is a folder with the portrait and the request (including its idempotency key, so a resend
after a crash or a lost answer never makes a second job). Entries survive a kiosk restart.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from shared.protocol import JobRequest


@dataclass
class OutboxEntry:
    folder: Path
    idempotency_key: str
    request: JobRequest
    created: float

    @property
    def portrait(self) -> bytes:
        return (self.folder / "portrait.jpg").read_bytes()


class Outbox:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
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
        entries = []
        for entry_dir in sorted(p for p in self.folder.iterdir() if p.is_dir() and not p.name.endswith(".part")):
            try:
                entries.append(self._read(entry_dir))
            except (OSError, ValueError):
                continue
        return entries

    def remove(self, entry: OutboxEntry) -> None:
        shutil.rmtree(entry.folder, ignore_errors=True)

    def set_aside(self, entry: OutboxEntry) -> None:
        """The server refused it for good: keep it for the operator instead of retrying forever."""
        rejected = self.folder.parent / f"{self.folder.name}-rejected"
        rejected.mkdir(parents=True, exist_ok=True)
        os.replace(entry.folder, rejected / entry.folder.name)

    @staticmethod
    def _read(entry_dir: Path) -> OutboxEntry:
        meta = json.loads((entry_dir / "request.json").read_text())
        return OutboxEntry(
            entry_dir, meta["idempotency_key"], JobRequest.model_validate(meta["request"]), meta["created"]
        )
