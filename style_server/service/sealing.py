"""Crypto-shredding for the NATS backend: a job's personal data (its address, download code and request hash,
its photos and its painting) is stored only encrypted with a key of its own (AES-256-GCM), and the key is kept
apart. Erasing a job destroys its key: the encrypted copies that JetStream keeps in its files (old revisions, a
cluster's raft logs, until a compaction that may never come) can no longer be read by anyone.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PERSONAL = ("email", "download_code", "request_hash")  # the job record's fields that are sealed
NONCE = 12


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, data: bytes, aad: str) -> bytes:
    """``data`` encrypted and authenticated; ``aad`` (the job id, an object's name) binds it to its place."""
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(key).encrypt(nonce, data, aad.encode())


def unseal(key: bytes, blob: bytes, aad: str) -> bytes:
    return AESGCM(key).decrypt(blob[:NONCE], blob[NONCE:], aad.encode())


def sealed_record(record: dict[str, Any], key: bytes) -> dict[str, Any]:
    """A new job's record with its personal fields sealed under ``key`` (in ``sealed``)."""
    personal = {name: record.get(name) for name in PERSONAL}
    blob = seal(key, json.dumps(personal).encode(), record["id"])
    return {**record, "sealed": base64.b64encode(blob).decode()}


def stored_record(record: dict[str, Any]) -> bytes:
    """What is written to KV: the record without its personal fields in the clear. They never change once a
    job is created, except that erasing a job clears them all: then the sealed copy goes too."""
    if "sealed" not in record:  # written before the fields were sealed: as it was
        return json.dumps(record).encode()
    stored = {name: value for name, value in record.items() if name not in PERSONAL}
    if all(record.get(name) is None for name in PERSONAL):
        stored["sealed"] = None
    return json.dumps(stored).encode()


def opened_record(stored: dict[str, Any], key: bytes | None) -> dict[str, Any]:
    """The record as the service reads it: personal fields opened with the job's key; None without a key (the
    job was erased, or its key lost)."""
    if "sealed" not in stored:  # written before the fields were sealed
        return stored
    personal: dict[str, Any] = dict.fromkeys(PERSONAL)
    if stored["sealed"] and key is not None:
        personal |= json.loads(unseal(key, base64.b64decode(stored["sealed"]), stored["id"]))
    return {**stored, **personal}
