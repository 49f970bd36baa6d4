"""Post-processing shared by every method: colour preservation, strength and face blending."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def preserve_colors(stylized: Image.Image, photo: Image.Image) -> Image.Image:
    """Keep the painting's brushwork (luminance) but the portrait's own colours (chroma).

    This is the luminance-only transfer of Gatys et al., "Preserving Color in Neural Artistic Style
    Transfer" (2016), applied after stylisation.
    """
    y, _, _ = stylized.convert("YCbCr").split()
    _, cb, cr = _same_size(photo, stylized).convert("YCbCr").split()
    return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")


def blend(stylized: Image.Image, photo: Image.Image, strength: float | np.ndarray) -> Image.Image:
    """``strength`` of 1 is the painting, 0 the photo; an HxW array blends per pixel."""
    painted = np.asarray(stylized, dtype=np.float32)
    original = np.asarray(_same_size(photo, stylized), dtype=np.float32)
    alpha = np.asarray(strength, dtype=np.float32)
    if alpha.ndim == 2:
        alpha = alpha[..., None]
    mixed = alpha * painted + (1.0 - alpha) * original
    return Image.fromarray(np.clip(mixed + 0.5, 0, 255).astype(np.uint8))


def _same_size(img: Image.Image, like: Image.Image) -> Image.Image:
    return img if img.size == like.size else img.resize(like.size, Image.Resampling.LANCZOS)


# Skin in YCbCr (Chai & Ngan, 1999): a box that holds skin of every tone, and little else in a face's surroundings
SKIN_CB, SKIN_CR = (77, 127), (133, 173)


def skin_mask(photo: Image.Image, face: np.ndarray) -> np.ndarray:
    """HxW in 0..1: the soft face mask where the photo's pixel has a skin colour (eyes, lips, brows and hair
    off), feathered so no seam shows."""
    _, cb, cr = (np.asarray(c, dtype=np.float32) for c in photo.convert("YCbCr").split())
    skin = ((cb >= SKIN_CB[0]) & (cb <= SKIN_CB[1]) & (cr >= SKIN_CR[0]) & (cr <= SKIN_CR[1])).astype(np.float32)
    face = np.asarray(Image.fromarray((face * 255).astype(np.uint8)).resize(photo.size), dtype=np.float32) / 255
    sigma = max(1.0, max(photo.size) / 256)
    soft = np.asarray(
        Image.fromarray((skin * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32
    )
    return np.clip(face * soft / 255, 0.0, 1.0)


def preserve_skin_colors(
    stylized: Image.Image, photo: Image.Image, face: np.ndarray, share: float = 1.0
) -> Image.Image:
    """The painting's brushwork everywhere, and on the face's skin ``share`` of the photo's own colours (chroma
    only): a painted face that keeps a living skin tone, in a painting whose colours are left alone elsewhere."""
    photo = _same_size(photo, stylized)
    alpha = share * skin_mask(photo, face)
    y, cb, cr = (np.asarray(c, dtype=np.float32) for c in stylized.convert("YCbCr").split())
    _, pcb, pcr = (np.asarray(c, dtype=np.float32) for c in photo.convert("YCbCr").split())
    chroma = [alpha * p + (1 - alpha) * s for p, s in ((pcb, cb), (pcr, cr))]
    planes = [Image.fromarray(np.clip(c + 0.5, 0, 255).astype(np.uint8)) for c in (y, *chroma)]
    return Image.merge("YCbCr", planes).convert("RGB")


def even_skin(painted: Image.Image, photo: Image.Image, face: np.ndarray, face_width: float, share: float):
    """The painting's colour on the skin smoothed at the scale of blotches (1/25 of the face's width): instance
    normalisation stretches the faint variations of flat skin into streaky colour mottling. Only chroma, only on
    the photo's skin (eyes, lips and brows keep their colour), and only ``share`` of it: the brushwork, which
    lives in the luminance, stays."""
    rgb = np.asarray(painted, dtype=np.float32)
    alpha = share * skin_mask(_same_size(photo, painted), face)
    sigma = max(1.0, face_width / 25)
    chroma = rgb @ CHROMA.T  # ITU-R BT.601 Cb, Cr (no offset: only their changes matter)
    d_cb, d_cr = (alpha * (_gaussian(c, sigma) - c) for c in (chroma[..., 0], chroma[..., 1]))
    return _shifted(painted, d_cb[..., None] * FROM_CB + d_cr[..., None] * FROM_CR)


# BT.601 (JPEG) chroma from RGB, and what a change of Cb or Cr is in RGB (luma unchanged)
CHROMA = np.array([[-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float32)
FROM_CB = np.array([0.0, -0.344136, 1.772], dtype=np.float32)
FROM_CR = np.array([1.402, -0.714136, 0.0], dtype=np.float32)


def _shifted(img: Image.Image, delta: np.ndarray) -> Image.Image:
    """``img`` plus ``delta`` (RGB units), exact where ``delta`` is 0 (no round trip through another space)."""
    shifted = np.asarray(img, dtype=np.float32) + delta
    return Image.fromarray(np.clip(shifted + 0.5, 0, 255).astype(np.uint8))


def _gaussian(channel: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(channel, (0, 0), sigmaX=sigma)
