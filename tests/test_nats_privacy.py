"""Erasure on the NATS backend is real: after a cancel and after retention, nothing of a visitor (address,
download code, photo, painting) can be read in any file of any NATS node, raft logs included.

JetStream never rewrites a message in place when it is deleted or replaced: a KV delete or put adds a message,
an Object Store delete purges a subject, and the old bytes stay in the block files (and in a cluster's raft
logs) until a compaction that may never come. Before crypto-shredding, a cancelled visitor's address and photo
were found by ``grep`` on every node.
"""

from __future__ import annotations

import asyncio
import base64
import io
import uuid
from pathlib import Path

import httpx
import nats
import numpy as np
import pytest
from nats.js.errors import NotFoundError
from PIL import Image

from style_server.service.nats_backend.names import KEYS_STREAM, KEYS_SUBJECT
from style_server.service.security import reencode_png
from tests.harness import DEMO_PHOTO, Inbox, free_port, nats_booth, wait_for_state

pytestmark = pytest.mark.slow  # end to end: started first when the tests run in parallel

RETENTION_SECONDS = 30


@pytest.fixture
def box(tmp_path):
    inbox = Inbox(tmp_path / "inbox", free_port()).start()
    yield inbox
    inbox.stop()


def noise_photo() -> bytes:
    """A photo no other test sends: its stored (re-encoded) bytes are found nowhere else."""
    pixels = np.random.default_rng(19).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def runs(data: bytes, count: int = 3, length: int = 48) -> list[bytes]:
    """Runs of bytes from the middle of ``data`` (one of them may straddle an Object Store chunk's edge)."""
    return [data[len(data) * (i + 1) // (count + 1) :][:length] for i in range(count)]


def b64(text: str) -> list[bytes]:
    """The text base64-encoded at each of the three alignments it may have inside a longer encoded value."""
    return [base64.b64encode(bytes(shift) + text.encode())[4 if shift else 0 : -4] for shift in range(3)]


def needles(address: str, photo: bytes, code: str | None = None) -> dict[str, bytes]:
    stored = reencode_png(photo, "portrait", 40_000_000)  # the photo as the server keeps it
    found = {"address": address.encode()} | {f"address (base64, {i})": f for i, f in enumerate(b64(address))}
    found |= {f"photo run {i}": run for i, run in enumerate(runs(stored))}
    if code:
        found["download code"] = code.encode()
    return found


def grep(folder: Path, wanted: dict[str, bytes]) -> dict[str, list[str]]:
    """Which needles are in which files under ``folder`` (every file, read as bytes; a block file that the
    running server compacts away between listing and reading holds nothing any more)."""
    hits: dict[str, list[str]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            with_contents = path.read_bytes()
        except FileNotFoundError:
            continue
        for name, needle in wanted.items():
            if needle in with_contents:
                hits.setdefault(name, []).append(str(path.relative_to(folder)))
    return hits


def job_key(nats_url: str, job_id: str) -> bytes | None:
    """The key a job's personal data is sealed with, read from the keys stream as any NATS client could; None
    once it is destroyed."""

    async def read() -> bytes | None:
        nc = await nats.connect(servers=nats_url.split(","))
        try:
            return (await nc.jetstream().get_msg(KEYS_STREAM, subject=f"{KEYS_SUBJECT}.{job_id}")).data
        except NotFoundError:
            return None
        finally:
            await nc.close()

    return asyncio.run(read())


def post(client: httpx.Client, address: str, photo: bytes) -> dict:
    r = client.post(
        "/v1/jobs",
        files={"portrait": ("me.png", photo, "image/png")},
        data={"style": "palette-04", "email": address, "consent": "true"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.parametrize("cluster", [True, False], ids=["3-node-cluster", "one-server"])
def test_nothing_of_an_erased_visitor_is_left_in_any_nats_file(tmp_path, cache_dir, box, cluster):
    booth = nats_booth(
        tmp_path,
        cache_dir,
        box.port,
        cluster=cluster,
        retention_hours=RETENTION_SECONDS / 3600,
        public_url="https://booth.example.org",
    )
    store = tmp_path / "nats"  # every node's store directory (and its log)
    tag = uuid.uuid4().hex[:10]
    try:
        with booth.api_nodes[0].client() as client:
            kept = post(client, f"kept-{tag}@example.org", DEMO_PHOTO)
            status = wait_for_state(client, kept, {"done"}, 120)
            code = status["download_url"].rsplit("/", 1)[1]
            painting = client.get(f"/v1/jobs/{kept['id']}/result", headers={"X-Job-Token": kept["token"]}).content
            box.wait_for(1, timeout=60)  # the address was used: the mail went out

            kept_key = job_key(booth.nats.url, kept["id"])
            cancelled = post(client, f"cancelled-{tag}@example.org", noise_photo())
            cancelled_key = job_key(booth.nats.url, cancelled["id"])
            assert kept_key and cancelled_key
            cancel = client.delete(f"/v1/jobs/{cancelled['id']}", headers={"X-Job-Token": cancelled["token"]})
            assert cancel.status_code == 204
            # the sealed copies stay in the files: what erases them is that their key is gone, everywhere
            assert job_key(booth.nats.url, cancelled["id"]) is None
            assert grep(store, {"key": cancelled_key}) == {}
            assert grep(store, {"job id": cancelled["id"].encode()})  # the search does read the stores
            assert grep(store, needles(f"cancelled-{tag}@example.org", noise_photo())) == {}

            assert wait_for_state(client, kept, {"expired"}, RETENTION_SECONDS + 90)["state"] == "expired"
            assert job_key(booth.nats.url, kept["id"]) is None and grep(store, {"key": kept_key}) == {}
            wanted = needles(f"kept-{tag}@example.org", DEMO_PHOTO, code)
            wanted |= {f"painting run {i}": run for i, run in enumerate(runs(painting))}
            assert grep(store, wanted) == {}
    finally:
        booth.stop()
    assert grep(store, needles(f"kept-{tag}@example.org", DEMO_PHOTO, code)) == {}  # nor once the nodes stop
