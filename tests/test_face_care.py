"""Instant's face care, mechanics on small images: tilted heads are found, faces are repainted at their brush
scale, and each style card carries its own setting. The quality figures live in
bench/bench_quality.py and bench/RESULTS.md."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from style_server.engine.face import FaceCare, detect_faces, face_mask
from style_server.engine.fast import FastOptions, FastStylizer


def centre(box) -> np.ndarray:
    x, y, w, h = box
    return np.array([x + w / 2, y + h / 2])


def test_a_tilted_head_is_found_where_it_is(portrait):
    """The astronaut turned by 30 degrees: the upright cascade alone misses her; the face found is where hers went."""
    photo = portrait.resize((384, 384), Image.Resampling.LANCZOS)
    [upright, *_] = detect_faces(photo)
    turned = photo.rotate(30, resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))
    found = detect_faces(turned)
    assert found, "no face found in the tilted portrait"
    turn = cv2.getRotationMatrix2D((192, 192), 30, 1.0)  # PIL and OpenCV both turn counter-clockwise
    expected = turn @ np.append(centre(upright), 1.0)
    assert min(np.linalg.norm(centre(box) - expected) for box in found) <= 0.2 * upright[2]


class Recording(FastStylizer):
    """The real stylizer, noting the size of every picture it paints."""

    def __init__(self, cache_dir) -> None:
        super().__init__("cpu", cache_dir)
        self.painted_sizes: list[tuple[int, int]] = []

    def _forward(self, family, weights_file, photos, styles):
        self.painted_sizes += [p.size for p in photos]
        return super()._forward(family, weights_file, photos, styles)


@pytest.fixture(scope="module")
def stylizer(cache_dir) -> Recording:
    return Recording(cache_dir)


def test_a_small_face_is_painted_again_at_its_brush_scale(engine, stylizer, portrait):
    """A 256 px portrait whose face is about 50 px wide, with a brush twice that: the region around the face (2 face
    widths) is painted a second time enlarged 2x; off the face the picture is the one-pass painting."""
    photo = portrait.resize((256, 256), Image.Resampling.LANCZOS)
    [face] = detect_faces(photo)[:1]
    style = engine.fast_style(engine.choose("palette-04"))
    options = dict(face_protect=True)
    stylizer.painted_sizes.clear()
    [once] = stylizer.stylize([photo], [style], FastOptions(**options, face_care=FaceCare(keep=1.0)))
    assert stylizer.painted_sizes == [(256, 256)]
    stylizer.painted_sizes.clear()
    brush = 2 * face[2]
    [twice] = stylizer.stylize([photo], [style], FastOptions(**options, face_care=FaceCare(keep=1.0, brush=brush)))
    assert len(stylizer.painted_sizes) == 2
    region = min(256, 2 * face[2])
    assert all(abs(side - 2 * region) <= 4 for side in stylizer.painted_sizes[1])  # the region, enlarged 2x
    changed = np.abs(np.asarray(twice, np.float32) - np.asarray(once, np.float32)).max(axis=2) > 2
    mask = face_mask(photo, [face])
    assert changed[mask > 0.5].mean() > 0.5  # the face is the repainted one
    assert not changed[mask == 0].any()  # nothing else moved


def test_a_face_as_wide_as_the_brush_is_painted_once(engine, stylizer, portrait):
    photo = portrait.resize((256, 256), Image.Resampling.LANCZOS)
    [face] = detect_faces(photo)[:1]
    style = engine.fast_style(engine.choose("palette-04"))
    stylizer.painted_sizes.clear()
    stylizer.stylize([photo], [style], FastOptions(face_protect=True, face_care=FaceCare(brush=face[2])))
    assert stylizer.painted_sizes == [(256, 256)]


def test_each_style_card_carries_its_face_care(engine):
    """The card's setting reaches the resolved style; a blend follows its heaviest card; FastOptions can override."""
    catalogue = engine.catalogue
    own = {card.id: card.face_care for card in catalogue}
    cared = [cid for cid, care in own.items() if care != FaceCare()]
    assert cared, "no card carries a measured face care"
    card = catalogue.get(cared[0])
    assert engine.fast_style(engine.choose(card.id)).face_care == card.face_care
    other = next(c for c in catalogue if c.kind == card.kind and c.face_care == FaceCare())
    blend = engine.fast.resolve([(other, 1.0), (card, 3.0)])
    assert blend.face_care == card.face_care
    with pytest.raises(ValueError, match="keep"):
        FaceCare(keep=1.5)


def test_the_cards_carry_the_face_care_their_script_declares(engine):
    """``scripts/make_builtin_cards.py`` declares each built-in style's face care; the committed cards agree."""
    from scripts.make_builtin_cards import FACE_CARE

    assert {card.id: card.face_care for card in engine.catalogue} == {
        card.id: FACE_CARE.get(card.id, FaceCare()) for card in engine.catalogue
    }
