"""Guided upsampling: bring a painting made at a small size up to the photo's resolution, sharply.

A masterpiece is optimised at a few hundred pixels; a plain resize to the Instant size is soft. The photo has the
detail the painting lacks. Following the fast guided filter (He & Sun, "Fast Guided Filter", 2015), each small
window of the painting is modelled as a linear function of the photo's luminance (``painting ~ a * photo + b``);
the painting is resized as usual and the photo's fine detail is added where, and as strongly as, the painting
follows the photo (``a``). Where the brushwork ignores the photo (``a`` near 0), nothing of the photo comes back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image

from .tensors import to_image, to_tensor

LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def guided_upsample(
    painting: Image.Image, photo: Image.Image, side: int, radius: int = 2, eps: float = 1e-3
) -> Image.Image:
    """``painting`` resized to longest side ``side`` (at most the photo's own longest side), with the photo's
    detail where the painting follows it. A painting already that large is returned as it is."""
    side = min(side, max(photo.size))
    if side <= max(painting.size):
        return painting
    scale = side / max(painting.size)
    size_hi = (max(1, round(painting.height * scale)), max(1, round(painting.width * scale)))  # (h, w)
    device = torch.device("cpu")
    with torch.no_grad():
        p_lo = to_tensor(painting, device)
        guide_hi = _luma(to_tensor(photo.convert("RGB").resize(size_hi[::-1], Image.Resampling.LANCZOS), device))
        guide_lo = F.interpolate(guide_hi, size=p_lo.shape[-2:], mode="area")
        a = _coefficients(guide_lo, p_lo, radius, eps)
        up = dict(size=size_hi, mode="bicubic", align_corners=False)
        detail = guide_hi - F.interpolate(guide_lo, **up)  # what the small photo misses
        result = F.interpolate(p_lo, **up) + F.interpolate(a, size=size_hi, mode="bilinear") * detail
    return to_image(result.clamp(0, 1))


def _luma(rgb: torch.Tensor) -> torch.Tensor:
    return (rgb * LUMA.to(rgb.device)).sum(dim=1, keepdim=True)


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, [radius] * 4, mode="replicate"), 2 * radius + 1, stride=1)


def _coefficients(guide: torch.Tensor, target: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """The guided filter's smoothed slope ``a`` per channel: how strongly ``target`` follows ``guide`` locally."""
    mean_i, mean_p = _box(guide, radius), _box(target, radius)
    cov = _box(guide * target, radius) - mean_i * mean_p
    var = _box(guide * guide, radius) - mean_i * mean_i
    a = (cov / (var + eps)).clamp(-2.0, 2.0)
    return _box(a, radius)
