"""The event frame: checked once when the operator sets it, then laid over every portrait that leaves the server
(mailed, downloaded, fetched by the kiosk for its screen and its prints), never over the gallery's previews or a
masterpiece's progress previews.

``apply_frame(image, frame)`` is the one place a frame meets a portrait; ``make_frame`` turns an upload into a
checked ``EventFrame`` (or a ``FrameRefused`` saying why), and ``EventFrame.stored``/``from_bytes`` is its
stored form (``frame_store``). Pure Pillow: no HTTP, no store.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from PIL import Image, ImageDraw, ImageFont, ImageOps

from shared.protocol import (
    FRAME_MAX_ASPECT,
    FRAME_MAX_BYTES,
    FRAME_MAX_SIDE,
    FRAME_MIN_SIDE,
    FRAME_MIN_WINDOW,
    LOGO_MIN_SIDE,
    FrameInfo,
    FrameSettings,
)

KEPT_SIDE = 2048  # a frame is kept at most this large: no portrait leaves the server larger (max_output_side)
SEE_THROUGH = 128  # alpha below this: the frame's window, where the portrait shows
BORDER = 0.03  # of the portrait's shorter side: the drawn frame's border
BAND = 0.14  # of the portrait's height: the band below it that carries the text and the logo
JPEG_QUALITY = 92  # as the painting itself is kept


class FrameRefused(ValueError):
    """An upload that cannot be a frame; ``status`` is the HTTP answer (413 too large, 415 not an image, 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class EventFrame:
    """A checked frame: its settings, and the frame PNG or the logo as RGBA (kept at most ``KEPT_SIDE``)."""

    settings: FrameSettings
    overlay: Image.Image | None
    logo: Image.Image | None
    updated: float

    @cached_property
    def stored(self) -> bytes:
        """The stored form: one JSON line (settings, when, the PNGs' lengths), then the PNGs (encoded once: a
        large frame takes a while)."""
        overlay, logo = _png(self.overlay), _png(self.logo)
        head = {"settings": self.settings.model_dump(), "updated": self.updated, "sizes": [len(overlay), len(logo)]}
        return json.dumps(head).encode() + b"\n" + overlay + logo

    @classmethod
    def from_bytes(cls, data: bytes) -> EventFrame:
        head_line, _, rest = data.partition(b"\n")
        head = json.loads(head_line)
        overlay_len, logo_len = head["sizes"]
        overlay, logo = rest[:overlay_len], rest[overlay_len : overlay_len + logo_len]
        frame = cls(FrameSettings(**head["settings"]), _rgba(overlay), _rgba(logo), head["updated"])
        frame.__dict__["stored"] = data  # as read: never encoded again
        return frame

    @cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.stored).hexdigest()

    def info(self) -> FrameInfo:
        return FrameInfo(
            settings=self.settings,
            overlay_size=self.overlay.size if self.overlay else None,
            logo_size=self.logo.size if self.logo else None,
            digest=self.digest,
            updated_at=datetime.fromtimestamp(self.updated, UTC),
        )


def _png(image: Image.Image | None) -> bytes:
    if image is None:
        return b""
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _rgba(png: bytes) -> Image.Image | None:
    if not png:
        return None
    with Image.open(io.BytesIO(png)) as image:
        return image.convert("RGBA")


# -- checking an upload -------------------------------------------------------------------------------------


def make_frame(settings: FrameSettings, overlay: bytes | None, logo: bytes | None, now: float) -> EventFrame:
    """A frame from what the operator sent, or ``FrameRefused`` with the reason (blocking: decodes images)."""
    if overlay and (settings.text or logo):
        raise FrameRefused(422, "give either a frame PNG, or a text line and a logo, not both")
    if not (overlay or settings.text or logo):
        raise FrameRefused(422, "the frame is empty: give a frame PNG, a text line or a logo (DELETE removes it)")
    frame_image = _checked_overlay(overlay) if overlay else None
    logo_image = _decoded(logo, "logo", LOGO_MIN_SIDE, ("PNG", "JPEG")) if logo else None
    return EventFrame(settings, frame_image, _kept(logo_image) if logo_image else None, now)


def _checked_overlay(data: bytes) -> Image.Image:
    image = _decoded(data, "frame", FRAME_MIN_SIDE, ("PNG",))
    width, height = image.size
    if max(width, height) / min(width, height) > FRAME_MAX_ASPECT:
        raise FrameRefused(
            422,
            f"the frame is {width}x{height} px, {max(width, height) / min(width, height):.1f}:1; a frame is at most "
            f"{FRAME_MAX_ASPECT:g}:1 (make it the shape of the portraits, e.g. 16:9 for a 1280x720 camera)",
        )
    if "A" not in image.getbands():
        raise FrameRefused(
            422,
            "the frame has no transparency (no alpha channel): it would hide the portrait; save it as a PNG "
            "whose middle is see-through",
        )
    image = image.convert("RGBA")
    alpha = image.getchannel("A").point(lambda a: 255 if a < SEE_THROUGH else 0)
    window = alpha.histogram()[255] / (width * height)
    if window < FRAME_MIN_WINDOW:
        raise FrameRefused(
            422,
            f"only {window:.0%} of the frame is see-through: it would hide the portrait "
            f"(at least {FRAME_MIN_WINDOW:.0%} must be transparent)",
        )
    return _kept(image)


