"""QR download, server side: a short-lived, unguessable link that opens one painting on the
visitor's phone, without a key; refused (404) once the job is cancelled, erased or past retention. Real server."""

from __future__ import annotations

import io
import sqlite3
import time

import httpx
import pytest
from PIL import Image

from tests.harness import ServerProcess, wait_for_state
from tests.test_server import post_job

PUBLIC = "https://booth.example.org"


@pytest.fixture(scope="module")
def photo(portrait) -> bytes:
    buf = io.BytesIO()
    portrait.resize((128, 128)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def public(tmp_path_factory, cache_dir, inbox):
    server = ServerProcess(tmp_path_factory.mktemp("data"), cache_dir, inbox.port, public_url=PUBLIC + "/").start()
    yield server
    server.stop()


def done_job(client: httpx.Client, photo: bytes, style: str = "palette-03") -> tuple[dict, dict]:
    job = post_job(client, photo, style=style).json()
    assert job["status"]["download_url"] is None  # queued: nothing to download yet
    return job, wait_for_state(client, job, {"done"})


def phone_get(server: ServerProcess, url: str) -> httpx.Response:
    """What the phone does: the link as printed, against this server, with no key and no token."""
    assert url.startswith(PUBLIC + "/v1/download/")
    return httpx.get(server.url + url.removeprefix(PUBLIC), timeout=30)


def test_the_link_opens_that_painting_inline_without_a_key(public, photo):
    with public.client() as client:
        job, status = done_job(client, photo)
        _, other_status = done_job(client, photo, style="palette-12")
        result = client.get(status["result_url"], headers={"X-Job-Token": job["token"]}).content
    code = status["download_url"].rsplit("/", 1)[1]
    assert len(code) == 32 and code != other_status["download_url"].rsplit("/", 1)[1]  # 192 random bits each
    r = phone_get(public, status["download_url"])
    assert r.status_code == 200 and r.content == result
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["content-disposition"] == 'inline; filename="portrait.jpg"'
    assert r.headers["cache-control"] == "no-store"
    assert Image.open(io.BytesIO(r.content)).size == (128, 128)
    assert phone_get(public, other_status["download_url"]).content != result  # each link opens its own job only
    for wrong in (code[:-1] + ("A" if code[-1] != "A" else "B"), job["token"], job["id"], "x" * 32):
        assert httpx.get(f"{public.url}/v1/download/{wrong}").status_code == 404


def test_cancel_and_erase_kills_the_link(public, photo):
    with public.client() as client:
        job, status = done_job(client, photo)
        assert phone_get(public, status["download_url"]).status_code == 200
        assert client.delete(f"/v1/jobs/{job['id']}", headers={"X-Job-Token": job["token"]}).status_code == 204
    r = phone_get(public, status["download_url"])
    assert r.status_code == 404 and "erased" in r.json()["detail"]
    with sqlite3.connect(public.data_dir / "jobs.db") as db:
        [(code,)] = db.execute("SELECT download_code FROM jobs WHERE id=?", (job["id"],)).fetchall()
    assert code is None  # the code is erased with the job, not only refused


@pytest.mark.slow
def test_the_link_expires_with_retention(tmp_path, cache_dir, inbox, photo):
    server = ServerProcess(tmp_path / "data", cache_dir, inbox.port, public_url=PUBLIC, retention_hours=0.002).start()
    try:
        with server.client() as client:
            job, status = done_job(client, photo)
            assert phone_get(server, status["download_url"]).status_code == 200  # inside the 7.2 s promise
            deadline = time.monotonic() + 60
            while phone_get(server, status["download_url"]).status_code == 200:
                assert time.monotonic() < deadline, "the link outlived retention"
                time.sleep(0.2)
            assert wait_for_state(client, job, {"expired"}, timeout=60)["download_url"] is None  # retention did it
        assert phone_get(server, status["download_url"]).status_code == 404
    finally:
        server.stop()


def test_no_link_without_a_public_url(server, photo):
    with server.client() as client:
        _, status = done_job(client, photo)
    assert status["download_url"] is None
