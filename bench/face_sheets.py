"""Contact sheets of the painted face: per portrait, one row per offered Instant style,
photo | Instant before (the default face care every style had before cards carried their own) | Instant now (the
card's face care) | masterpiece (paintings only; palettes have none). Each cell is the head, cut around the face the
engine finds, from the picture as the server paints it (``bench_quality.paint``: the server's sizes and defaults).

Only the portraits marked *publishable* in ``PORTRAITS.md`` go to ``docs/images/`` (the default); ``--all --out DIR``
makes sheets of every portrait for a folder outside the repository.

Run: python bench/face_sheets.py [--out docs/images] [--all] [--no-masterpiece]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench_quality import PALETTES, PaintPath, Variant, paint
from PIL import Image, ImageDraw
from portrait_set import PUBLISHABLE, available

from style_server.config import engine_from_settings, get_settings
from style_server.engine.face import FaceCare, detect_faces
from style_server.engine.imageio import fit_longest_side
from style_server.engine.runtime import Engine
from style_server.service.runner import painted_side

CELL = 320  # px, one head
LABEL = 28  # px, the column titles
COLUMNS = ("photo", "Instant before", "Instant now", "masterpiece")
BEFORE = {"face_care": FaceCare()}  # the recipe every style had before cards carried their own


def head(picture: Image.Image, box: tuple[int, int, int, int], grid: tuple[int, int]) -> Image.Image:
    """The square around the face (two face widths), from a picture brought to the photo's grid."""
    picture = picture.convert("RGB").resize(grid, Image.Resampling.LANCZOS) if picture.size != grid else picture
    x, y, w, h = box
    side = 2 * w
    left, top = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
    return picture.crop((left, top, left + side, top + side)).resize((CELL, CELL), Image.Resampling.LANCZOS)


def rows(engine: Engine, photo: Image.Image, masterpiece: bool) -> list[tuple[str, list[Image.Image | None]]]:
    settings = get_settings()
    grid = fit_longest_side(photo, painted_side(settings, "fast", None, max(photo.size)))
    faces = detect_faces(grid)
    if not faces:
        return []
    box = faces[0]
    out = []
    for card in engine.catalogue.cards:
        if card.kind == "multistyle" and card.id not in PALETTES:
            continue
        instant = PaintPath("Instant", card.id, "fast")
        before, _ = paint(engine, settings, Variant("before", fast=BEFORE), instant, photo)
        now, _ = paint(engine, settings, Variant("now"), instant, photo)
        cells = [head(grid, box, grid.size), head(before, box, grid.size), head(now, box, grid.size), None]
        if masterpiece and card.style_image:
            gatys, _ = paint(engine, settings, Variant("now"), PaintPath("Masterpiece", card.id, "gatys"), photo)
            cells[3] = head(gatys, box, grid.size)
        out.append((card.name, cells))
        print(f"  {card.id}", flush=True)
    return out


def sheet(title: str, table: list[tuple[str, list[Image.Image | None]]]) -> Image.Image:
    image = Image.new("RGB", (CELL * len(COLUMNS), LABEL + (CELL + LABEL) * len(table)), "white")
    draw = ImageDraw.Draw(image)
    draw.text((6, 6), title, fill="black")
    for r, (style, cells) in enumerate(table):
        top = LABEL + r * (CELL + LABEL)
        for c, cell in enumerate(cells):
            if cell is None:
                draw.text((c * CELL + 6, top + LABEL + CELL // 2), "(no masterpiece for a palette)", fill="gray")
                continue
            draw.text((c * CELL + 6, top + 6), f"{style}: {COLUMNS[c]}" if c else style, fill="black")
            image.paste(cell, (c * CELL, top + LABEL))
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "images")
    parser.add_argument("--all", action="store_true", help="every portrait, not only the publishable ones")
    parser.add_argument("--no-masterpiece", action="store_true")
    args = parser.parse_args()
    engine = engine_from_settings(get_settings())
    args.out.mkdir(parents=True, exist_ok=True)
    for portrait, photo in available():
        if not args.all and portrait.key not in PUBLISHABLE:
            continue
        print(portrait.key, flush=True)
        table = rows(engine, photo, not args.no_masterpiece)
        if not table:
            print(f"{portrait.key}: the engine finds no face, no sheet")
            continue
        path = args.out / f"face-sheet-{portrait.key}.jpg"
        sheet(f"{portrait.person} ({portrait.key}): the painted face before and after", table).save(path, quality=88)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
