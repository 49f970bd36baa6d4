"""The gallery wall (``/wall``): only a separate wall consent puts a portrait up (the mail's consent never does);
erase, cancel and retention take it down within seconds; the wall needs its token (always beyond loopback) and
serves nothing of the visitor but the painting, under an opaque id. The page itself runs in a real headless
Chromium and is compared by screenshots."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import queue
import re
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from portrait_booth.scaleout import NatsServer
from shared.protocol import EVENT_FRAME_PATH, JobFormError, JobOptions, JobRequest
from style_server.config import Settings
from style_server.service.jobtypes import Job
from style_server.service.wall import WALL_PATH, wall_id, wall_refusal
from tests.chromium import Browser, chromium_path
from tests.harness import DEMO_PHOTO, ServerProcess, wait_for_state

TOKEN = "wall-token-0123456789-abcdefghij"
ADDRESS = "ada.lovelace@example.org"
SCREEN = (480, 300)  # the wall's window in Chromium, CSS px
SCREENSHOTS_ENV = "PORTRAIT_SCREENSHOTS"  # as tests/test_kiosk.py: set on purpose, the README's picture is written
BACKGROUND = (16, 16, 16)  # the page's #101010


@pytest.fixture(scope="module")
def wall_server(tmp_path_factory, cache_dir, inbox):
    """This module's real style server, with a wall token (so the token is needed even on loopback)."""
    proc = ServerProcess(tmp_path_factory.mktemp("data"), cache_dir, inbox.port, wall_token=TOKEN, wall_cycle_seconds=1)
    yield proc.start()
    proc.stop()


@pytest.fixture
def client(wall_server):
    """A kiosk's client; every job it posted is erased when the test ends (the wall starts empty for the next)."""
    with wall_server.client() as kiosk:
        kiosk.posted = []
        yield kiosk
        for job in kiosk.posted:
            kiosk.delete(f"/v1/jobs/{job['id']}", headers={"X-Job-Token": job["token"]})


def post(client: httpx.Client, style: str, wall: bool, email: str | None = ADDRESS) -> dict:
    """A job as the kiosk sends it: the mail's consent with an address, and the wall's only if ``wall``."""
    request = JobRequest(style=style, email=email, consent=email is not None, wall=wall)
    response = client.post("/v1/jobs", files={"portrait": ("me.jpg", DEMO_PHOTO, "image/jpeg")}, data=request.to_form())
    assert response.status_code == 201, response.text
    client.posted.append(job := response.json())
    return job


def painted(client: httpx.Client, job: dict) -> bytes:
    wait_for_state(client, job, {"done"}, timeout=60)
    return client.get(f"/v1/jobs/{job['id']}/result", headers={"X-Job-Token": job["token"]}).content


def erase(client: httpx.Client, job: dict) -> None:
    assert client.delete(f"/v1/jobs/{job['id']}", headers={"X-Job-Token": job["token"]}).status_code == 204


