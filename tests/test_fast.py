"""The fast path: catalogue styles, own style images, blends, batches, strength and portrait care."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from style_server.engine.catalogue import Catalogue, parse_blend
from style_server.engine.errors import EngineError, InvalidParameter, UnknownStyle
from style_server.engine.fast import FastOptions
from tests.conftest import MODELS


def px(img):
    return np.asarray(img, dtype=np.float32)


def test_catalogue_lists_every_card_with_attribution():
    catalogue = Catalogue.load(MODELS)
    ids = [c.id for c in catalogue]
    assert {"starry-night", "the-scream", "shipwreck", "woman-with-hat"} <= set(ids)
    assert sum(c.kind == "multistyle" for c in catalogue) == 26
    starry = catalogue.get("starry-night")
    assert starry.methods == ["fast", "gatys"] and "Vincent van Gogh" in starry.attribution
    assert catalogue.get("palette-01").methods == ["fast"]
    with pytest.raises(UnknownStyle, match=r"available styles: .*starry-night"):
        catalogue.get("mona-lisa")


def test_blend_syntax():
    assert parse_blend("a:0.7, b:0.3") == [("a", 0.7), ("b", 0.3)]
    assert parse_blend("a") == [("a", 1.0)]
    for bad in ("a:x", "a:-1", "a:0", ""):
        with pytest.raises(EngineError):
            parse_blend(bad)


@pytest.mark.parametrize(
    "style",
    ["palette-04", "starry-night", "palette-17:0.5,palette-04:0.5", "starry-night:0.6,the-scream:0.4"],
)
def test_catalogue_styles_change_the_photo_and_keep_its_size(engine, small_portrait, style):
    fast_style = engine.fast_style(engine.choose(style))
    [out] = engine.fast.stylize([small_portrait], [fast_style], FastOptions())
    assert out.size == small_portrait.size
    assert np.abs(px(out) - px(small_portrait)).mean() > 20


def test_any_painting_is_a_style_and_blends_interpolate(engine, small_portrait, starry_night):
    own = engine.fast_style(engine.choose(None, [(starry_night, 1.0)]))
    card = engine.fast_style(engine.choose("starry-night"))
    scream = engine.fast_style(engine.choose("the-scream"))
    half = engine.fast_style(engine.choose("starry-night:1,the-scream:1"))
    assert own.family == "arbitrary" and own.vector.shape == (100,)
    assert own.vector.allclose(card.vector, atol=0.05)  # the card's style.jpg is the same painting, resized
    assert half.vector.allclose((card.vector + scream.vector) / 2, atol=1e-5)


def test_batch_equals_one_by_one_and_odd_sizes_survive(engine, small_portrait, portrait):
    styles = [engine.fast_style(engine.choose(s)) for s in ("palette-02", "palette-09", "starry-night")]
    odd = portrait.resize((101, 77))
    photos = [small_portrait, small_portrait, odd]
    batched = engine.fast.stylize(photos, styles, FastOptions())
    singles = [engine.fast.stylize([p], [s], FastOptions())[0] for p, s in zip(photos, styles, strict=True)]
    for a, b in zip(batched, singles, strict=True):
        assert np.abs(px(a) - px(b)).max() <= 1
    assert batched[2].size == (101, 77)


def test_strength_colour_and_size_options(engine, small_portrait):
    style = [engine.fast_style(engine.choose("palette-04"))]
    run = lambda **kw: engine.fast.stylize([small_portrait], style, FastOptions(**kw))[0]  # noqa: E731
    full, none, half = run(), run(strength=0.0), run(strength=0.5)
    assert np.abs(px(none) - px(small_portrait)).max() <= 1
    np.testing.assert_allclose(px(half), (px(full) + px(small_portrait)) / 2, atol=1.0)
    kept = run(preserve_color=True)
    chroma = lambda img: px(img.convert("YCbCr"))[..., 1:]  # noqa: E731
    assert (
        np.abs(chroma(kept) - chroma(small_portrait)).mean()
        < 0.3 * np.abs(chroma(full) - chroma(small_portrait)).mean()
    )
    assert run(size=64).size == (64, 64)


def test_face_protection_keeps_the_faces_structure(engine, portrait):
    """On the face, protection keeps the photo's features (its luminance detail) and some of its pixels; away from
    it, nothing changes."""
    photo = portrait.resize((256, 256))
    style = [engine.fast_style(engine.choose("palette-04"))]
    face = (90, 35, 135, 80)
    plain = engine.fast.stylize([photo], style, FastOptions())[0]
    cared = engine.fast.stylize([photo], style, FastOptions(face_protect=True))[0]
    change = lambda img: np.abs(px(img.crop(face)) - px(photo.crop(face))).mean()  # noqa: E731
    assert change(cared) < 0.8 * change(plain)

    def features(img: Image.Image) -> np.ndarray:
        luma = px(img.convert("L").crop(face))
        return (cv2.GaussianBlur(luma, (0, 0), 0.5) - cv2.GaussianBlur(luma, (0, 0), 3)).ravel()

    same = lambda img: np.corrcoef(features(img), features(photo))[0, 1]  # noqa: E731
    assert same(cared) > 0.7 and same(cared) > same(plain) + 0.2
    corner = (0, 200, 40, 256)  # far from the face: untouched by the protection
    assert np.abs(px(cared.crop(corner)) - px(plain.crop(corner))).max() <= 1


def test_styles_of_different_networks_do_not_blend(engine):
    with pytest.raises(InvalidParameter, match="cannot be blended"):
        engine.fast_style(engine.choose("starry-night,palette-01"))
    with pytest.raises(InvalidParameter, match="choose a style"):
        engine.choose(None)
