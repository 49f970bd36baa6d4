"""The gallery's previews (``POST /v1/previews``): the kept photo in, the visitor's face in every offered style out,
tile by tile, from a real server on 127.0.0.1 (real torch). The kiosk's side: ``test_kiosk_previews.py``."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from booth_client.api import ServerApi
from shared.protocol import (
    PREVIEW_MAX_BYTES,
    PREVIEW_SIDE,
    PREVIEWS_MEDIA_TYPE,
    PREVIEWS_PATH,
    PreviewRequest,
    StylePreview,
)
from tests.harness import API_KEY, DEMO_PHOTO, ServerProcess, free_port

RATE = 6  # previews a minute per kiosk on this module's server


@pytest.fixture(scope="module")
def server(tmp_path_factory, cache_dir):
    """This module's style server; its temporary files go to a folder of its own, scanned like its data folder."""
    root = tmp_path_factory.mktemp("previews")
    proc = ServerProcess(root / "data", cache_dir, free_port(), rate_limit_per_minute=RATE)
    proc.tmp = root / "tmp"
    proc.tmp.mkdir()
    proc.env["TMPDIR"] = str(proc.tmp)
    yield proc.start()
    proc.stop()


@pytest.fixture(scope="module")
def catalogue(server) -> list[str]:
    with server.client() as client:
        return [style["id"] for style in client.get("/v1/styles").json()["styles"]]


def post(client: httpx.Client, photo: bytes, request: PreviewRequest, media: str = "image/jpeg") -> httpx.Response:
    return client.post(PREVIEWS_PATH, params=request.to_params(), content=photo, headers={"Content-Type": media})


def tiles_of(response: httpx.Response) -> list[StylePreview]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == PREVIEWS_MEDIA_TYPE
    return [StylePreview.model_validate_json(line) for line in response.text.splitlines()]


def picture(preview: StylePreview) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(preview.jpeg_base64)))


def distinctive_photo() -> tuple[bytes, np.ndarray]:
    """The demo portrait with a seeded noise band no other file has: its JPEG, and its decoded pixels."""
    pixels = np.asarray(Image.open(io.BytesIO(DEMO_PHOTO)).convert("RGB")).copy()
    noise = np.random.default_rng(20_21).integers(0, 256, size=(48, pixels.shape[1], 3), dtype=np.uint8)
    pixels[-48:] = noise
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=95)
    return buf.getvalue(), np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def needles(jpeg: bytes, decoded: np.ndarray) -> dict[str, bytes]:
    """Byte runs that only a copy of this photo holds: raw, as base64 and as hex, and its decoded pixels."""
    middle = len(jpeg) // 2 // 3 * 3
    run = jpeg[middle : middle + 48]
    return {
        "jpeg bytes": run,
        "jpeg as base64": base64.b64encode(run),
        "jpeg as hex": run.hex().encode(),
        "decoded pixels": decoded[-10, 100:132].tobytes(),  # a row of the noise band
    }


def found_in(folder: Path, wanted: dict[str, bytes]) -> list[str]:
    return [f"{what} in {path}" for path in folder.rglob("*") if path.is_file() for what, needle in wanted.items()
            if needle in path.read_bytes()]  # fmt: skip


def test_every_offered_style_comes_back_as_a_tile_of_the_face(server, catalogue):
    with server.client() as client:
        tiles = tiles_of(post(client, DEMO_PHOTO, PreviewRequest()))
    assert [t.style for t in tiles] == catalogue  # every style, in the gallery's order (paintings' pass first)
    pictures = {t.style: picture(t) for t in tiles}
    assert all(p.format == "JPEG" and p.size == (PREVIEW_SIDE, PREVIEW_SIDE) for p in pictures.values())
    assert len(catalogue) >= 12
    arrays = {style: np.asarray(p.convert("RGB"), dtype=np.float32) for style, p in pictures.items()}
    assert all(a.std() > 10 for a in arrays.values()), "a painting, not a flat colour"
    palettes = [s for s in catalogue if s.startswith("palette-")]
    assert np.abs(arrays[palettes[0]] - arrays[palettes[1]]).mean() > 5, "each palette paints its own style"
    assert np.abs(arrays["starry-night"] - arrays["the-scream"]).mean() > 5


def test_only_kiosks_with_a_key_get_previews(server):
    anonymous = httpx.post(f"{server.url}{PREVIEWS_PATH}", content=DEMO_PHOTO, headers={"Content-Type": "image/jpeg"})
    assert anonymous.status_code == 401
    with httpx.Client(base_url=server.url, headers={"Authorization": "Bearer wrong"}) as client:
        assert post(client, DEMO_PHOTO, PreviewRequest()).status_code == 401