def _decoded(data: bytes, what: str, min_side: int, kinds: tuple[str, ...]) -> Image.Image:
    """The picture, decoded only after its header passed the size checks (a decompression bomb never is)."""
    if len(data) > FRAME_MAX_BYTES:
        raise FrameRefused(413, f"the {what} file is larger than {FRAME_MAX_BYTES // 1_000_000} MB")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:  # its header declares a giant picture: never decoded
        raise FrameRefused(413, f"the {what} declares far more than {FRAME_MAX_SIDE} px a side") from None
    except (OSError, ValueError):
        raise FrameRefused(415, f"the {what} is not an image: send a {' or '.join(kinds)} file") from None
    if image.format not in kinds:
        raise FrameRefused(415, f"the {what} is a {image.format} image: send a {' or '.join(kinds)} file")
    width, height = image.size
    if max(width, height) > FRAME_MAX_SIDE:
        raise FrameRefused(413, f"the {what} is {width}x{height} px: at most {FRAME_MAX_SIDE} px a side")
    if min(width, height) < min_side:
        raise FrameRefused(422, f"the {what} is {width}x{height} px: too small, at least {min_side} px a side")
    try:
        image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise FrameRefused(422, f"the {what} file is damaged ({exc})") from None
    return image if image.mode in ("RGBA", "RGB") else image.convert("RGBA" if _has_alpha(image) else "RGB")


def _has_alpha(image: Image.Image) -> bool:
    return "A" in image.getbands() or "transparency" in image.info


def _kept(image: Image.Image) -> Image.Image:
    """RGBA, no larger than ``KEPT_SIDE`` (scaled with premultiplied alpha: no dark fringes at the window)."""
    image = image.convert("RGBA")
    if max(image.size) <= KEPT_SIDE:
        return image
    return _resized(image, _fit_long_side(image.size, KEPT_SIDE))


def _fit_long_side(size: tuple[int, int], side: int) -> tuple[int, int]:
    scale = side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image.convert("RGBa").resize(size, Image.Resampling.LANCZOS).convert("RGBA")


# -- laying it over a portrait ------------------------------------------------------------------------------


def apply_frame(image: Image.Image, frame: EventFrame | None) -> Image.Image:
    """The portrait in the event's frame (RGB); the portrait itself when there is none.

    A frame PNG is stretched to the portrait when their shapes agree (within 1 %); otherwise the result takes the
    frame's shape, as large as the portrait, and the portrait fills the frame's window (centred, edges cut). A
    text and logo frame adds a border and a band below the portrait."""
    picture = image.convert("RGB")
    if frame is None:
        return picture
    if frame.overlay is not None:
        return _in_overlay(picture, frame.overlay)
    return _in_band(picture, frame.settings, frame.logo)


def framed_jpeg(jpeg: bytes, frame: EventFrame | None) -> bytes:
    """A kept painting (JPEG, or any picture Pillow reads) as it leaves the server, as JPEG; the same bytes
    without a frame (blocking)."""
    if frame is None:
        return jpeg
    with Image.open(io.BytesIO(jpeg)) as painting:
        framed = apply_frame(painting, frame)
    out = io.BytesIO()
    framed.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _in_overlay(picture: Image.Image, overlay: Image.Image) -> Image.Image:
    (pw, ph), (fw, fh) = picture.size, overlay.size
    same_shape = abs(fw / fh - pw / ph) <= 0.01 * pw / ph
    size = picture.size if same_shape else _fit_long_side(overlay.size, max(pw, ph))
    frame = _overlay_at(overlay, size)
    left, top, right, bottom = window_of(frame) or (0, 0, *size)
    canvas = Image.new("RGB", size, "white")
    canvas.paste(ImageOps.fit(picture, (right - left, bottom - top), Image.Resampling.LANCZOS), (left, top))
    canvas.paste(frame, (0, 0), frame)
    return canvas


def window_of(frame: Image.Image) -> tuple[int, int, int, int] | None:
    """The bounding box (left, top, right, bottom) of the frame's see-through pixels; None: it has none."""
    return frame.getchannel("A").point(lambda a: 255 if a < SEE_THROUGH else 0).getbbox()


def _overlay_at(overlay: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The frame PNG at the portrait's size."""
    if overlay.size == size:
        return overlay
    return _resized(overlay, size)


def _in_band(picture: Image.Image, settings: FrameSettings, logo: Image.Image | None) -> Image.Image:
    width, height = picture.size
    border = max(2, round(BORDER * min(width, height)))
    band = max(24, round(BAND * height))
    canvas = Image.new("RGB", (width + 2 * border, height + border + band), settings.colour)
    canvas.paste(picture, (border, border))
    top, room = height + border, width  # the band: below the portrait, as wide as it
    if logo is not None:
        logo_size = _fit_inside(logo.size, (width // 3, round(band * 0.7)))
        placed = _resized(logo, logo_size)
        x = border + width - logo_size[0]
        canvas.paste(placed, (x, top + (band - logo_size[1]) // 2), placed)
        room = width - logo_size[0] - border
    if settings.text:
        _write(canvas, settings.text, settings.text_colour, (border, top, room, band))
    return canvas


def _fit_inside(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    scale = min(box[0] / size[0], box[1] / size[1])
    return max(1, math.floor(size[0] * scale)), max(1, math.floor(size[1] * scale))


def _write(canvas: Image.Image, text: str, colour: str, box: tuple[int, int, int, int]) -> None:
    """``text`` centred in ``box`` (left, top, width, height), as large as fits: half the band's height at most."""
    left, top, width, height = box
    draw = ImageDraw.Draw(canvas)
    size = max(8, round(height * 0.5))
    font = ImageFont.load_default(size=size)
    while size > 8 and draw.textlength(text, font=font) > width * 0.95:
        size = max(8, int(size * 0.9))
        font = ImageFont.load_default(size=size)
    draw.text((left + width / 2, top + height / 2), text, fill=colour, font=font, anchor="mm")
