"""Does a painting's own Johnson network beat the arbitrary network? Style loss at matched content loss.

Each network paints the same held-out portraits. A painting can always trade style for content by mixing
with the photo (the booth's strength slider does exactly this), so raw losses cannot be compared: the result
with the higher content loss is mixed back towards the photo until its content loss equals the other's, and
only then are the style losses compared. Both are measured by the same VGG, with the Gatys defaults' layers
(not the layers the Johnson network was trained on), against the same painting.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image

from style_server.engine.catalogue import FastComparison, PortraitFigures
from style_server.engine.imageio import fit_longest_side
from style_server.engine.losses import content_loss, gram, style_loss, style_targets
from style_server.engine.params import GatysParams
from style_server.engine.tensors import to_tensor
from style_server.engine.vgg import VGGFeatures

Painter = Callable[[Image.Image], Image.Image]
BISECTIONS = 10  # strength found to 1/1024: far below any difference that matters


@torch.no_grad()
def compare_fast_networks(
    vgg: VGGFeatures,
    painting: Image.Image,
    portraits: list[tuple[str, Image.Image]],
    johnson: Painter,
    arbitrary: Painter,
    size: int = 256,
) -> FastComparison:
    """Paint each portrait (longest side ``size``) with both networks and compare them at equal content loss."""
    layers = GatysParams()
    style_layers, content_layers = list(layers.style_layers), list(layers.content_layers)
    device = next(vgg.parameters()).device
    grams = style_targets(vgg, [(to_tensor(fit_longest_side(painting, size), device), 1.0)], style_layers)
    figures = []
    for name, portrait in portraits:
        photo = fit_longest_side(portrait, size)
        photo_t = to_tensor(photo, device)
        target = vgg(photo_t, content_layers)
        scorer = _Scorer(vgg, photo_t, target, grams, content_layers)
        painted = {
            "johnson": to_tensor(johnson(photo).resize(photo.size), device),
            "arbitrary": to_tensor(arbitrary(photo).resize(photo.size), device),
        }
        matched = min(scorer(image, 1.0)[0] for image in painted.values())
        strengths = {key: scorer.strength_for(image, matched) for key, image in painted.items()}
        styles = {key: scorer(painted[key], strengths[key])[1] for key in painted}
        figures.append(
            PortraitFigures(
                portrait=name,
                matched_content=round(matched, 5),
                johnson_strength=round(strengths["johnson"], 4),
                arbitrary_strength=round(strengths["arbitrary"], 4),
                johnson_style=round(styles["johnson"], 5),
                arbitrary_style=round(styles["arbitrary"], 5),
            )
        )
    measure = (
        f"portraits at {size} px, painting at {size} px; style {'+'.join(style_layers)}, "
        f"content {'+'.join(content_layers)} (relative losses, losses.py); the result with more content loss "
        "is mixed with the photo until both have the same"
    )
    return FastComparison(portraits=figures, measure=measure)


class _Scorer:
    """(content loss, style loss) of ``strength * painted + (1 - strength) * photo``."""

    def __init__(self, vgg, photo, target, grams, content_layers) -> None:
        self.vgg, self.photo, self.target, self.grams, self.content_layers = vgg, photo, target, grams, content_layers

    def __call__(self, painted: torch.Tensor, strength: float) -> tuple[float, float]:
        mixed = strength * painted + (1.0 - strength) * self.photo
        feats = self.vgg(mixed, [*self.grams, *self.content_layers])
        c = torch.stack([content_loss(feats[n], self.target[n]) for n in self.content_layers]).mean()
        s = style_loss({n: gram(feats[n]) for n in self.grams}, self.grams)
        return float(c), float(s)

    def strength_for(self, painted: torch.Tensor, content: float) -> float:
        """The strength at which the mix has ``content`` loss (content loss grows with strength)."""
        low, high = 0.0, 1.0
        if self(painted, high)[0] <= content:
            return high
        for _ in range(BISECTIONS):
            middle = (low + high) / 2
            low, high = (middle, high) if self(painted, middle)[0] < content else (low, middle)
        return (low + high) / 2


def verdict(comparison: FastComparison, steps: int) -> str:
    """The comparison in one sentence for the card."""
    j, a = comparison.johnson_style, comparison.arbitrary_style
    n = len(comparison.portraits)
    if comparison.johnson_wins:
        return (
            f"default fast network: after {steps} training steps its mean style loss at matched content loss on "
            f"{n} held-out portraits is {j:.4f}, below the arbitrary network's {a:.4f}"
        )
    return (
        f"not offered: after {steps} training steps its mean style loss at matched content loss on {n} held-out "
        f"portraits is {j:.4f}, not below the arbitrary network's {a:.4f}; the arbitrary network paints this painting"
    )
