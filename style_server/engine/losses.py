"""Perceptual losses of Gatys et al. (2015) and Johnson et al. (2016).

Content and style losses are *relative* (squared error divided by the target's energy) so that the
weights alpha/beta mean the same thing whichever VGG weights, preprocessing or image size is in use.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .vgg import VGGFeatures

EPS = 1e-8


def gram(features: torch.Tensor, weight_map: torch.Tensor | None = None) -> torch.Tensor:
    """Channel correlations B x C x C, averaged over (optionally weighted) positions."""
    b, c, h, w = features.shape
    if weight_map is not None:
        weight_map = F.interpolate(weight_map, size=(h, w), mode="bilinear", align_corners=False)
        features = features * weight_map
        norm = weight_map.pow(2).sum(dim=(1, 2, 3)).clamp_min(EPS).view(b, 1, 1)
    else:
        norm = torch.full((b, 1, 1), float(h * w), device=features.device, dtype=features.dtype)
    return _SelfProduct.apply(features.reshape(b, c, h * w)) / norm


class _SelfProduct(torch.autograd.Function):
    """``F @ F^T`` with the gradient ``(dG + dG^T) @ F`` in one product: autograd would multiply twice (once per
    operand) and add, and these products are a tenth of an optimiser step at 512 px."""

    @staticmethod
    def forward(ctx, flat: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(flat)
        return flat @ flat.transpose(1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        return (grad + grad.transpose(1, 2)).to(flat.dtype) @ flat


def content_loss(features: torch.Tensor, target: torch.Tensor, weight_map: torch.Tensor | None = None) -> torch.Tensor:
    err = (features - target).pow(2)
    if weight_map is not None:
        err = err * F.interpolate(weight_map, size=err.shape[-2:], mode="bilinear", align_corners=False)
    return err.mean() / (target.pow(2).mean() + EPS)


def style_loss(grams: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    losses = [
        (grams[name] - target).pow(2).sum(dim=(1, 2)) / (target.pow(2).sum(dim=(1, 2)) + EPS)
        for name, target in targets.items()
    ]
    return torch.stack(losses).mean()


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference of neighbouring pixels."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).pow(2).mean()
    dx = (image[..., :, 1:] - image[..., :, :-1]).pow(2).mean()
    return dx + dy


@torch.no_grad()
def style_targets(
    vgg: VGGFeatures | Callable[[torch.Tensor, list[str]], dict[str, torch.Tensor]],
    styles: list[tuple[torch.Tensor, float]],
    layers: list[str],
) -> dict[str, torch.Tensor]:
    """Gram targets of one or several style images, blended with normalised weights. ``vgg``: the loss network,
    or a function that runs it (an optimiser's, in its precision)."""
    return blend_grams([({n: gram(f) for n, f in vgg(image, layers).items()}, weight) for image, weight in styles])


def blend_grams(parts: list[tuple[dict[str, torch.Tensor], float]]) -> dict[str, torch.Tensor]:
    """The weighted mean of several paintings' Gram matrices, layer by layer (weights normalised)."""
    total = sum(weight for _, weight in parts)
    blended: dict[str, torch.Tensor] = {}
    for grams, weight in parts:
        for name, g in grams.items():
            part = g * (weight / total)
            blended[name] = blended[name] + part if name in blended else part
    return blended
