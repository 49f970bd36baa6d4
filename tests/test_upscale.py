"""Sharp masterpieces: a masterpiece is painted small, then brought up to the Instant size by a
guided upsample with the photo's detail; never beyond the photo, and sharper than a plain resize."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from style_server.engine.fast import FastOptions
from style_server.engine.gatys import make_params
from style_server.engine.upscale import guided_upsample
from tests.harness import ServerProcess, wait_for_state
from tests.test_server import post_job


def high_frequency(img: Image.Image) -> float:
    """Mean squared Laplacian of the luminance: the energy of the finest detail."""
    a = np.asarray(img.convert("L"), dtype=np.float32)
    lap = 4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:]
    return float((lap**2).mean())


def plain_resize(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    return img.resize(size, Image.Resampling.BICUBIC)


@pytest.fixture(scope="module")
def small_painting(engine, portrait) -> Image.Image:
    """A real painting of the 512 px portrait at half its size (the arbitrary-style network: quick on a CPU)."""
    choice = engine.choose("starry-night", [])
    [painted] = engine.fast.stylize([portrait], [engine.fast_style(choice)], FastOptions(size=256))
    return painted


def test_guided_upsample_is_sharper_than_a_resize(small_painting, portrait):
    sharp = guided_upsample(small_painting, portrait, 512)
    assert sharp.size == (512, 512)
    resized = plain_resize(small_painting, sharp.size)
    print(f"high-frequency energy: guided {high_frequency(sharp):.0f}, resize {high_frequency(resized):.0f}")
    assert high_frequency(sharp) > 1.3 * high_frequency(resized)
    # still the painting: close to the resize on average, not the photo
    diff = np.abs(np.asarray(sharp, np.float32) - np.asarray(resized, np.float32)).mean()
    assert diff < 8


def test_never_beyond_the_photo_and_never_smaller(small_painting, portrait):
    photo = portrait.resize((400, 400))
    assert guided_upsample(small_painting, photo, 1024).size == (400, 400)  # capped by the photo
    assert guided_upsample(small_painting, photo, 128) is small_painting  # already large enough


def test_gatys_output_size(engine, portrait, starry_night):
    params = make_params(size=64, output_size=192, iterations=2, multiscale=False)
    result = engine.gatys().run(portrait.resize((256, 192)), [(starry_night, 1.0)], params)
    assert result.image.size == (192, 144)


def _photo(width: int, height: int, portrait: Image.Image) -> bytes:
    buf = io.BytesIO()
    portrait.resize((width, height), Image.Resampling.LANCZOS).save(buf, "JPEG", quality=95)
    return buf.getvalue()


@pytest.mark.slow
def test_a_masterpiece_comes_back_at_the_instant_size_and_sharp(tmp_path, cache_dir, inbox, portrait):
    # fast_size 256 and gatys_size 96 (the harness's): the masterpiece is painted at 96 px, a third of Instant's
    server = ServerProcess(tmp_path / "data", cache_dir, inbox.port).start()
    try:
        with server.client() as client:
            photo = _photo(320, 240, portrait)
            sizes = {}
            for method in ("fast", "gatys"):
                job = post_job(client, photo, style="starry-night", method=method).json()
                status = wait_for_state(client, job, {"done", "failed"}, timeout=300)
                assert status["state"] == "done", status
                result = client.get(status["result_url"], headers={"X-Job-Token": job["token"]})
                sizes[method] = Image.open(io.BytesIO(result.content)).convert("RGB")
    finally:
        server.stop()
    assert sizes["gatys"].size == sizes["fast"].size == (256, 192)
    masterpiece = sizes["gatys"]
    painted = masterpiece.resize((96, 72), Image.Resampling.BOX)  # what a plain resize starts from
    assert high_frequency(masterpiece) > 1.2 * high_frequency(plain_resize(painted, masterpiece.size))
