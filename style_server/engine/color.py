"""Post-processing shared by every method: colour preservation, strength and face blending."""

from __future__ import annotations

import numpy as np
from PIL import Image


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
