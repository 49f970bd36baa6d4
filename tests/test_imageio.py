"""Bad files give one clear ImageError; good ones come back upright and RGB."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from style_server.engine.errors import ImageError
from style_server.engine.imageio import load_image, save_image_atomic


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims to be width x height: enough to lure a naive decoder into allocating it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16))


def jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"hello, I am a text file\n", "not an image"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "not an image"),
        (png_header(60000, 60000), "too large"),
        (png_header(40, 40), "damaged or truncated"),
    ],
)
def test_bad_bytes_are_refused_clearly(payload, message):
    with pytest.raises(ImageError, match=message):
        load_image(payload)


def test_truncated_jpeg_is_refused(small_portrait):
    data = jpeg_bytes(small_portrait)
    with pytest.raises(ImageError, match="damaged or truncated"):
        load_image(data[: len(data) // 2])


def test_missing_file_and_tiny_image(tmp_path):
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="too small"):
        load_image(jpeg_bytes(Image.new("RGB", (8, 8))))


def test_pixel_cap_is_configurable(small_portrait):
    with pytest.raises(ImageError, match="limit is"):
        load_image(jpeg_bytes(small_portrait), max_pixels=100 * 100)


def test_exif_orientation_is_honoured():
    wide = Image.new("RGB", (60, 30), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": a phone held upright
    img = load_image(jpeg_bytes(wide, exif=exif.tobytes()))
    assert img.size == (30, 60)


def test_transparency_becomes_white():
    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    buf = io.BytesIO()
    rgba.save(buf, "PNG")
    img = load_image(buf.getvalue())
    assert img.mode == "RGB" and img.getpixel((5, 5)) == (255, 255, 255)


def test_atomic_save_leaves_nothing_on_failure(tmp_path, small_portrait):
    target = tmp_path / "out.png"
    with pytest.raises(ImageError, match="unsupported output"):
        save_image_atomic(small_portrait, tmp_path / "out.gif")
    broken = Image.new("I;16", (10, 10))  # JPEG cannot hold 16-bit: the write fails midway
    with pytest.raises(OSError):
        save_image_atomic(broken, tmp_path / "out.jpg")
    assert list(tmp_path.iterdir()) == []
    save_image_atomic(small_portrait, target)
    assert Image.open(target).size == small_portrait.size
