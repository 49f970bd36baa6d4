"""The rate limit counts a kiosk's accepted jobs, wherever it sends them: behind two API nodes on one NATS a
kiosk gets ``rate_limit_per_minute`` jobs in all (before, each node counted its own: twice as many), and a
refused upload (413, 415, 422) takes no place, on either backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.harness import DEMO_PHOTO, ServerProcess, free_port, nats_booth

LIMIT = 3
MAX_UPLOAD = 100_000  # the demo photo (61 kB) fits


def post(client: httpx.Client, photo: bytes = DEMO_PHOTO) -> httpx.Response:
    return client.post(
        "/v1/jobs",
        files={"portrait": ("me.jpg", photo, "image/jpeg")},
        data={"style": "palette-04"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert 0 < int(response.headers["Retry-After"]) <= 61


def test_two_api_nodes_share_one_limit(tmp_path, cache_dir):
    booth = nats_booth(tmp_path, cache_dir, free_port(), api_nodes=2, workers=0, mailers=0, rate_limit_per_minute=LIMIT)
    try:
        with booth.api_nodes[0].client() as one, booth.api_nodes[1].client() as other:
            codes = [post(client).status_code for client in (one, other, one)]
            assert codes == [201] * LIMIT
            for client in (other, one):  # whichever node it asks
                assert_limited(post(client))
    finally:
        booth.stop()


@pytest.fixture(params=["sqlite", "nats"])
def node(request, tmp_path, cache_dir) -> Iterator[ServerProcess]:
    """One API node of either backend (on NATS without workers: accepted jobs wait in the queue)."""
    settings = {"rate_limit_per_minute": LIMIT, "max_upload_bytes": MAX_UPLOAD}
    if request.param == "sqlite":
        server = ServerProcess(tmp_path / "data", cache_dir, free_port(), **settings).start()
        yield server
        server.stop()
    else:
        booth = nats_booth(tmp_path, cache_dir, free_port(), workers=0, mailers=0, **settings)
        yield booth.api_nodes[0]
        booth.stop()


def test_refused_uploads_take_no_place(node):
    refused = {
        413: b"\xff\xd8\xff" + bytes(MAX_UPLOAD),  # larger than the limit
        415: b"GIF89a" + bytes(1000),  # not a JPEG, PNG or WebP
        422: b"\x89PNG\r\n\x1a\n" + bytes(1000),  # a damaged PNG
    }
    with node.client() as client:
        for status, photo in refused.items():
            for _ in range(LIMIT):
                assert post(client, photo).status_code == status
        assert [post(client).status_code for _ in range(LIMIT)] == [201] * LIMIT
        assert_limited(post(client))