class WallEvents:
    """``/wall/events`` read on a thread of its own: each event as (kind, data) in a queue, and the raw text."""

    def __init__(self, url: str, token: str | None = TOKEN) -> None:
        self.events: queue.Queue[tuple[str, dict]] = queue.Queue()
        self.raw: list[str] = []
        self._client = httpx.Client(base_url=url, timeout=httpx.Timeout(30, read=None))
        self._params = {"token": token} if token else {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        kind = ""
        with (
            contextlib.suppress(httpx.HTTPError, RuntimeError),  # the test closed the client
            self._client.stream("GET", f"{WALL_PATH}/events", params=self._params) as response,
        ):
            for line in response.iter_lines():
                self.raw.append(line)
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    self.events.put((kind, json.loads(line.removeprefix("data: "))))

    def next(self, timeout: float = 60) -> tuple[str, dict]:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self._client.close()


# -- the rules, without a browser ---------------------------------------------------------------------------


def test_the_wall_is_refused_beyond_loopback_without_a_token_and_needs_its_token_when_one_is_set():
    def refused(host: str, token: str | None, given: str | None) -> int | None:
        settings = Settings(host=host, wall_token=token)
        return (refusal := wall_refusal(settings, given)) and refusal[0]

    assert refused("127.0.0.1", None, None) is None  # this machine's own screen, no token set
    assert refused("::1", None, "anything") is None
    assert refused("0.0.0.0", None, None) == 403  # the event's network: refused, whatever is sent
    assert refused("192.168.1.20", None, "guess") == 403
    for host in ("127.0.0.1", "0.0.0.0"):  # a token set is needed everywhere
        assert refused(host, TOKEN, None) == 401
        assert refused(host, TOKEN, "wrong") == 401
        assert refused(host, TOKEN, TOKEN) is None
    assert "PORTRAIT_WALL_TOKEN" in wall_refusal(Settings(host="0.0.0.0"), None)[1]


def test_the_wall_consent_is_its_own_field_off_unless_given():
    mail_only = JobRequest(style="palette-04", email=ADDRESS, consent=True)
    assert mail_only.wall is False and "wall" not in mail_only.to_form()  # the mail's consent never implies it
    both = JobRequest(style="palette-04", email=ADDRESS, consent=True, wall=True)
    assert JobRequest.from_form(both.to_form()).wall is True
    assert JobRequest.from_form({"style": "palette-04", "wall": "true"}).wall is True  # no mail needed for it
    with pytest.raises(JobFormError, match="wall"):
        JobRequest.from_form({"style": "palette-04", "wall": ""})


def test_the_wall_needs_its_token_on_every_path(wall_server):
    paths = (WALL_PATH, f"{WALL_PATH}/portraits/{'0' * 32}.jpg")
    for path in paths:
        for params in ({}, {"token": "wrong"}):
            response = httpx.get(f"{wall_server.url}{path}", params=params)
            assert response.status_code == 401 and "token" in response.json()["detail"], (path, params)
    page = httpx.get(f"{wall_server.url}{WALL_PATH}", params={"token": TOKEN})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert (
        page.headers["cache-control"] == "no-store" and "default-src 'none'" in page.headers["content-security-policy"]
    )
    assert httpx.get(f"{wall_server.url}{paths[1]}", params={"token": TOKEN}).status_code == 404  # no such portrait
    refused = WallEvents(wall_server.url, token=None)
    deadline = time.monotonic() + 10
    while not any("token" in line for line in refused.raw) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("token" in line for line in refused.raw) and refused.events.empty()  # the 401's detail, no events
    refused.close()


def test_the_stream_adds_only_a_wall_consented_portrait_and_removes_it_on_erase_naming_nobody(wall_server, client):
    events = WallEvents(wall_server.url)
    kind, snapshot = events.next()
    assert kind == "snapshot" and snapshot["portraits"] == [] and snapshot["size"] == 24
    mail_only = post(client, "palette-01", wall=False)
    mail_only_painting = painted(client, mail_only)
    shown = post(client, "palette-04", wall=True)
    painting = painted(client, shown)
    kind, added = events.next()  # the first news after the snapshot: the mail-only portrait never went up
    assert kind == "add" and set(added) == {"id", "url"} and re.fullmatch(r"[0-9a-f]{32}", added["id"])
    picture = httpx.get(f"{wall_server.url}{added['url']}", params={"token": TOKEN})
    assert picture.status_code == 200 and picture.content == painting != mail_only_painting
    assert picture.headers["cache-control"] == "no-store"
    page = httpx.get(f"{wall_server.url}{WALL_PATH}", params={"token": TOKEN}).text

    erase(client, shown)
    assert events.next(timeout=10) == ("remove", {"id": added["id"]})
    assert httpx.get(f"{wall_server.url}{added['url']}", params={"token": TOKEN}).status_code == 404
    served = "\n".join([page, *events.raw]).encode() + picture.content
    for secret in (ADDRESS, "ada.lovelace", shown["id"], shown["token"], mail_only["id"], "palette"):
        assert secret.encode() not in served, secret
    assert not Image.open(io.BytesIO(picture.content)).getexif()  # no metadata rides along with the picture
    events.close()


def test_the_wall_shows_the_portrait_in_the_event_frame(wall_server, client):
    """The operator's frame (here a band with the event's line below the portrait) is laid over the wall's
    portrait as over the mailed and downloaded one."""
    band = {"text": "Spring Gala", "colour": "#aa2233"}
    assert client.put(EVENT_FRAME_PATH, data={"settings": json.dumps(band)}).status_code == 200
    try:
        events = WallEvents(wall_server.url)
        assert events.next()[0] == "snapshot"
        job = post(client, "palette-04", wall=True)
        painting = painted(client, job)  # as the kiosk gets it: in the frame
        kind, added = events.next()
        picture = httpx.get(f"{wall_server.url}{added['url']}", params={"token": TOKEN}).content
        events.close()
    finally:
        client.delete(EVENT_FRAME_PATH)
    width, height = Image.open(io.BytesIO(picture)).size
    assert kind == "add" and picture == painting and height > width  # a square painting, and the band below it
    band_colour = np.asarray(Image.open(io.BytesIO(picture)).convert("RGB"))[-3:, :].reshape(-1, 3).mean(0)
    assert np.abs(band_colour - (0xAA, 0x22, 0x33)).max() < 12


# -- the backend and the wall's own bookkeeping ------------------------------------------------------------

FIELDS = {
    "kiosk": "kiosk-a",
    "method": "fast",
    "style": "palette-01",
    "options": JobOptions(),
    "email": ADDRESS,
    "language": "en",
    "portrait_png": b"png",
    "style_png": None,
}


@pytest.fixture(params=["sqlite", "nats"])
def backend(request, tmp_path):
    """Each job backend, on its real storage (SQLite files; a NATS JetStream server on loopback)."""
    from style_server.service.backend import open_backend

    nats = NatsServer(tmp_path / "nats").start() if request.param == "nats" else None
    settings = Settings(data_dir=tmp_path / "data", backend=request.param, **({"nats_url": nats.url} if nats else {}))
    store = open_backend(settings, "test")
    yield store
    store.close()
    if nats:
        nats.stop()


def finish(store, tmp_path: Path, *jobs) -> None:
    """Paint the queued jobs, as the runner does (any painting will do)."""
    assert {job.id for job in store.take("fast", 8, 0.0)} == {job.id for job in jobs}
    for job in jobs:
        tmp = store.result_tmp(job.id)
        tmp.write_bytes(DEMO_PHOTO)
        assert store.publish_result(job.id, tmp, 0.1, mail=False)


def test_the_wall_consent_travels_through_each_backend_and_erasing_or_expiring_clears_it(backend, tmp_path):
    shown, _ = backend.create(idem_key="a", wall=True, **FIELDS)
    mail_only, _ = backend.create(idem_key="b", **FIELDS)
    assert backend.get(shown.id).wall and not backend.get(mail_only.id).wall
    finish(backend, tmp_path, shown, mail_only)
    assert [job.id for job in backend.wall_jobs(10, 0)] == [shown.id]
    assert backend.wall_jobs(10, since=time.time() + 10) == []  # created before the retention's window
    backend.cancel_and_erase(shown.id)
    assert not backend.get(shown.id).wall and backend.wall_jobs(10, 0) == []
    later, _ = backend.create(idem_key="c", wall=True, **FIELDS)
    finish(backend, tmp_path, later)
    assert [job.id for job in backend.wall_jobs(10, 0)] == [later.id]
    backend.expire(time.time() + 1)
    assert backend.wall_jobs(10, 0) == [] and not backend.get(later.id).wall


def test_retention_cancel_and_a_lost_event_each_take_a_portrait_down(engine, tmp_path):
    """The real Service's retention pass and cancel tell the wall's streams at once; a portrait erased with no
    event at all (a relay lost between processes) goes at the stream's next keep-alive."""
    from style_server.service.service import Service
    from style_server.service.store import Store

    settings = Settings(data_dir=tmp_path, sse_keepalive_seconds=0.3, retention_hours=1)
    service = Service(settings, engine, store=Store(tmp_path))
    store, wall = service.store, service.wall

    async def painted_on_wall(stream, key: str) -> Job:
        job, _ = await asyncio.to_thread(store.create, idem_key=key, wall=True, **FIELDS)
        await asyncio.to_thread(finish, store, tmp_path, job)
        await asyncio.to_thread(service.events.ended, job.id)  # as the runner tells it
        portrait = f'{{"id":"{wall_id(job.token)}","url":"/wall/portraits/{wall_id(job.token)}.jpg"}}'
        assert await next_event(stream) == f"event: add\ndata: {portrait}\n\n"
        assert (await wall.job_for(wall_id(job.token))).id == job.id
        return job

    async def taken_down(stream, job: Job) -> None:
        assert await next_event(stream) == f'event: remove\ndata: {{"id":"{wall_id(job.token)}"}}\n\n'
        assert await wall.job_for(wall_id(job.token)) is None

    async def next_event(stream) -> str:
        while (event := await asyncio.wait_for(anext(stream), 10)).startswith(":"):
            pass  # keep-alives
        return event

    async def run() -> None:
        stream = wall.stream()
        assert (await anext(stream)).startswith("event: snapshot")
        old = await painted_on_wall(stream, "old")
        store._exec("UPDATE jobs SET created=created-7200 WHERE id=?", (old.id,))  # two hours ago: past retention
        await service.expire_due()
        await taken_down(stream, old)
        cancelled = await painted_on_wall(stream, "cancelled")
        await service.cancel_and_erase(cancelled.id)
        await taken_down(stream, cancelled)
        lost = await painted_on_wall(stream, "lost")
        await asyncio.to_thread(store.cancel_and_erase, lost.id)  # behind the service's back: no event
        await taken_down(stream, lost)
        await stream.aclose()

    asyncio.run(run())
    service.close()


# -- the page in a real browser -----------------------------------------------------------------------------


def on_screen(painting: bytes) -> np.ndarray:
    """How the page shows a painting on the wall's screen: contained, centred, on the page's background."""
    image = Image.open(io.BytesIO(painting)).convert("RGB")
    image.thumbnail(SCREEN, Image.Resampling.LANCZOS)
    if image.width / image.height > SCREEN[0] / SCREEN[1]:
        image = image.resize((SCREEN[0], round(SCREEN[0] * image.height / image.width)), Image.Resampling.LANCZOS)
    else:
        image = image.resize((round(SCREEN[1] * image.width / image.height), SCREEN[1]), Image.Resampling.LANCZOS)
    screen = Image.new("RGB", SCREEN, BACKGROUND)
    screen.paste(image, ((SCREEN[0] - image.width) // 2, (SCREEN[1] - image.height) // 2))
    return np.asarray(screen, np.float32)


def difference(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    """Mean absolute difference per channel, 0-255."""
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


SETTLED = (  # one picture on the page, fully faded in (or none), as the test expects
    "(() => { const s = document.querySelectorAll('.slide'); const b = document.body.dataset;"
    " return s.length === (b.shown ? 1 : 0) && (!s.length || getComputedStyle(s[0]).opacity === '1')"
    " && b.shown + '|' + b.count; })()"
)


def showing(browser: Browser, job: dict, count: int) -> str:
    """Wait until the page shows this job's portrait, settled, with ``count`` portraits on the wall."""
    return browser.wait_for(f"({SETTLED}) === '{wall_id(job['token'])}|{count}'")


@pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_the_page_in_chromium_shows_wall_portraits_never_a_mail_only_one_cycles_and_drops_them_on_erase(
    wall_server, client, tmp_path
):
    browser = Browser(tmp_path / "profile", *SCREEN)
    try:
        browser.open(f"{wall_server.url}{WALL_PATH}?token={TOKEN}")
        assert browser.wait_for(SETTLED) == "|0"
        empty = browser.screenshot()
        mail_only = post(client, "palette-01", wall=False)
        mail_only_painting = painted(client, mail_only)
        shown = post(client, "palette-04", wall=True)
        painting = painted(client, shown)
        showing(browser, shown, 1)  # the wall portrait alone: the mail-only one never went up
        up = browser.screenshot()
        up.save(Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path) / "11-wall.png")
        assert difference(up, on_screen(painting)) < 8  # the known portrait fills the screen
        assert difference(up, on_screen(mail_only_painting)) > 20
        assert difference(up, empty) > 20

        newer = post(client, "palette-02", wall=True)
        newer_painting = painted(client, newer)
        showing(browser, newer, 2)  # the newest at once
        showing(browser, shown, 2)  # and idle, the wall moves on (PORTRAIT_WALL_CYCLE_SECONDS=1)

        erase(client, shown)  # while it is on screen
        started = time.monotonic()
        browser.wait_for(f"!document.querySelector('.slide[data-id=\"{wall_id(shown['token'])}\"]')", timeout=10)
        gone_after = time.monotonic() - started
        showing(browser, newer, 1)
        assert difference(browser.screenshot(), on_screen(newer_painting)) < 8
        erase(client, newer)
        browser.wait_for(f"({SETTLED}) === '|0'", timeout=10)
        assert difference(browser.screenshot(), empty) < 1, "the page is as it was before the portraits came"
        print(f"the erased portrait left the page after {gone_after:.2f} s")
    finally:
        browser.close()
