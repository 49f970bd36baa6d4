"""A print's page: the visitor's painting (in the event frame, as the server sends it) laid out on the paper,
alone or on a page frame, as a PDF in the kiosk's print folder for the moment ``lp`` needs it.

The print folder holds personal data (a visitor's portrait), so a page lives there only until CUPS has taken
the job; anything left by a crash is erased at the next start and, like the outbox, after the retention.
"""

from __future__ import annotations

import io
import logging
import os
import time
import uuid
from pathlib import Path

from PIL import Image, ImageOps

from .paper import LayoutName, Paper

DPI = 300  # photo printers' resolution; an A4 page is 2480 x 3508 px
ALPHA_WINDOW = 128  # frame pixels more transparent than this are the window the portrait shows through
log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # left, top, width, height in page pixels


def page_size(paper: Paper, landscape: bool, dpi: int = DPI) -> tuple[int, int]:
    short, long = (round(mm / 25.4 * dpi) for mm in (paper.width_mm, paper.height_mm))
    return (long, short) if landscape else (short, long)


def fit(picture: tuple[int, int], box: Box, cover: bool) -> Box:
    """Where ``picture`` goes in ``box``, centred, keeping its shape: inside it, or (``cover``) filling it."""
    left, top, width, height = box
    scale = (max if cover else min)(width / picture[0], height / picture[1])
    w, h = round(picture[0] * scale), round(picture[1] * scale)
    return left + (width - w) // 2, top + (height - h) // 2, w, h


def margin_box(size: tuple[int, int], margin_mm: float, dpi: int = DPI) -> Box:
    margin = round(margin_mm / 25.4 * dpi)
    return margin, margin, size[0] - 2 * margin, size[1] - 2 * margin


def frame_window(frame: Image.Image) -> Box | None:
    """The frame's transparent window (the bounding box of its see-through pixels); None: it has none."""
    see_through = frame.getchannel("A").point(lambda a: 255 if a < ALPHA_WINDOW else 0)
    box = see_through.getbbox()
    return None if box is None else (box[0], box[1], box[2] - box[0], box[3] - box[1])


def load_frame(path: str) -> Image.Image | None:
    """The event frame (a PNG with transparency), or None when there is none or it cannot be read."""
    if not path:
        return None
    try:
        with Image.open(path) as image:
            return image.convert("RGBA")
    except (OSError, ValueError) as exc:
        log.warning("print frame %s not used: %s", path, exc)
        return None


def compose_page(
    painting: bytes, paper: Paper, layout: LayoutName, frame_path: str = "", margin_mm: float = 5.0, dpi: int = DPI
) -> tuple[Image.Image, Box]:
    """The page and where the painting is on it. Landscape paintings get a landscape page (CUPS turns it to fit
    the paper). Without a usable frame the painting sits centred within the margin, on white."""
    with Image.open(io.BytesIO(painting)) as opened:
        picture = ImageOps.exif_transpose(opened).convert("RGB")
    size = page_size(paper, landscape=picture.width > picture.height, dpi=dpi)
    page = Image.new("RGB", size, "white")
    frame = load_frame(frame_path) if layout == "frame" else None
    window = None
    if frame is not None:
        frame = frame.resize(size, Image.Resampling.LANCZOS)
        window = frame_window(frame)
    if window:  # the painting fills the frame's window; the frame covers its edges
        box = fit(picture.size, window, cover=True)
    else:
        box = fit(picture.size, margin_box(size, margin_mm, dpi), cover=False)
    page.paste(picture.resize(box[2:], Image.Resampling.LANCZOS), box[:2])
    if frame is not None:
        page.paste(frame, (0, 0), frame)
    return page, window or box


def page_pdf(page: Image.Image, dpi: int = DPI) -> bytes:
    """One PDF page exactly the paper's size (its pixels at ``dpi``)."""
    out = io.BytesIO()
    page.save(out, "PDF", resolution=dpi, quality=95)
    return out.getvalue()


class PrintSpool:
    """The kiosk's print folder: a page waits here only while ``lp`` reads it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, document: bytes) -> Path:
        path = self.folder / f"{uuid.uuid4().hex}.pdf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # a visitor's portrait: the kiosk's only
        with os.fdopen(fd, "wb") as handle:
            handle.write(document)
        return path

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file()) if self.folder.is_dir() else []

    def purge(self, retention_hours: float, now: float | None = None) -> int:
        """Erase pages older than the retention (left by a crash between writing and ``lp``); 0: all of them."""
        limit = (time.time() if now is None else now) - retention_hours * 3600
        erased = 0
        for path in self.files():
            try:
                if retention_hours <= 0 or path.stat().st_mtime < limit:
                    path.unlink()
                    erased += 1
            except FileNotFoundError:  # lp's worker removed it meanwhile
                continue
        if erased:
            log.info("print folder: erased %d pages", erased)
        return erased
