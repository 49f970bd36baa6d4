"""The gallery's previews: one photo painted in many styles at tile size, pass by pass.

The photo becomes a square tile around the largest face (its faces found once); then the palettes' conditional
instance norm network paints every palette asked for in one forward pass (the tile repeated, each copy with its
own style weights), the arbitrary network the paintings in small passes, and a painting's own Johnson network
its painting alone. The caller paints the passes one by one, in the order of their first style, and can send one
on while the next is painted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from PIL import Image

from .catalogue import Catalogue, StyleCard
from .face import Box, detect_faces
from .fast import FastOptions, FastStyle, FastStylizer

FACE_FRAMING = 3.0  # a tile is this many face widths wide: head and shoulders, the face large enough to know


Tiles = list[tuple[str, Image.Image]]  # the paintings of one forward pass: (style id, tile)


class GalleryPainter:
    """Paints the gallery's previews with the engine's fast networks. One pass at a time per process: two
    kiosks' previews take turns pass by pass instead of fighting over the same cores."""

    def __init__(self, stylizer: FastStylizer, catalogue: Catalogue, pass_size: int = 4) -> None:
        self.stylizer, self.catalogue, self.pass_size = stylizer, catalogue, pass_size
        self.turn = threading.Lock()

    def cards(self, style_ids: list[str]) -> list[StyleCard]:
        """The cards asked for (all of them for none); an unknown id raises ``UnknownStyle`` before any work."""
        return [self.catalogue.get(i) for i in dict.fromkeys(style_ids)] if style_ids else list(self.catalogue)

    def plan(self, photo: Image.Image, cards: list[StyleCard], side: int) -> GalleryPlan:
        """The tile of ``photo`` and the forward passes that paint it in each card's style. Blocking (the faces
        are found here): call it in a worker thread."""
        styles = [self.stylizer.resolve([(card, 1.0)]) for card in cards]
        tile, faces = square_tile(photo, side)
        return GalleryPlan(self, tile, faces, cards, styles, plan_passes(styles, self.pass_size))


@dataclass
class GalleryPlan:
    """One photo's previews: ``paint`` each of ``passes`` in turn (each is a forward pass, a second or less)."""

    painter: GalleryPainter
    tile: Image.Image
    faces: list[Box]
    cards: list[StyleCard]
    styles: list[FastStyle]
    passes: list[list[int]]  # indices into cards

    def paint(self, indices: list[int]) -> Tiles:
        """The tile in the styles of one pass, finished as an Instant painting is (face care on). Blocking."""
        options = FastOptions(face_protect=True)
        with self.painter.turn:
            painted = self.painter.stylizer.paint_styles(
                self.tile, self.faces, [self.styles[i] for i in indices], options
            )
        return [(self.cards[i].id, image) for i, image in zip(indices, painted, strict=True)]


def plan_passes(styles: list[FastStyle], pass_size: int) -> list[list[int]]:
    """Indices of ``styles`` grouped into forward passes: every palette in one (the network takes a style per
    batch item), the others per network in passes of ``pass_size``. Ordered by
    their first style, so the gallery's first tiles come first."""
    by_network: dict[tuple[str, str | None], list[int]] = {}
    for i, style in enumerate(styles):
        by_network.setdefault((style.family, style.weights_file), []).append(i)
    passes = []
    for (family, _), indices in by_network.items():
        size = len(indices) if family == "multistyle" else pass_size
        passes.extend(indices[start : start + size] for start in range(0, len(indices), size))
    return sorted(passes, key=lambda p: p[0])


def square_tile(photo: Image.Image, side: int) -> tuple[Image.Image, list[Box]]:
    """A ``side`` x ``side`` tile of ``photo`` framed on its largest face (the centre when none is found), and
    the faces inside it in the tile's pixels."""
    faces = detect_faces(photo)
    if faces:
        x, y, w, h = faces[0]
        crop, cx, cy = min(min(photo.size), round(FACE_FRAMING * w)), x + w / 2, y + h / 2
    else:
        crop, cx, cy = min(photo.size), photo.width / 2, photo.height / 2
    left = round(min(max(cx - crop / 2, 0), photo.width - crop))
    top = round(min(max(cy - crop / 2, 0), photo.height - crop))
    tile = photo.resize((side, side), Image.Resampling.LANCZOS, box=(left, top, left + crop, top + crop))
    scale = side / crop
    inside = []
    for x, y, w, h in faces:
        x0, y0 = max(x, left), max(y, top)
        x1, y1 = min(x + w, left + crop), min(y + h, top + crop)
        if (x1 - x0) * (y1 - y0) > 0.5 * w * h:  # mostly in the tile
            inside.append((round((x - left) * scale), round((y - top) * scale), round(w * scale), round(h * scale)))
    return tile, inside
