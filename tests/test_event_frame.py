"""The event frame, server side, on a real server with a real SMTP inbox: a frame set through
``PUT /v1/event/frame`` is laid over the mailed, downloaded and fetched portrait (the frame's colour at a border
point, the painting at the centre), never over the gallery's previews; every bad frame gets its reason and
leaves the frame before in place; in the NATS backend every node sees the same frame."""

from __future__ import annotations

import asyncio
import io
import json
import os
import struct
import time
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from shared.protocol import EVENT_FRAME_PATH, FRAME_MAX_BYTES, PREVIEWS_PATH, FrameSettings
from style_server.service.frame_store import FileFrameStore, FrameStore, NatsFrameStore
from style_server.service.framing import make_frame
from tests.harness import DEMO_PHOTO, ServerProcess, wait_for_state

PUBLIC = "https://booth.example.org"
CYAN = (20, 190, 230)  # a cyan the painting has nowhere near its edges
BORDER = 24  # px of the test frame's solid edge, on a 256 px square (the demo photo is square)


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def square_frame(side: int = 256, colour: tuple[int, int, int] = CYAN) -> bytes:
    """A frame PNG: a solid edge of ``colour`` around a see-through window."""
    frame = Image.new("RGBA", (side, side), (*colour, 255))
    frame.paste((0, 0, 0, 0), (BORDER, BORDER, side - BORDER, side - BORDER))
    return png(frame)


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels: decoding it would take gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def put_frame(client: httpx.Client, overlay: bytes | None = None, logo: bytes | None = None, **settings):
    files = {}
    if overlay is not None:
        files["overlay"] = ("frame.png", overlay, "image/png")
    if logo is not None:
        files["logo"] = ("logo.png", logo, "image/png")
    return client.put(EVENT_FRAME_PATH, data={"settings": json.dumps(settings)}, files=files or None)