def test_what_cannot_be_painted_is_refused_with_its_reason(server):
    huge_png = io.BytesIO()
    Image.new("RGB", (4000, 4000), (90, 60, 30)).save(huge_png, "PNG")  # 16 MP in some 50 kB
    tiny = io.BytesIO()
    Image.open(io.BytesIO(DEMO_PHOTO)).resize((40, 40)).save(tiny, "JPEG")
    with server.client() as client:
        too_big = post(client, b"\xff\xd8\xff" + bytes(PREVIEW_MAX_BYTES), PreviewRequest())
        assert too_big.status_code == 413 and "larger than 5 MB" in too_big.json()["detail"]
        too_many_pixels = post(client, huge_png.getvalue(), PreviewRequest(), "image/png")
        assert too_many_pixels.status_code == 413 and "too large" in too_many_pixels.json()["detail"]
        too_small = post(client, tiny.getvalue(), PreviewRequest())
        assert too_small.status_code == 422 and "40x40" in too_small.json()["detail"]
        assert post(client, b"", PreviewRequest()).status_code == 422
        assert post(client, b"not a picture at all", PreviewRequest()).status_code == 415
        multipart = client.post(PREVIEWS_PATH, files={"photo": ("me.jpg", DEMO_PHOTO, "image/jpeg")})
        assert multipart.status_code == 415 and "the kept photo itself as the body" in multipart.json()["detail"]
        unknown = client.post(PREVIEWS_PATH, params={"styles": ["no-such-style"]}, content=DEMO_PHOTO)
        assert unknown.status_code == 422 and "no-such-style" in unknown.json()["detail"]
        too_wide = client.post(PREVIEWS_PATH, params={"side": 5000}, content=DEMO_PHOTO)
        assert too_wide.status_code == 422 and "side" in too_wide.json()["detail"]


def test_previews_are_rate_limited_per_kiosk_and_refusals_do_not_count(server):
    one_small = PreviewRequest(styles=["starry-night", "palette-03"], side=64)
    with httpx.Client(base_url=server.url, headers={"Authorization": "Bearer other-key"}, timeout=60) as kiosk_b:
        for _ in range(2):  # refused: no place taken
            assert post(kiosk_b, b"", one_small).status_code == 422
        for _ in range(RATE):
            tiles = tiles_of(post(kiosk_b, DEMO_PHOTO, one_small))
            assert [t.style for t in tiles] == ["starry-night", "palette-03"]
            assert picture(tiles[0]).size == (64, 64)
        limited = post(kiosk_b, DEMO_PHOTO, one_small)
    assert limited.status_code == 429 and "too many previews" in limited.json()["detail"]
    assert int(limited.headers["Retry-After"]) > 0
    with server.client() as kiosk_a:  # the other kiosk's count, and kiosk-b's jobs, are their own
        assert kiosk_a.get("/v1/styles").status_code == 200


def test_no_byte_of_the_photo_stays_on_the_server(server):
    jpeg, decoded = distinctive_photo()
    wanted = needles(jpeg, decoded)
    planted = server.tmp.parent / "planted"  # the scan finds the photo where it is
    planted.mkdir()
    (planted / "photo.jpg").write_bytes(jpeg)
    (planted / "pixels.raw").write_bytes(decoded.tobytes())
    (planted / "log").write_bytes(b"photo " + base64.b64encode(jpeg) + b" hex " + jpeg.hex().encode())
    assert {hit.split(" in ")[0] for hit in found_in(planted, wanted)} == set(wanted)
    with server.client() as client:
        assert len(tiles_of(post(client, jpeg, PreviewRequest(side=96)))) >= 12  # every style, small: quick
        assert client.get("/v1/styles").status_code == 200  # the server is alive and answered everything
    files = [p for p in server.data_dir.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".db") for p in files) and any(p.suffix == ".log" for p in files)
    assert found_in(server.data_dir, wanted) == []  # database, its -wal, the log, every file
    assert found_in(server.tmp, wanted) == []  # nor spooled to a temporary file


def test_the_kiosks_client_reads_the_tiles_as_they_come(server, catalogue):
    api = ServerApi(server.url, API_KEY)
    try:
        first = next(api.previews(DEMO_PHOTO, PreviewRequest(styles=catalogue[:2], side=64)))
    finally:
        api.close()
    assert first.style == catalogue[0]
