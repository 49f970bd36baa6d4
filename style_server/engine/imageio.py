"""Reading and writing images safely: size caps, EXIF orientation, truncation, atomic writes."""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

DEFAULT_MAX_PIXELS = 40_000_000  # a 40 MP photo is already more than any kiosk camera produces
MIN_SIDE = 16


def load_image(source: str | os.PathLike[str] | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode an image file (or its bytes) into an upright RGB picture, refusing anything unsafe."""
    name, raw = _read_source(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw))
            _check_pixels(name, img.size, max_pixels)
            img.load()  # decoding happens here; a truncated file fails here, not later
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{name}: image is too large to process safely ({exc})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file (expected JPEG, PNG or WebP)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: image is damaged or truncated ({exc})") from None
    img = ImageOps.exif_transpose(img)
    if min(img.size) < MIN_SIDE:
        raise ImageError(f"{name}: image is too small ({img.width}x{img.height}); need {MIN_SIDE}px per side")
    return _to_rgb(img)


def _read_source(source: str | os.PathLike[str] | bytes) -> tuple[str, bytes]:
    if isinstance(source, bytes):
        name, raw = "upload", source
    else:
        path = Path(source)
        name = str(path)
        if not path.is_file():
            raise ImageError(f"{name}: file not found")
        raw = path.read_bytes()
    if not raw:
        raise ImageError(f"{name}: file is empty (0 bytes)")
    return name, raw


def _check_pixels(name: str, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: image is too large: {width}x{height} = {width * height / 1e6:.1f} MP; "
            f"the limit is {max_pixels / 1e6:.1f} MP"
        )


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "P", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def fit_longest_side(img: Image.Image, size: int) -> Image.Image:
    """Scale so the longer side is ``size`` pixels (up or down), keeping the aspect ratio."""
    scale = size / max(img.size)
    new = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img if new == img.size else img.resize(new, Image.Resampling.LANCZOS)


def save_image_atomic(img: Image.Image, path: str | os.PathLike[str], quality: int = 92) -> Path:
    """Write an image so that readers never see a half-written file, even if we crash midway."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}.get(target.suffix.lower())
    if fmt is None:
        raise ImageError(f"{target}: unsupported output type; use .png, .jpg or .webp")
    write_atomic(target, lambda f: img.save(f, fmt, quality=quality))
    return target


def write_atomic(target: Path, write) -> None:
    """Run ``write(file)`` on a temporary file beside ``target`` and rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