def picture(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def centre(pixels: np.ndarray) -> np.ndarray:
    h, w = pixels.shape[:2]
    return pixels[h // 2 - 20 : h // 2 + 20, w // 2 - 20 : w // 2 + 20]


@pytest.fixture(scope="module")
def booth(tmp_path_factory, cache_dir, inbox):
    server = ServerProcess(tmp_path_factory.mktemp("data"), cache_dir, inbox.port, public_url=PUBLIC).start()
    yield server
    server.stop()


@pytest.fixture
def client(booth):
    with booth.client() as client:
        client.delete(EVENT_FRAME_PATH)  # each test starts without a frame
        yield client


def send_job(client: httpx.Client, email: str | None = None) -> tuple[dict, dict]:
    data = {"style": "palette-04"} | ({"email": email, "consent": "true"} if email else {})
    response = client.post("/v1/jobs", files={"portrait": ("me.jpg", DEMO_PHOTO, "image/jpeg")}, data=data)
    response.raise_for_status()
    job = response.json()
    return job, wait_for_state(client, job, {"done"})


def result(client: httpx.Client, job: dict, status: dict) -> bytes:
    response = client.get(status["result_url"], headers={"X-Job-Token": job["token"]})
    response.raise_for_status()
    return response.content


def attachment(message) -> bytes:
    [part] = [p for p in message.iter_attachments() if p.get_filename() == "portrait.jpg"]
    return part.get_content()


def test_the_mailed_downloaded_and_fetched_portrait_carry_the_frame(booth, client, inbox):
    assert put_frame(client, square_frame()).status_code == 200
    address = f"frame-{time.monotonic_ns()}@example.org"
    job, status = send_job(client, address)
    fetched = result(client, job, status)
    downloaded = httpx.get(booth.url + status["download_url"].removeprefix(PUBLIC), timeout=30).content
    deadline = time.monotonic() + 30
    while not (mails := [m for m in inbox.messages() if m["To"] == address]) and time.monotonic() < deadline:
        time.sleep(0.1)
    [mail] = mails
    mailed = attachment(mail)
    assert client.delete(EVENT_FRAME_PATH).status_code == 204
    painting = picture(result(client, job, status))  # the same painting as kept, without a frame
    assert np.abs(painting[4, 4] - CYAN).max() > 60  # the painting's own corner is not the frame's colour
    window = 256 - 2 * BORDER  # the portrait fills the frame's see-through window
    in_window = np.asarray(Image.fromarray(painting.astype(np.uint8)).resize((window, window), Image.LANCZOS))
    for copy in (mailed, downloaded, fetched):
        pixels = picture(copy)
        assert pixels.shape == painting.shape  # the frame's shape is the portrait's: laid over it as it is
        assert np.abs(pixels[4, 4] - CYAN).max() < 12  # a border point: the frame's colour
        assert np.abs(pixels[-5, pixels.shape[1] // 2] - CYAN).max() < 12
        # the centre: the painting (two JPEG passes apart: 4; another part of the painting: 39)
        assert np.abs(centre(pixels) - centre(in_window.astype(int))).mean() < 8
    assert downloaded == fetched == mailed  # one portrait, whichever way it leaves


def test_the_gallery_previews_never_carry_the_frame(client):
    def tiles() -> list[bytes]:
        response = client.post(
            PREVIEWS_PATH, params={"styles": ["palette-04"], "side": 128}, content=DEMO_PHOTO,
            headers={"Content-Type": "image/jpeg"},
        )  # fmt: skip
        response.raise_for_status()
        return [json.loads(line)["jpeg_base64"] for line in response.text.splitlines() if line]

    unframed = tiles()
    assert put_frame(client, square_frame()).status_code == 200
    assert tiles() == unframed


def test_a_text_and_logo_frame_is_drawn_around_the_portrait(client):
    logo = png(Image.new("RGB", (64, 32), (250, 220, 0)))
    response = put_frame(client, logo=logo, text="Summer Gala", colour="#0a7a3c")
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["settings"]["text"] == "Summer Gala" and info["logo_size"] == [64, 32]
    assert client.get(EVENT_FRAME_PATH).json()["digest"] == info["digest"]
    job, status = send_job(client)
    framed = picture(result(client, job, status))
    assert framed.shape[0] > 256 and framed.shape[1] > 256  # a border around, a band below
    assert np.abs(framed[1, 1] - (10, 122, 60)).max() < 12  # the border: the frame's colour
    band = framed[-framed.shape[0] // 12 :, :]  # the band carries the logo's yellow (and the text)
    assert (np.abs(band - (250, 220, 0)).max(axis=2) < 30).sum() > 200


def test_the_preview_shows_a_frame_on_a_picture_without_keeping_it(client):
    response = client.post(
        f"{EVENT_FRAME_PATH}/preview",
        data={"settings": "{}"},
        files={"overlay": ("f.png", square_frame(), "image/png"), "portrait": ("p.jpg", DEMO_PHOTO, "image/jpeg")},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert np.abs(picture(response.content)[4, 4] - CYAN).max() < 12
    assert client.get(EVENT_FRAME_PATH).status_code == 404  # nothing kept


def no_alpha() -> bytes:
    return png(Image.new("RGB", (256, 256), CYAN))


def opaque() -> bytes:
    return png(Image.new("RGBA", (256, 256), (*CYAN, 255)))


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), CYAN).save(out, "JPEG")
    return out.getvalue()


BAD_FRAMES = {  # what the operator sent: (status, what the message says)
    "not an image": (lambda: b"this is not a picture" * 10, 415, "not an image"),
    "a JPEG": (jpeg, 415, "send a PNG"),
    "too small": (lambda: square_frame(100), 422, "too small"),
    "too long": (lambda: png(Image.new("RGBA", (1200, 256))), 422, "at most 3:1"),
    "no alpha": (no_alpha, 422, "no transparency"),
    "no window": (opaque, 422, "would hide the portrait"),
    "too many pixels": (lambda: png_bomb(5000, 5000), 413, "at most 4096 px"),
    "a decompression bomb": (lambda: png_bomb(60000, 60000), 413, "far more than 4096 px"),
    "a huge file": (lambda: b"\x89PNG\r\n\x1a\n" + bytes(FRAME_MAX_BYTES), 413, "larger than 8 MB"),
}


@pytest.mark.parametrize("kind", BAD_FRAMES)
def test_a_bad_frame_is_refused_with_its_reason_and_the_frame_before_stays(client, kind):
    make, status, said = BAD_FRAMES[kind]
    before = put_frame(client, square_frame()).json()
    response = put_frame(client, make())
    assert response.status_code == status, response.text
    assert said in response.json()["detail"]
    assert client.get(EVENT_FRAME_PATH).json()["digest"] == before["digest"]


def test_bad_settings_and_strangers_are_refused(booth, client):
    before = put_frame(client, square_frame()).json()
    for settings, said in (
        ({"colour": "red"}, "colour"),
        ({"text": "two\nlines"}, "one line"),
        ({"text": "x" * 81}, "text"),
        ({}, "empty"),
        ({"text": "both"}, "not both"),
    ):
        overlay = square_frame() if settings.get("text") == "both" else None
        response = put_frame(client, overlay, **settings)
        assert response.status_code == 422 and said in response.json()["detail"], response.text
    assert httpx.put(booth.url + EVENT_FRAME_PATH, data={"settings": "{}"}).status_code == 401
    assert httpx.delete(booth.url + EVENT_FRAME_PATH).status_code == 401
    assert client.get(EVENT_FRAME_PATH).json()["digest"] == before["digest"]


# -- the kiosk: the operator panel sends the frame, previews it, and the print carries it ---------------------


def kiosk(qtbot, tmp_path, booth, **settings):
    from tests.test_kiosk import make_window

    return make_window(qtbot, tmp_path, server_url=booth.url, camera=str(tmp_path / "no-camera.avi"), **settings)


def pixel(pixmap, x: int, y: int) -> tuple[int, int, int]:
    colour = pixmap.toImage().pixelColor(x, y)
    return colour.red(), colour.green(), colour.blue()


def save_frame_in_panel(qtbot, window, **fields) -> None:
    from tests.test_kiosk import click, unlock_panel

    if not window.operator.unlocked:
        unlock_panel(qtbot, window)
    for name, value in fields.items():
        window.operator.fields[name].setText(value)
    click(qtbot, window.operator.buttons["save"])


def test_the_panel_sends_the_saved_frame_and_previews_it_on_the_demo_portrait(qtbot, tmp_path, booth, client):
    (tmp_path / "frame.png").write_bytes(square_frame())
    window = kiosk(qtbot, tmp_path, booth)
    save_frame_in_panel(qtbot, window, frame_image=str(tmp_path / "frame.png"))
    panel = window.operator.frame_panel
    qtbot.waitUntil(lambda: panel.view.has_picture, timeout=20000)
    assert panel.news.text() == "The server lays this frame over every portrait from now on."
    assert client.get(EVENT_FRAME_PATH).json()["overlay_size"] == [256, 256]
    shown = panel.view._pixmap  # the demo portrait (512 px) in the frame, as the server draws it
    assert np.abs(np.subtract(pixel(shown, 6, 6), CYAN)).max() < 12
    assert np.abs(np.subtract(pixel(shown, shown.width() // 2, shown.height() // 2), CYAN)).max() > 60
    saved = json.loads((tmp_path / "kiosk.json").read_text())
    assert saved["frame_image"] == str(tmp_path / "frame.png")
    window.operator.pages.currentWidget().ensureWidgetVisible(panel, 0, 0)  # the README's picture of the part
    shots = Path(os.environ.get("PORTRAIT_SCREENSHOTS") or tmp_path)
    assert window.grab().save(str(shots / "12-event-frame.png"))


def test_a_frame_the_server_refuses_is_said_and_taken_back(qtbot, tmp_path, booth, client):
    before = put_frame(client, square_frame()).json()
    (tmp_path / "flat.png").write_bytes(no_alpha())
    window = kiosk(qtbot, tmp_path, booth, frame_text="Summer Gala")
    save_frame_in_panel(qtbot, window, frame_text="", frame_image=str(tmp_path / "flat.png"))
    news = window.operator.frame_panel.news
    qtbot.waitUntil(lambda: "not sent" in news.text(), timeout=20000)
    assert "no transparency" in news.text() and "keeps the frame it had" in news.text()
    assert client.get(EVENT_FRAME_PATH).json()["digest"] == before["digest"]  # the server's frame: unchanged
    saved = json.loads((tmp_path / "kiosk.json").read_text())  # the kiosk keeps what the server has from it
    assert saved["frame_image"] == "" and saved["frame_text"] == "Summer Gala"
    save_frame_in_panel(qtbot, window, frame_image=str(tmp_path / "missing.png"))
    qtbot.waitUntil(lambda: "cannot be read" in news.text(), timeout=20000)
    assert client.get(EVENT_FRAME_PATH).json()["digest"] == before["digest"]


def test_the_kiosk_shows_and_prints_the_portrait_in_the_frame(qtbot, tmp_path, booth, client):
    from booth_client.paper import PAPERS
    from booth_client.print_page import compose_page
    from tests.harness import post_demo_job
    from tests.test_kiosk import follow

    assert put_frame(client, square_frame()).status_code == 200
    window = kiosk(qtbot, tmp_path, booth, print_enabled=True, print_printer="booth-printer")
    qtbot.waitUntil(lambda: window.connection.api is not None, timeout=10000)
    follow(window, post_demo_job(booth))
    qtbot.waitUntil(lambda: window.print_desk.painting is not None, timeout=60000)
    painting = picture(window.print_desk.painting)
    assert np.abs(painting[4, 4] - CYAN).max() < 12  # what the result screen shows and Print prints
    page, (left, top, width, height) = compose_page(window.print_desk.painting, PAPERS["10x15"], "portrait")
    on_paper = np.asarray(page).astype(int)
    assert np.abs(on_paper[top + 8, left + 8] - CYAN).max() < 12  # the printed page carries the frame
    assert np.abs(on_paper[top + height // 2, left + width // 2] - CYAN).max() > 60


# -- scale-out: every node sees the one frame -------------------------------------------------------------------


async def every_reader_sees_the_frame_the_setter_set(setter: FrameStore, reader: FrameStore) -> None:
    assert await reader.current() is None
    frame = make_frame(FrameSettings(), square_frame(), None, time.time())
    await setter.put(frame)
    seen = await reader.current()
    assert seen is not None and seen.digest == frame.digest and seen.overlay.size == (256, 256)
    assert await reader.current() is seen  # unchanged: not read and decoded again
    texts = make_frame(FrameSettings(text="Gala"), None, None, time.time())
    await setter.put(texts)
    assert (await reader.current()).settings.text == "Gala"
    await setter.delete()
    assert await reader.current() is None and await setter.current() is None


def test_every_nats_node_sees_the_frame_another_set(tmp_path):
    from portrait_booth.scaleout import NatsServer
    from style_server.service.nats_backend import NatsLink

    nats = NatsServer(tmp_path / "nats").start()
    links = [NatsLink([nats.url], name) for name in ("api-1", "mailer-1")]
    try:
        setter, reader = (NatsFrameStore(link, replicas=1) for link in links)
        asyncio.run(every_reader_sees_the_frame_the_setter_set(setter, reader))
    finally:
        for link in links:
            link.close()
        nats.stop()


def test_a_frame_file_is_read_again_only_when_it_changed(tmp_path):
    """One host: the API server and its mail outbox each hold a store of the same file."""
    setter, reader = FileFrameStore(tmp_path / "event"), FileFrameStore(tmp_path / "event")
    asyncio.run(every_reader_sees_the_frame_the_setter_set(setter, reader))
