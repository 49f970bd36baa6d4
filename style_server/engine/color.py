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
